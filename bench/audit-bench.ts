import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from 'fhir/r4.js';
import { startServer } from '../test/e2e/harness.js';
import { generateResources } from './generate.js';
import { createClient } from './http-client.js';
import { progress, quantile } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * What the audit trail costs: reads (GET by id) and creates through the service, 64 in flight,
 * into a SQLite file, with every access audited (a read appends its AuditEvent through group
 * commit and waits for it; a create carries its event in its own write set) against the same
 * calls made with no audit trail in the service context. The service is measured without HTTP,
 * so the audit's share of the cost is larger here than a client sees.
 */

type CreateModule = typeof import('../src/service/create.js');
type ReadModule = typeof import('../src/service/read.js');
type StoreModule = typeof import('../src/store/sqlite/sqlite-store.js');
type LogModule = typeof import('../src/log.js');
type AuditModule = typeof import('../src/audit/access-audit.js');

const dist = (path: string): Promise<unknown> => import(new URL(`../dist/${path}`, import.meta.url).href);

export interface AuditRun {
  phase: 'read' | 'create';
  audited: boolean;
  /** Each round measures both modes back to back: its pair's ratio is one sample of the share. */
  round: number;
  requests: number;
  perSecond: number;
  /** CPU time of the server's event-loop thread per request, µs (over HTTP, on Linux). */
  mainThreadMicros?: number;
}

/** The modes in the order a round measures them: alternating, so drift in time favours neither. */
const modeOrder = (round: number): boolean[] => (round % 2 === 1 ? [false, true] : [true, false]);

const roundNumbers = (rounds: number): number[] => Array.from({ length: rounds }, (_, i) => i + 1);

/** Clock ticks per second of /proc's CPU times (USER_HZ). */
function ticksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/**
 * CPU time (µs) a process's main thread (a Node server's event loop) has used so far, from
 * Linux's /proc; undefined where there is none. The server handles requests on that one thread:
 * its CPU time per request bounds its throughput, whatever else shares the machine.
 */
function mainThreadMicros(pid: number | undefined, ticks: number): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    // after "pid (name) ": state is the first field; utime and stime are the 12th and 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const used = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(used) ? (used * 1e6) / ticks : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a measured phase and adds the server's main-thread CPU per request to what it returns. */
async function measured(
  pid: number | undefined,
  ticks: number,
  phase: () => Promise<number[]>,
): Promise<{ requests: number; perSecond: number; mainThreadMicros?: number }> {
  const before = mainThreadMicros(pid, ticks);
  const [requests = 0, perSecond = 0] = await phase();
  const after = mainThreadMicros(pid, ticks);
  return before === undefined || after === undefined || requests === 0
    ? { requests, perSecond }
    : { requests, perSecond, mainThreadMicros: (after - before) / requests };
}

const inFlight = 64;

async function drive(
  seconds: number,
  limit: number,
  call: (i: number) => Promise<unknown>,
): Promise<number[]> {
  let next = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (next < limit && performance.now() < deadline) {
      await call(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return [done, done / ((performance.now() - started) / 1000)];
}

/** Reads and creates, each without and with the audit trail, in `rounds` paired rounds. */
export async function runAuditBench(
  seed: number,
  count: number,
  seconds: number,
  rounds: number,
): Promise<AuditRun[]> {
  const { createResource } = (await dist('service/create.js')) as CreateModule;
  const { readResource } = (await dist('service/read.js')) as ReadModule;
  const { SqliteStore } = (await dist('store/sqlite/sqlite-store.js')) as StoreModule;
  const { silentLogger } = (await dist('log.js')) as LogModule;
  const { accessAudit } = (await dist('audit/access-audit.js')) as AuditModule;
  const resources = [...generateResources(seed, 0, count)].map(({ id: _id, ...r }) => r as Resource);
  const dir = makeTempDir('ferry-bench-audit-');
  const runs: AuditRun[] = [];
  try {
    const store = new SqliteStore(join(dir, 'audit.db'));
    const plain = {
      store,
      baseUrl: 'http://localhost/fhir',
      log: silentLogger,
      now: () => new Date(),
      validation: { level: 'off' as const, enforce: {}, strictProfiles: false },
    };
    const auditor = { store, source: { site: plain.baseUrl, name: 'bench' }, now: () => new Date() };
    const agent = { clientId: 'bench-client', address: '127.0.0.1' };
    const audited = { ...plain, audit: accessAudit(auditor, () => agent) };

    progress('audit: loading resources to read');
    const half = Math.floor(resources.length / 2);
    const stored: { type: string; id: string }[] = [];
    await drive(3600, half, async (i) => {
      const r = resources[i]!;
      const { version } = await createResource(plain, r.resourceType, r);
      stored.push({ type: version.type, id: version.id });
    });
    const fresh = resources.length - half; // the other half is created, again and again if need be
    let created = 0;
    for (const round of roundNumbers(rounds)) {
      for (const withAudit of modeOrder(round)) {
        progress(`audit: reads ${withAudit ? 'with' : 'without'} the audit trail (round ${round})`);
        const ctx = withAudit ? audited : plain;
        const [requests = 0, perSecond = 0] = await drive(seconds, Infinity, (i) => {
          const key = stored[(i * 7919) % stored.length]!;
          return readResource(ctx, key.type, key.id);
        });
        runs.push({ phase: 'read', audited: withAudit, round, requests, perSecond });
      }
      for (const withAudit of modeOrder(round)) {
        progress(`audit: creates ${withAudit ? 'with' : 'without'} the audit trail (round ${round})`);
        const ctx = withAudit ? audited : plain;
        const from = created;
        const [requests = 0, perSecond = 0] = await drive(seconds, Infinity, (i) => {
          const r = resources[half + ((from + i) % fresh)]!;
          return createResource(ctx, r.resourceType, r);
        });
        created += requests;
        runs.push({ phase: 'create', audited: withAudit, round, requests, perSecond });
      }
    }
    await store.close();
  } finally {
    removeTempDir(dir);
  }
  return runs;
}

export interface AuditShare {
  phase: string;
  /** Median throughput, /s, of each mode. */
  without: number;
  with: number;
  /** Median of the rounds' with/without ratios, and the lowest and highest round. */
  share: number;
  low: number;
  high: number;
  /**
   * The server's main-thread CPU per request, µs (median of each mode), and the share of
   * capacity it leaves: the median of the rounds' without/with ratios.
   */
  cpu?: { without: number; with: number; share: number };
}

const median = (values: number[]): number =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

/**
 * Per phase: the median throughput of each mode, and the audited share as the median of the
 * rounds' own ratios (each round measures both modes back to back, so a slow spell of the machine
 * lowers both figures of its pair rather than one share), with the lowest and highest round.
 */
export function auditShares(runs: AuditRun[]): AuditShare[] {
  return (['read', 'create'] as const).map((phase) => {
    const of = (audited: boolean): AuditRun[] =>
      runs.filter((r) => r.phase === phase && r.audited === audited);
    /** A figure of each mode (where measured), and the ratio `share` gives for each round's pair. */
    const paired = (
      figure: (r: AuditRun) => number | undefined,
      share: (on: number, off: number) => number,
    ) => {
      const values = (audited: boolean): number[] =>
        of(audited).flatMap((r) => {
          const value = figure(r);
          return value === undefined ? [] : [value];
        });
      const ratios = of(true).flatMap((on) => {
        const off = of(false).find((r) => r.round === on.round);
        const a = figure(on);
        const b = off && figure(off);
        return a && b ? [share(a, b)] : []; // a pair with a zero or missing figure has no ratio
      });
      return { without: median(values(false)), with: median(values(true)), ratios };
    };
    const throughput = paired(
      (r) => r.perSecond,
      (on, off) => on / off,
    );
    const cpu = paired(
      (r) => r.mainThreadMicros,
      (on, off) => off / on,
    );
    return {
      phase,
      without: throughput.without,
      with: throughput.with,
      share: median(throughput.ratios),
      low: Math.min(...throughput.ratios),
      high: Math.max(...throughput.ratios),
      ...(cpu.ratios.length > 0
        ? { cpu: { without: cpu.without, with: cpu.with, share: median(cpu.ratios) } }
        : {}),
    };
  });
}

/**
 * The same over HTTP against the real gateway: a fresh data directory per mode, the server
 * started with FERRY_AUDIT=off (which exists for this measurement only) and then on; creates of
 * the generated mix, then random GETs of what was created, `clients` requests in flight.
 */
export async function runHttpAuditBench(
  seed: number,
  count: number,
  seconds: number,
  clients: number,
  rounds: number,
): Promise<AuditRun[]> {
  const resources = [...generateResources(seed, 0, count)].map(({ id: _id, ...r }) => r as Resource);
  const runs: AuditRun[] = [];
  const ticks = ticksPerSecond();
  for (const round of roundNumbers(rounds)) {
    for (const mode of modeOrder(round).map((audited) => (audited ? 'on' : 'off'))) {
      const dir = makeTempDir('ferry-bench-audit-http-');
      const server = await startServer({ FERRY_AUDIT: mode }, { keepDataDir: dir });
      const client = createClient('agent', server.origin, clients, server.token);
      const pid = server.process.pid;
      try {
        progress(`audit over HTTP: FERRY_AUDIT=${mode}, creates then reads (round ${round})`);
        const created: string[] = [];
        const post = async (i: number): Promise<void> => {
          const r = resources[i % resources.length]!;
          const reply = await client.send('POST', `/fhir/${r.resourceType}`, JSON.stringify(r));
          if (reply.status !== 201) throw new Error(`create answered ${reply.status}`);
          const { id } = JSON.parse(reply.body) as { id: string };
          created.push(`/fhir/${r.resourceType}/${id}`);
        };
        await drive(1, 200, post); // warm-up
        const creates = await measured(pid, ticks, () => drive(seconds, count, (i) => post(200 + i)));
        runs.push({ phase: 'create', audited: mode === 'on', round, ...creates });
        const get = async (i: number): Promise<void> => {
          const reply = await client.send('GET', created[(i * 7919) % created.length]!);
          if (reply.status !== 200) throw new Error(`read answered ${reply.status}`);
        };
        await drive(1, 1000, get); // warm-up
        const reads = await measured(pid, ticks, () => drive(seconds, Infinity, get));
        runs.push({ phase: 'read', audited: mode === 'on', round, ...reads });
      } finally {
        await client.close();
        await server.stop();
        removeTempDir(dir);
      }
    }
  }
  return runs;
}
