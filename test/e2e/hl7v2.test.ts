import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const sample = readFileSync(
  fileURLToPath(new URL('../fixtures/hl7v2/microsoft-fhir-converter/input/ORU-R01-01.hl7', import.meta.url)),
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

describe('HL7 v2 inbound before any mapping exists', function () {
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

  it('answers a readable message over MLLP with AR 200 and keeps it as a dead letter', async () => {
    const ack = await sendMllp(mllpPort, sample);
    const msa = segment(ack, 'MSA');
    assert.ok(['AR', 'CR'].includes(msa[1] ?? ''), msa.join('|'));
    assert.equal(msa[2], segment(sample, 'MSH')[9], 'MSA-2 names the original control id');
    assert.match(segment(ack, 'ERR').join('|'), /\|200\^/);
    assert.match(msa[3] ?? '', /kept as dead letter \S+/);
  });

  it('answers over HTTP with 200 and the ACK, and an unreadable message with AR', async () => {
    const res = await server.fhir('/../ingest/hl7v2', {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2; charset=utf-8' },
      body: sample,
    });
    assert.equal(res.status, 200);
    assert.ok(['AR', 'CR'].includes(segment(await res.text(), 'MSA')[1] ?? ''));
    const garbage = await sendMllp(mllpPort, 'MSH|^~\\\\&|broken');
    assert.equal(segment(garbage, 'MSA')[1], 'AR');
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
    assert.ok(show.stdout.includes(sample.split('\r')[1] ?? 'PID'), 'the whole message is kept');
  });
});
