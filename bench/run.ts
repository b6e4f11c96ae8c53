import { printExportBench, runExportBench, type ExportRun } from './export-bench.js';
import { printAuthBench, runAuthBench, type AuthBench } from './auth-bench.js';
import { join } from 'node:path';
import { printBackupBench, runBackupBench } from './backup-bench.js';
import { auditShares, runAuditBench, runHttpAuditBench, type AuditShare } from './audit-bench.js';
import { cpuProfileOptions } from './cpu-profile.js';
import { runGeneratorBench } from './generator-bench.js';
import { runHttpBench, warmup, type HttpRun } from './http-bench.js';
import type { ClientKind } from './http-client.js';
import { printMllpBench, runMllpBench } from './mllp-bench.js';
import { printHl7IngestBench, runHl7IngestBench } from './hl7-ingest-bench.js';
import { printCsvBench, runCsvBench } from './csv-bench.js';
import { preload } from './preload.js';
import { entriesPerTransaction } from './transaction-bench.js';
import { fmt, printTable, progress, versus } from './report.js';
import { runStoreBench } from './store-bench.js';
import { runValidatedWriteBench, runValidationBench } from './validation-bench.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * `npm run bench`: generator, store-level writes, then HTTP against the real gateway at each data
 * size. Tables go to stdout, progress to stderr, and the last stdout line is a JSON summary.
 */

const env = process.env;
/** A numeric setting: counts and seconds are at least 1 (a seed at least 0); anything else stops the run. */
function num(name: string, fallback: number, least = 1): number {
  const text = env[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < least)
    throw new Error(`${name}: '${text}' is not a number of at least ${least}`);
  return value;
}

/** "10k" → 10000, "1m" → 1000000; `name` is the setting it came from, for the error. */
export function parseSize(text: string, name = 'BENCH_SIZES'): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!m) throw new Error(`${name}: '${text}' is not a size such as 10k or 1m`);
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6 }[m[2]!.toLowerCase() as '' | 'k' | 'm']);
}

/** A size setting such as BENCH_CSV_ROWS=50k. */
const size = (name: string, fallback: string): number => parseSize(env[name] ?? fallback, name);

/** A list of client counts, each at least 1. */
function counts(name: string, fallback: string): number[] {
  const text = env[name] ?? fallback;
  return text.split(',').map((part) => {
    const value = Number(part);
    if (part.trim() === '' || !Number.isInteger(value) || value < 1)
      throw new Error(`${name}: '${text}' is not a list of client counts such as 8,32`);
    return value;
  });
}

function clientKind(): ClientKind {
  const text = env.BENCH_CLIENT ?? 'agent';
  if (text !== 'agent' && text !== 'fetch') throw new Error(`BENCH_CLIENT: '${text}' is not agent or fetch`);
  return text;
}

const seed = num('BENCH_SEED', 20240501, 0);
const sizes = (env.BENCH_SIZES ?? '10k,100k,1m')
  .split(',')
  .map((text) => parseSize(text))
  .sort((a, b) => a - b);
const client = clientKind();
const clients = num('BENCH_CLIENTS', 8);
const preloadIndex = env.BENCH_PRELOAD_INDEX !== '0';
/** Every other setting, read before the first section runs: a bad one stops the run at once, not hours in. */
const settings = {
  storeResources: num('BENCH_STORE_RESOURCES', 20_000),
  storeSeconds: num('BENCH_STORE_SECONDS', 4),
  validationSeconds: num('BENCH_VALIDATION_SECONDS', 3),
  authSeconds: num('BENCH_AUTH_SECONDS', 5),
  auditRounds: num('BENCH_AUDIT_ROUNDS', 3),
  auditResources: num('BENCH_AUDIT_RESOURCES', 40_000),
  auditSeconds: num('BENCH_AUDIT_SECONDS', 3),
  // the usual client count, and enough clients to keep the server busy while reads wait for the disk
  auditClients: counts('BENCH_AUDIT_CLIENTS', `${clients},32`),
  mllpSeconds: num('BENCH_MLLP_SECONDS', 4),
  hl7Seconds: num('BENCH_HL7_SECONDS', 4),
  creates: num('BENCH_CREATES', 20_000),
  reads: num('BENCH_READS', 50_000),
  phaseSeconds: num('BENCH_PHASE_SECONDS', 20),
  searches: num('BENCH_SEARCHES', 400),
  transactions: num('BENCH_TRANSACTIONS', 200),
  transactionClients: num('BENCH_TX_CLIENTS', 2),
  backupResources: size('BENCH_BACKUP_RESOURCES', '100k'),
  csvRows: size('BENCH_CSV_ROWS', '50k'),
  csvReadBytes: size('BENCH_CSV_READ_BYTES', '1000m'),
};
const label = (n: number): string => (n >= 1e6 ? `${n / 1e6}m` : n >= 1e3 ? `${n / 1e3}k` : String(n));

function generatorSection(): unknown {
  const g = runGeneratorBench(seed, 50_000);
  printTable(
    `1. Generator: ${fmt(g.resources)} resources, ${fmt(g.perSecond)}/s built and serialised; ` +
      `${fmt(g.validated)} validated by the server's validator, ${g.invalid} invalid`,
    ['type', 'count', 'share', 'avg JSON bytes'],
    g.types.map((t) => [t.type, t.count, `${fmt((100 * t.count) / g.resources, 1)} %`, t.avgBytes]),
  );
  if (g.invalid > 0) throw new Error('the generator made resources the server would refuse');
  return g;
}

async function storeSection(): Promise<unknown> {
  const runs = await runStoreBench(seed, settings.storeResources, settings.storeSeconds);
  printTable(
    '2. Store writes (SqliteStore, WAL, log synced per group commit, fresh file per mode, no HTTP, no validation)',
    ['mode', 'index', 'resources', 'seconds', 'resources/s', 'commits', 'write sets', 'sets/commit'],
    runs.map((r) => [
      r.mode,
      r.indexed ? 'yes' : 'no',
      r.resources,
      fmt(r.seconds, 2),
      r.perSecond,
      r.commits,
      r.items,
      fmt(r.items / r.commits, 1),
    ]),
  );
  return runs;
}

async function validationSection(): Promise<unknown> {
  const checks = await runValidationBench(seed, settings.validationSeconds);
  printTable(
    '4a. Validation on one core (dist/ build); target: full with a US Core profile ≥ 5,000/s',
    ['resources', 'level', 'checked', 'per second', 'with errors'],
    checks.map((c) => {
      const [what = '', level = ''] = c.name.split(', ');
      return [
        what,
        level,
        c.resources,
        c.name.includes('US Core') ? versus(c.perSecond, '≥ 5,000') : c.perSecond,
        c.errors,
      ];
    }),
  );
  const writes = await runValidatedWriteBench(seed, settings.storeResources, settings.storeSeconds);
  const off = writes.find((w) => w.level === 'off')?.perSecond ?? NaN;
  printTable(
    '4b. Creates through the service (validate, index, group commit), 64 in flight; target: full ≥ 60 % of off',
    ['level', 'resources', 'creates/s', 'share of off'],
    writes.map((w) => [w.level, w.resources, w.perSecond, `${fmt((100 * w.perSecond) / off)} %`]),
  );
  return { checks, writes };
}

async function authSection(): Promise<AuthBench> {
  const result = await runAuthBench(settings.authSeconds, clients);
  printAuthBench(result);
  return result;
}

async function auditSection(): Promise<unknown> {
  const rounds = settings.auditRounds;
  const runs = await runAuditBench(seed, settings.auditResources, settings.auditSeconds, rounds);
  const targets: Record<string, string> = { read: '≥ 70 %', create: '≥ 85 %' };
  /** The cells both tables share: interaction, each mode's figure, the share and its range. */
  const shareCells = (s: AuditShare): (string | number)[] => [
    s.phase,
    s.without,
    s.with,
    versus(100 * s.share, targets[s.phase] ?? ''),
    `${Math.round(100 * s.low)}–${Math.round(100 * s.high)} %`,
  ];
  printTable(
    `9. Audit trail cost: GET by id and create through the service (no HTTP), 64 in flight, audited vs not; median of ${rounds} paired rounds`,
    ['interaction', 'without audit /s', 'with audit /s', 'share (target)', 'rounds'],
    auditShares(runs).map(shareCells),
  );
  const http: { clients: number; runs: Awaited<ReturnType<typeof runHttpAuditBench>> }[] = [];
  for (const n of settings.auditClients) {
    const result = await runHttpAuditBench(seed, settings.auditResources, settings.auditSeconds, n, rounds);
    http.push({ clients: n, runs: result });
  }
  printTable(
    `9b. Audit trail cost over HTTP: FERRY_AUDIT=off vs on (fresh data each); median of ${rounds} paired rounds`,
    [
      'clients',
      'interaction',
      'without audit /s',
      'with audit /s',
      'share (target)',
      'rounds',
      'main thread µs/req',
      'capacity share',
    ],
    http.flatMap(({ clients: n, runs: r }) =>
      auditShares(r).map((s) => [
        n,
        ...shareCells(s),
        s.cpu ? `${Math.round(s.cpu.without)} → ${Math.round(s.cpu.with)}` : '-',
        s.cpu ? `${Math.round(100 * s.cpu.share)} %` : '-',
      ]),
    ),
  );
  console.log(
    'main thread µs/req: CPU of the server event loop per request, from /proc; capacity share: its ratio ' +
      'without/with, the throughput share once that thread is saturated, steadier than throughput on a shared machine',
  );
  return { service: runs, http };
}

async function mllpSection(): Promise<unknown> {
  const result = await runMllpBench(settings.mllpSeconds);
  printMllpBench(
    result,
    '2b. HL7 v2 protocol layer (no storage; end-to-end targets need the ingest pipeline)',
  );
  return result;
}

interface SizeRun extends HttpRun {
  size: string;
  preloadSeconds: number;
  preloadPerSecond: number;
}

const exportRuns: ExportRun[] = [];

async function httpSection(): Promise<SizeRun[]> {
  const dataDir = makeTempDir('ferry-bench-http-');
  const cpuProfDir = env.BENCH_CPU_PROF;
  const runs: SizeRun[] = [];
  try {
    let preloaded = 0;
    let created = 0;
    for (const size of sizes) {
      progress(`preload: ${fmt(preloaded)} → ${fmt(size)} resources${preloadIndex ? ' (indexed)' : ''}`);
      const t0 = performance.now();
      const rate = await preload(
        join(dataDir, 'ferry.db'),
        seed,
        { from: preloaded, to: size },
        {
          index: preloadIndex,
          onProgress: (done) => progress(`preload: ${fmt(preloaded + done)}`),
        },
      );
      const preloadSeconds = (performance.now() - t0) / 1000;
      preloaded = size;
      globalThis.gc?.();
      const run = await runHttpBench({
        seed,
        dataDir,
        stored: size,
        clients,
        client,
        creates: settings.creates,
        reads: settings.reads,
        seconds: settings.phaseSeconds,
        serverEnv: cpuProfDir ? { NODE_OPTIONS: cpuProfileOptions(cpuProfDir) } : {},
        searches: settings.searches,
        transactions: settings.transactions,
        transactionClients: settings.transactionClients,
      });
      runs.push({
        ...run,
        stored: size + created,
        size: label(size),
        preloadSeconds,
        preloadPerSecond: rate,
      });
      if (env.BENCH_EXPORT !== '0') {
        exportRuns.push(await runExportBench(join(dataDir, 'ferry.db'), label(size)));
      }
      created += run.creates.requests + warmup.creates + run.transactions.resources + entriesPerTransaction;
      if (run.exitCode !== 0) throw new Error(`the server exited with ${String(run.exitCode)} on SIGTERM`);
    }
  } finally {
    removeTempDir(dataDir);
  }
  return runs;
}

function printHttp(runs: SizeRun[]): void {
  printTable(
    '3a. Data sizes: store-level preload (big write sets) and the real gateway on that data; targets in brackets',
    [
      'size',
      'stored',
      'preload s',
      'preload/s',
      'startup ms',
      'peak MB after creates',
      'peak MB at end',
      'exit',
    ],
    runs.map((r) => [
      r.size,
      r.stored,
      fmt(r.preloadSeconds, 1),
      r.preloadPerSecond,
      versus(r.startupMs, '< 2,000'),
      r.peakMbAfterCreates,
      r.peakMb,
      String(r.exitCode),
    ]),
  );
  const via = client === 'agent' ? 'node:http keep-alive Agent' : 'fetch';
  printTable(
    `3b. HTTP load, ${clients} clients (${via}); POST /fhir/{type} and GET /fhir/{type}/{id}; targets in brackets`,
    ['size', 'creates', 'create/s', 'p50 ms', 'p99 ms', 'reads', 'read/s', 'p50 ms', 'p99 ms', 'failed'],
    runs.map((r) => [
      r.size,
      r.creates.requests,
      versus(r.creates.perSecond, '≥ 2,000'),
      fmt(r.creates.p50Ms, 2),
      fmt(r.creates.p99Ms, 2),
      r.reads.requests,
      versus(r.reads.perSecond, '≥ 3,000'),
      fmt(r.reads.p50Ms, 2),
      r.size === '1m' ? versus(r.reads.p99Ms, '< 5', 2) : fmt(r.reads.p99Ms, 2),
      r.creates.failed + r.reads.failed,
    ]),
  );
  console.log('peak MB: server VmHWM from /proc; each phase stops at its count or after BENCH_PHASE_SECONDS');
  printTable(
    `3d. Transactions: POST /fhir with ${entriesPerTransaction}-entry transaction Bundles (5 patients' records linked by urn:uuid); targets in brackets`,
    ['size', 'bundles', 'at once', 'bundles/s', 'resources/s', 'p50 ms', 'p99 ms', 'failed'],
    runs.map((r) => [
      r.size,
      r.transactions.requests,
      r.transactions.clients,
      fmt(r.transactions.perSecond, 1),
      versus(r.transactions.resourcesPerSecond, '≥ 5,000'),
      fmt(r.transactions.p50Ms, 1),
      versus(r.transactions.p99Ms, '< 100', 1),
      r.transactions.failed,
    ]),
  );
  for (const r of runs.filter((run) => run.searches.length > 0)) {
    printTable(
      `3c. Search over HTTP at ${r.size} stored, ${clients} clients, _count=20; targets: p99 < 20 ms (chain < 50 ms)`,
      ['shape', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'last page'],
      r.searches.map((q) => [q.name, q.requests, q.perSecond, fmt(q.p50, 2), fmt(q.p99, 2), q.lastPageSize]),
    );
  }
}

const started = Date.now();
progress(`bench: sizes ${sizes.map(label).join(', ')}, seed ${seed}`);
const generator = generatorSection();
const store = env.BENCH_STORE === '0' ? [] : await storeSection();
const mllp = env.BENCH_MLLP === '0' ? undefined : await mllpSection();
const auth = env.BENCH_AUTH === '0' ? undefined : await authSection();
const hl7Ingest = env.BENCH_HL7 === '0' ? undefined : await runHl7IngestBench(settings.hl7Seconds);
if (hl7Ingest) printHl7IngestBench(hl7Ingest, '2c. HL7 v2 ingest end to end');
globalThis.gc?.();
const http = env.BENCH_HTTP === '0' ? [] : await httpSection();
if (http.length > 0) printHttp(http);
printExportBench(exportRuns);
globalThis.gc?.();
const validation = env.BENCH_VALIDATION === '0' ? {} : await validationSection();
globalThis.gc?.();
const backupResources = settings.backupResources;
const backup = env.BENCH_BACKUP === '0' ? [] : await runBackupBench(seed, backupResources);
if (backup.length > 0) printBackupBench(backup, backupResources);
const audit = env.BENCH_AUDIT === '0' ? [] : await auditSection();
const csv = env.BENCH_CSV === '0' ? [] : await runCsvBench(settings.csvRows, settings.csvReadBytes);
if (csv.length > 0) printCsvBench(csv);
const summary = {
  node: process.version,
  seed,
  clients,
  client,
  generator,
  store,
  validation,
  audit,
  mllp,
  auth,
  hl7Ingest,
  http,
  export: exportRuns,
  backup,
  csv,
  seconds: (Date.now() - started) / 1000,
};
console.log(`\n${JSON.stringify(summary)}`);
