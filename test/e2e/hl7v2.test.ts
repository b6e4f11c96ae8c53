import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const sample = readFileSync(
  fileURLToPath(new URL('../fixtures/hl7v2/microsoft-fhir-converter/input/LAB-ORU-1.hl7', import.meta.url)),
  'utf8',
)
  .replace(/^\uFEFF/, '')
  .replace(/\r?\n/g, '\r');

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Sends one framed message over MLLP and resolves with the ACK's text. */
function sendMllp(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\x1c\r');
      if (end >= 0) {
        socket.end();
        resolve(received.slice(1, end));
      }
    });
    socket.on('error', reject);
    socket.write(`\x0b${message}\x1c\r`);
  });
}

const segment = (ack: string, name: string): string[] =>
  (ack.split('\r').find((s) => s.startsWith(`${name}|`)) ?? '').split('|');

/** Sends framed messages on one MLLP connection and resolves with their ACKs, in order. */
function sendAll(port: number, messages: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const acks: string[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      for (let end = received.indexOf('\x1c\r'); end >= 0; end = received.indexOf('\x1c\r')) {
        acks.push(received.slice(1, end));
        received = received.slice(end + 2);
      }
      if (acks.length === messages.length) {
        socket.end();
        resolve(acks);
      }
    });
    socket.on('error', reject);
    socket.write(messages.map((m) => `\x0b${m}\x1c\r`).join(''));
  });
}

const oru = (control: string, value = '4.2'): string =>
  [
    `MSH|^~\\&|LABSYS|CITYLAB|FERRY|HOSP|20240305101500+0100||ORU^R01^ORU_R01|${control}|P|2.5.1`,
    'PID|1||E2E-1^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||Doe^Jane||19800215|F',
    'OBR|1|ORD1^HOSP|FIL1^CITYLAB|24323-8^Metabolic panel^LN|||20240305083000||||||||||||||20240305100000|||F',
    `OBX|1|NM|2823-3^Potassium^LN||${value}|mmol/L|3.5-5.0|N|||F`,
  ].join('\r');

describe('HL7 v2 inbound through the mappings', function () {
  this.timeout(60000);
  let server: RunningServer;
  let mllpPort: number;
  before(async () => {
    mllpPort = await freePort();
    server = await startServer({ FERRY_MLLP_PORT: String(mllpPort) });
  });
  after(async () => {
    await server.stop();
  });

  const count = async (type: string): Promise<number> => {
    const res = await server.fhir(`/${type}?_count=1000`);
    return ((await res.json()) as { entry?: unknown[] }).entry?.length ?? 0;
  };

  it('stores a FHIR-Converter ORU^R01 sample over MLLP and answers AA', async () => {
    const ack = await sendMllp(mllpPort, sample);
    const msa = segment(ack, 'MSA');
    assert.equal(msa[1], 'AA', ack);
    assert.equal(msa[2], segment(sample, 'MSH')[9], 'MSA-2 names the original control id');
    assert.ok((await count('Observation')) > 0);
    assert.ok((await count('Provenance')) > 0);
  });

  it('stores a replayed message once, over real MLLP connections', async () => {
    const before = await count('Observation');
    const first = await sendAll(mllpPort, [oru('R1'), oru('R1')]);
    const second = await sendAll(mllpPort, [oru('R1'), oru('R2')]);
    for (const ack of [...first, ...second]) assert.equal(segment(ack, 'MSA')[1], 'AA', ack);
    assert.equal(await count('Observation'), before + 1);
    const res = await server.fhir('/Observation?code=2823-3');
    const bundle = (await res.json()) as { entry: { resource: { meta: { versionId: string } } }[] };
    assert.equal(bundle.entry.length, 1);
    assert.equal(bundle.entry[0]?.resource.meta.versionId, '1', 'no new version either');
    assert.equal(await count('Provenance'), 3, 'one per distinct message');
  });

  it('answers AE with an ERR naming the field for a message that fails, over HTTP too', async () => {
    const res = await fetch(`${server.origin}/ingest/hl7v2`, {
      method: 'POST',
      headers: server.headers({ 'content-type': 'application/hl7-v2; charset=utf-8' }),
      body: oru('BAD1', 'high'),
    });
    assert.equal(res.status, 200);
    const ack = await res.text();
    assert.equal(segment(ack, 'MSA')[1], 'AE', ack);
    const err = segment(ack, 'ERR');
    assert.equal(err[2], 'OBX^4^5^1');
    assert.match(err[3] ?? '', /^102\^/);
    assert.match(segment(ack, 'MSA')[3] ?? '', /kept as dead letter \S+/);
  });

  it('answers AR for an unreadable message and an unsupported type', async () => {
    const garbage = await sendMllp(mllpPort, 'MSH|^~\\\\&|broken');
    assert.equal(segment(garbage, 'MSA')[1], 'AR');
    const dft = await sendMllp(mllpPort, oru('DFT1').replace('ORU^R01^ORU_R01', 'DFT^P03'));
    assert.equal(segment(dft, 'MSA')[1], 'AR');
    assert.match(segment(dft, 'ERR').join('|'), /\|200\^/);
  });

  it('records every message in the audit trail with how it was answered', async () => {
    const bundle = (await (await server.fhir('/AuditEvent?_count=1000')).json()) as {
      entry?: {
        resource: {
          outcome: string;
          outcomeDesc?: string;
          agent: { who?: { identifier?: { value?: string } }; network?: { address?: string } }[];
        };
      }[];
    };
    const ingest = (bundle.entry ?? [])
      .map((e) => e.resource)
      .filter((e) => (e.outcomeDesc ?? '').startsWith('HL7 v2 ingest'));
    assert.ok(
      ingest.some(
        (e) => e.outcome === '0' && /over mllp: ORU\^R01 .* answered AA$/.test(e.outcomeDesc ?? ''),
      ),
    );
    const overHttp = ingest.find(
      (e) => e.outcome === '4' && /over http: .* answered AE$/.test(e.outcomeDesc ?? ''),
    );
    assert.ok(overHttp, 'the HTTP message');
    // sent with a token: the client that sent it is on record, with its address
    assert.ok(overHttp.agent[0]?.who?.identifier?.value, 'the sending client');
    assert.ok(
      overHttp.agent.some((a) => a.network?.address),
      'its network address',
    );
    assert.ok(ingest.some((e) => /unreadable message answered AR$/.test(e.outcomeDesc ?? '')));
  });

  it('lists and shows the dead letters with ferry deadletters', () => {
    const env = { PATH: process.env.PATH ?? '', FERRY_DATA_DIR: server.dataDir };
    const list = spawnSync(process.execPath, [bin, 'deadletters', 'list'], { env, encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0] ?? '', /ORU\^R01/);
    const id = (lines[0] ?? '').split(/\s+/)[0] ?? '';
    const show = spawnSync(process.execPath, [bin, 'deadletters', 'show', id], { env, encoding: 'utf8' });
    assert.equal(show.status, 0, show.stderr);
    assert.ok(show.stdout.includes('PID|1||E2E-1'), 'the whole message is kept');
  });
});
