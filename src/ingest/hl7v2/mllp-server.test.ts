import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, describe, it } from 'mocha';
import { silentLogger } from '../../log.js';
import { rejectWith } from './ack.js';
import type { Hl7Handler } from './inbound.js';
import { encodeFrame, MllpDecoder } from './mllp-framer.js';
import { startMllpListener, type MllpListener, type MllpOptions } from './mllp-server.js';

const message = (id: string, type = 'ORU^R01^ORU_R01'): string =>
  `MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501120000||${type}|${id}|P|2.5.1\rPID|1||123\rOBX|1|NM|1^A^L||5|mg\r`;

const accepting: Hl7Handler = (input) =>
  Promise.resolve(input.parsed.ok ? { code: 'AA' } : rejectWith(input.parsed.error));

interface Client {
  socket: Socket;
  /** Resolves with the next `n` ACK frames as [MSA-1, MSA-2] pairs plus the full text. */
  acks(n: number): Promise<{ code: string; controlId: string; text: string }[]>;
  closed: Promise<void>;
}

function client(port: number, tls?: { ca: Buffer }): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', ca: tls.ca, servername: 'localhost' })
      : netConnect({ port, host: '127.0.0.1' });
    const decoder = new MllpDecoder(1 << 20);
    const received: string[] = [];
    let waiter: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      for (const e of decoder.push(chunk)) if (e.type === 'frame') received.push(e.payload.toString('utf8'));
      waiter?.();
    });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    const acks = async (n: number): Promise<{ code: string; controlId: string; text: string }[]> => {
      while (received.length < n) {
        await new Promise<void>((done, fail) => {
          waiter = done;
          void closed.then(() => fail(new Error(`closed after ${received.length} of ${n} ACKs`)));
        });
      }
      return received.splice(0, n).map((text) => {
        const msa =
          text
            .split('\r')
            .find((s) => s.startsWith('MSA'))
            ?.split('|') ?? [];
        return { code: msa[1] ?? '', controlId: msa[2] ?? '', text };
      });
    };
    socket.once(tls ? 'secureConnect' : 'connect', () => resolve({ socket, acks, closed }));
    socket.once('error', reject);
  });
}

const listeners: MllpListener[] = [];
async function listen(
  handler: Hl7Handler = accepting,
  options: Partial<MllpOptions> = {},
): Promise<MllpListener> {
  const listener = await startMllpListener(
    { port: 0, host: '127.0.0.1', maxFrameBytes: 64 * 1024, idleTimeoutMs: 60_000, ...options },
    handler,
    silentLogger,
  );
  listeners.push(listener);
  return listener;
}

describe('MLLP listener', function () {
  this.timeout(30_000);
  after(async () => {
    await Promise.all(listeners.map((l) => l.close()));
  });

  it('acknowledges pipelined messages sent in one write, in order', async () => {
    const { port } = await listen();
    const c = await client(port);
    c.socket.write(Buffer.concat(['1', '2', '3'].map((id) => encodeFrame(message(id)))));
    const acks = await c.acks(3);
    assert.deepEqual(
      acks.map((a) => [a.code, a.controlId]),
      [
        ['AA', '1'],
        ['AA', '2'],
        ['AA', '3'],
      ],
    );
    assert.match(acks[0]!.text, /^MSH\|\^~\\&\|FERRY\|CLINIC\|LAB\|ACME\|/);
    c.socket.destroy();
  });

  it('acknowledges frames that arrive byte by byte', async () => {
    const { port } = await listen();
    const c = await client(port);
    for (const byte of Buffer.concat([encodeFrame(message('a')), encodeFrame(message('b'))])) {
      c.socket.write(Buffer.from([byte]));
    }
    assert.deepEqual(
      (await c.acks(2)).map((a) => a.controlId),
      ['a', 'b'],
    );
    c.socket.destroy();
  });

  it('keeps ACKs in order on 100 concurrent connections while handlers finish out of order', async () => {
    const slow: Hl7Handler = async (input) => {
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 5)));
      return input.parsed.ok ? { code: 'AA' } : rejectWith(input.parsed.error);
    };
    const { port } = await listen(slow);
    const clients = await Promise.all(Array.from({ length: 100 }, () => client(port)));
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const ids = Array.from({ length: 5 }, (_, j) => `c${i}m${j}`);
        c.socket.write(Buffer.concat(ids.map((id) => encodeFrame(message(id)))));
        const acks = await c.acks(5);
        c.socket.destroy();
        return acks.map((a) => a.controlId).join() === ids.join();
      }),
    );
    assert.ok(results.every(Boolean));
  });

  it('handles the messages of one connection one at a time, pausing reads while many wait', async () => {
    let running = 0;
    let most = 0;
    const handler: Hl7Handler = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running--;
      return { code: 'AA' };
    };
    const { port } = await listen(handler, { maxPending: 2 });
    const c = await client(port);
    const ids = Array.from({ length: 50 }, (_, i) => String(i));
    c.socket.write(Buffer.concat(ids.map((id) => encodeFrame(message(id)))));
    assert.deepEqual(
      (await c.acks(50)).map((a) => a.controlId),
      ids,
    );
    assert.equal(most, 1);
    c.socket.destroy();
  });

  it('answers an oversize frame AR and keeps serving the connection', async () => {
    const { port } = await listen(accepting, { maxFrameBytes: 1024 });
    const c = await client(port);
    c.socket.write(encodeFrame(message('big') + `NTE|1||${'x'.repeat(5000)}\r`));
    c.socket.write(encodeFrame(message('small')));
    const [big, small] = await c.acks(2);
    assert.equal(big!.code, 'AR');
    assert.equal(big!.controlId, 'big');
    assert.match(big!.text, /207\^Application internal error\^HL70357/);
    assert.deepEqual([small!.code, small!.controlId], ['AA', 'small']);
    c.socket.destroy();
  });

  it('survives random bytes and still acknowledges a later valid message', async () => {
    const listener = await listen(accepting, { maxFrameBytes: 4096 });
    const noisy = await client(listener.port);
    for (let i = 0; i < 200; i++) {
      noisy.socket.write(Buffer.from(Array.from({ length: 256 }, () => Math.floor(Math.random() * 256))));
    }
    // a garbage frame is answered AR too
    noisy.socket.write(Buffer.concat([Buffer.from([0x1c, 0x0d]), encodeFrame('\u0000garbage\u00ff')]));
    noisy.socket.write(encodeFrame(message('after-noise')));
    const fresh = await client(listener.port);
    fresh.socket.write(encodeFrame(message('fresh')));
    assert.equal((await fresh.acks(1))[0]!.code, 'AA');
    noisy.socket.destroy();
    fresh.socket.destroy();
  });

  it('answers a garbage frame with AR from a minimal MSH', async () => {
    const { port } = await listen();
    const c = await client(port);
    c.socket.write(encodeFrame('not hl7 at all'));
    const [ack] = await c.acks(1);
    assert.equal(ack!.code, 'AR');
    assert.match(ack!.text, /^MSH\|\^~\\&\|Ferry\|/);
    c.socket.destroy();
  });

  it('answers AR 207 when the handler fails', async () => {
    const { port } = await listen(() => Promise.reject(new Error('store down')));
    const c = await client(port);
    c.socket.write(encodeFrame(message('x')));
    const [ack] = await c.acks(1);
    assert.equal(ack!.code, 'AR');
    assert.match(ack!.text, /ERR\|\|\|207\^Application internal error\^HL70357\|E/);
    assert.doesNotMatch(ack!.text, /store down/);
    c.socket.destroy();
  });

  it('closes a connection that stays idle', async () => {
    const { port } = await listen(accepting, { idleTimeoutMs: 50 });
    const c = await client(port);
    await c.closed;
  });

  it('waits for pending handlers on close, acknowledges them, then closes', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let started: () => void = () => undefined;
    const handlerStarted = new Promise<void>((r) => (started = r));
    const listener = await startMllpListener(
      { port: 0, host: '127.0.0.1', maxFrameBytes: 4096, idleTimeoutMs: 60_000 },
      async () => {
        started();
        await gate;
        return { code: 'AA' };
      },
      silentLogger,
    );
    const c = await client(listener.port);
    c.socket.write(encodeFrame(message('pending')));
    await handlerStarted;
    let closed = false;
    const closing = listener.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false);
    await assert.rejects(client(listener.port));
    release();
    const [ack] = await c.acks(1);
    assert.deepEqual([ack!.code, ack!.controlId], ['AA', 'pending']);
    await closing;
    await c.closed;
  });

  it('serves MLLP over TLS', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-mllp-tls-'));
    try {
      // prettier-ignore
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const cert = readFileSync(join(dir, 'cert.pem'));
      const key = readFileSync(join(dir, 'key.pem'));
      const { port } = await listen(accepting, { tls: { cert, key } });
      const c = await client(port, { ca: cert });
      c.socket.write(encodeFrame(message('secure')));
      const [ack] = await c.acks(1);
      assert.deepEqual([ack!.code, ack!.controlId], ['AA', 'secure']);
      c.socket.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
