import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { rejectWith } from '../src/ingest/hl7v2/ack.js';
import { decodeHl7 } from '../src/ingest/hl7v2/charset.js';
import type { Hl7Handler } from '../src/ingest/hl7v2/inbound.js';
import { encodeFrame, MllpDecoder } from '../src/ingest/hl7v2/mllp-framer.js';
import { startMllpListener } from '../src/ingest/hl7v2/mllp-server.js';
import { parseMessage } from '../src/ingest/hl7v2/parse.js';
import { silentLogger } from '../src/log.js';
import { fmt, printTable, progress, quantile } from './report.js';

/**
 * The HL7 v2 protocol layer alone: parsing, and MLLP round trips (framing, parse, ACK, sockets)
 * against an in-process handler that answers AA at once, so no storage is in these figures.
 * Senders wait for each ACK before sending the next message, as MLLP senders do.
 * Run alone with `npx tsx bench/mllp-bench.ts`.
 */

/** An ORU^R01 with 5 OBX, as a lab would send it. */
export function oruMessage(id: number): string {
  const obx = Array.from(
    { length: 5 },
    (_, i) =>
      `OBX|${i + 1}|NM|${2093 + i}-3^Analyte ${i + 1}^LN||${100 + i}|mg/dL^mg/dL^UCUM|50-200|N|||F|||20240501113000`,
  );
  return [
    `MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501120000||ORU^R01^ORU_R01|BENCH${id}|P|2.5.1||||||UNICODE UTF-8`,
    'PID|1||123456^^^ACME^MR~987-65-4321^^^SSA^SS||Doe^Jane^Q||19800101|F|||1 Main St^^Springfield^IL^62701',
    'PV1|1|O|LAB^^^ACME',
    'ORC|RE|ORD1|FIL1',
    'OBR|1|ORD1|FIL1|24331-1^Lipid panel^LN|||20240501110000|||||||||1234^Smith^John',
    ...obx,
  ].join('\r');
}

export interface MllpBenchRun {
  connections: number;
  messages: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface MllpBenchResult {
  parsePerSecond: number;
  runs: MllpBenchRun[];
  paced: MllpBenchRun & { targetPerSecond: number };
}

function parseBench(seconds: number): number {
  const bytes = Buffer.from(oruMessage(1));
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) {
      const message = parseMessage(decodeHl7(bytes).text);
      if (message.segments('OBX').length !== 5) throw new Error('parse failed');
    }
    n += 200;
  }
  return n / seconds;
}

export interface Sender {
  send(payload: Buffer): Promise<number>;
  close(): void;
}

/** An MLLP sender that waits for each ACK; `send` resolves with the round trip in ms. */
export async function sender(port: number): Promise<Sender> {
  const socket: Socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const decoder = new MllpDecoder(1 << 20);
  const waiting: ((ms: number) => void)[] = [];
  const sentAt: number[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const event of decoder.push(chunk)) {
      if (event.type !== 'frame' || !event.payload.includes('MSA|AA')) throw new Error('bad ACK');
      const t0 = sentAt.shift() ?? 0;
      waiting.shift()?.(performance.now() - t0);
    }
  });
  return {
    send: (payload) =>
      new Promise<number>((resolve) => {
        waiting.push(resolve);
        sentAt.push(performance.now());
        socket.write(payload);
      }),
    close: () => socket.destroy(),
  };
}

export const summarise = (connections: number, latencies: number[], seconds: number): MllpBenchRun => {
  const sorted = Float64Array.from(latencies).sort();
  return {
    connections,
    messages: latencies.length,
    perSecond: Math.round(latencies.length / seconds),
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
  };
};

async function closedLoop(port: number, connections: number, seconds: number): Promise<MllpBenchRun> {
  const senders = await Promise.all(Array.from({ length: connections }, () => sender(port)));
  const latencies: number[] = [];
  let id = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    senders.map(async (s) => {
      while (performance.now() < end) latencies.push(await s.send(encodeFrame(oruMessage(++id))));
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  for (const s of senders) s.close();
  return summarise(connections, latencies, elapsed);
}

async function paced(port: number, perSecond: number, seconds: number): Promise<MllpBenchRun> {
  const s = await sender(port);
  const latencies: Promise<number>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < perSecond * seconds; i++) {
    const due = t0 + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    latencies.push(s.send(encodeFrame(oruMessage(i))));
  }
  const done = await Promise.all(latencies);
  const run = summarise(1, done, (performance.now() - t0) / 1000);
  s.close();
  return run;
}

/** Parse throughput, then MLLP round trips on 1 and 4 connections and paced at 200 messages/s. */
export async function runMllpBench(seconds = 4): Promise<MllpBenchResult> {
  progress('mllp: parse throughput');
  const parsePerSecond = parseBench(seconds / 2);
  const handler: Hl7Handler = (input) =>
    Promise.resolve(input.parsed.ok ? { code: 'AA' } : rejectWith(input.parsed.error));
  const listener = await startMllpListener(
    { port: 0, host: '127.0.0.1', maxFrameBytes: 1 << 20, idleTimeoutMs: 60_000 },
    handler,
    silentLogger,
  );
  try {
    await closedLoop(listener.port, 1, 0.5); // warm-up
    const runs: MllpBenchRun[] = [];
    for (const connections of [1, 4]) {
      progress(`mllp: ${connections} connection(s)`);
      runs.push(await closedLoop(listener.port, connections, seconds));
    }
    progress('mllp: paced at 200 messages/s');
    const pacedRun = await paced(listener.port, 200, Math.max(2, seconds - 1));
    return { parsePerSecond, runs, paced: { ...pacedRun, targetPerSecond: 200 } };
  } finally {
    await listener.close();
  }
}

export function printMllpBench(result: MllpBenchResult, title = 'HL7 v2 protocol layer'): void {
  printTable(
    `${title}: ORU^R01 with 5 OBX; parse alone ${fmt(result.parsePerSecond)} messages/s; MLLP round trips ` +
      '(frame, decode, parse, ACK, loopback sockets, client in the same process) against a handler answering AA at once',
    ['sender', 'messages', 'messages/s', 'ACK p50 ms', 'ACK p99 ms'],
    [
      ...result.runs.map((r) => [
        `${r.connections} connection(s), send-and-wait`,
        r.messages,
        r.perSecond,
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
      ]),
      [
        `1 connection, paced at ${result.paced.targetPerSecond}/s`,
        result.paced.messages,
        result.paced.perSecond,
        fmt(result.paced.p50Ms, 2),
        fmt(result.paced.p99Ms, 2),
      ],
    ],
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runMllpBench(Number(process.env.BENCH_MLLP_SECONDS ?? 4));
  printMllpBench(result);
  console.log(`\n${JSON.stringify(result)}`);
}
