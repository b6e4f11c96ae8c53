import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { startServer } from '../test/e2e/harness.js';
import { cpuProfileOptions } from './cpu-profile.js';
import { encodeFrame } from '../src/ingest/hl7v2/mllp-framer.js';
import { peakMemoryMb } from './http-bench.js';
import { sender, summarise, type MllpBenchRun } from './mllp-bench.js';
import { fmt, printTable, progress, versus } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * HL7 v2 ingest end to end: the real gateway (`ferry serve`, embedded store) receives ORU^R01
 * messages of 5 OBX over MLLP, maps each to a transaction (Patient, Encounter, ServiceRequest,
 * 5 Observations, DiagnosticReport, Binary, Provenance), commits it and only then answers AA.
 * Every message is a new order for one of 100 patients. Senders wait for each ACK, as MLLP
 * senders do. Run alone with `npx tsx bench/hl7-ingest-bench.ts` (after `npm run build`).
 */

let sequence = 0;

/** An ORU^R01 with 5 OBX: a new order (placer/filler number) for one of 100 patients. */
export function labResult(): string {
  const id = ++sequence;
  const patient = id % 100;
  const obx = Array.from(
    { length: 5 },
    (_, i) =>
      `OBX|${i + 1}|NM|${2093 + i}-3^Analyte ${i + 1}^LN||${100 + i}|mg/dL^mg/dL^UCUM|50-200|N|||F|||20240501113000`,
  );
  return [
    `MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501120000+0200||ORU^R01^ORU_R01|ING${id}|P|2.5.1`,
    `PID|1||P${patient}^^^ACME&1.2.3.4&ISO^MR||Doe^Jane^Q||19800101|F|||1 Main St^^Springfield^IL^62701`,
    `PV1|1|O|LAB^^^ACME|||||||||||||||||V${patient}^^^ACME&1.2.3.4&ISO^VN`,
    `ORC|RE|ORD${id}^ACME|FIL${id}^LAB`,
    `OBR|1|ORD${id}^ACME|FIL${id}^LAB|24331-1^Lipid panel^LN|||20240501110000|||||||||1234^Smith^John||||||20240501115900|||F`,
    ...obx,
  ].join('\r');
}

export interface IngestBenchResult {
  runs: MllpBenchRun[];
  paced: MllpBenchRun & { targetPerSecond: number };
  peakRssMb: number;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function closedLoop(port: number, connections: number, seconds: number): Promise<MllpBenchRun> {
  const senders = await Promise.all(Array.from({ length: connections }, () => sender(port)));
  const latencies: number[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    senders.map(async (s) => {
      while (performance.now() < end) latencies.push(await s.send(encodeFrame(labResult())));
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
    const wait = t0 + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    latencies.push(s.send(encodeFrame(labResult())));
  }
  const done = await Promise.all(latencies);
  s.close();
  return summarise(1, done, (performance.now() - t0) / 1000);
}

/** 1 and 4 connections send-and-wait, then 1 connection paced at 200 messages/s. */
export async function runHl7IngestBench(seconds = 4): Promise<IngestBenchResult> {
  const dataDir = makeTempDir('ferry-bench-hl7-');
  const mllpPort = await freePort();
  const server = await startServer(
    {
      FERRY_MLLP_PORT: String(mllpPort),
      ...(process.env.BENCH_CPU_PROF ? { NODE_OPTIONS: cpuProfileOptions(process.env.BENCH_CPU_PROF) } : {}),
    },
    { keepDataDir: dataDir },
  );
  try {
    progress('hl7 ingest: warm-up');
    await closedLoop(mllpPort, 1, 1);
    const runs: MllpBenchRun[] = [];
    for (const connections of [1, 4]) {
      progress(`hl7 ingest: ${connections} connection(s)`);
      runs.push(await closedLoop(mllpPort, connections, seconds));
    }
    progress('hl7 ingest: paced at 200 messages/s');
    const pacedRun = await paced(mllpPort, 200, Math.max(2, seconds - 1));
    const peakRssMb = peakMemoryMb(server.process.pid ?? 0);
    return { runs, paced: { ...pacedRun, targetPerSecond: 200 }, peakRssMb };
  } finally {
    await server.stop('SIGTERM');
    removeTempDir(dataDir);
  }
}

const targets: Record<number, string> = { 1: '≥ 300', 4: '≥ 500' };

export function printHl7IngestBench(result: IngestBenchResult, title = 'HL7 v2 ingest end to end'): void {
  printTable(
    `${title}: ORU^R01 with 5 OBX over MLLP into the embedded store (map, validate, one transaction of ` +
      `10 conditional writes, commit, then AA); server peak RSS ${fmt(result.peakRssMb)} MB`,
    ['sender', 'messages', 'messages/s', 'target', 'ACK p50 ms', 'ACK p99 ms'],
    [
      ...result.runs.map((r) => [
        `${r.connections} connection(s), send-and-wait`,
        r.messages,
        r.perSecond,
        versus(r.perSecond, targets[r.connections] ?? '-'),
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
      ]),
      [
        `1 connection, paced at ${result.paced.targetPerSecond}/s`,
        result.paced.messages,
        result.paced.perSecond,
        'p99 < 20 ms',
        fmt(result.paced.p50Ms, 2),
        fmt(result.paced.p99Ms, 2),
      ],
    ],
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runHl7IngestBench(Number(process.env.BENCH_HL7_SECONDS ?? 4));
  printHl7IngestBench(result);
  console.log(`\n${JSON.stringify(result)}`);
}
