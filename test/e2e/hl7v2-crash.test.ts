import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from 'fhir/r4.js';
import { startServer } from './harness.js';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const message = (control: string): string =>
  [
    `MSH|^~\\&|LABSYS|CITYLAB|FERRY|HOSP|20240305101500+0100||ORU^R01^ORU_R01|${control}|P|2.5.1`,
    `PID|1||CR-${control}^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||Doe^Jane||19800215|F`,
    `OBR|1|ORD-${control}^HOSP|FIL-${control}^CITYLAB|24323-8^Metabolic panel^LN|||20240305083000||||||||||||||20240305100000|||F`,
    'OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|3.5-5.0|N|||F',
  ].join('\r');

/** A sender that sends one message at a time and waits for its ACK, as MLLP senders do. */
async function sender(port: number, controls: string[], acked: string[]): Promise<void> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let received = '';
  let waiting: ((ack: string) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  socket.on('data', (chunk: string) => {
    received += chunk;
    const end = received.indexOf('\x1c\r');
    if (end >= 0) {
      const ack = received.slice(1, end);
      received = received.slice(end + 2);
      waiting?.(ack);
    }
  });
  socket.on('error', (error) => failed?.(error));
  socket.on('close', () => failed?.(new Error('closed')));
  try {
    for (const control of controls) {
      const ack = await new Promise<string>((resolve, reject) => {
        waiting = resolve;
        failed = reject;
        socket.write(`\x0b${message(control)}\x1c\r`);
      });
      if (/\rMSA\|AA\|/.test(ack)) acked.push(control);
    }
  } catch {
    // the gateway is gone
  } finally {
    socket.destroy();
  }
}

describe('HL7 v2 over MLLP survives kill -9', function () {
  this.timeout(120_000);
  it('stores every message that got AA exactly once, and a resend after the restart adds none twice', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-hl7-crash-'));
    const port = await freePort();
    const env = { FERRY_MLLP_PORT: String(port) };
    const plan = Array.from({ length: 4 }, (_, s) => Array.from({ length: 150 }, (_, i) => `S${s}-${i}`));
    try {
      let server = await startServer(env, { keepDataDir: dataDir });
      const acked: string[] = [];
      const senders = plan.map((controls) => sender(port, controls, acked));
      await new Promise((resolve) => setTimeout(resolve, 2000));
      server.process.kill('SIGKILL');
      await Promise.all(senders);
      await server.stop();
      const total = plan.flat().length;
      assert.ok(
        acked.length > 10 && acked.length < total,
        `killed mid-stream: ${acked.length} of ${total} acknowledged`,
      );

      server = await startServer(env, { keepDataDir: dataDir });
      const count = async (query: string): Promise<number> =>
        ((await (await server.fhir(`/${query}`)).json()) as Bundle).total ?? -1;
      for (const control of acked)
        assert.equal(
          await count(`Patient?identifier=CR-${control}&_summary=count`),
          1,
          `the patient of ${control}, acknowledged AA before the kill`,
        );
      // the senders send everything again (what got no ACK, and what did)
      const again: string[] = [];
      await Promise.all(plan.map((controls) => sender(port, controls, again)));
      assert.equal(again.length, total, 'every message answered AA');
      assert.equal(await count('Patient?_summary=count'), total, 'one patient per message, none twice');
      assert.equal(await count('DiagnosticReport?_summary=count'), total);
      await server.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
