import { readFileSync } from 'node:fs';
import { startServer, type RunningServer } from '../test/e2e/harness.js';
import { runSearchBench, type SearchShape } from './search-bench.js';
import { completePatients, createWorkload, resourceKey } from './generate.js';
import { createClient, type Client, type ClientKind, type Reply } from './http-client.js';
import { createRng } from './prng.js';
import { createdIn, entriesPerTransaction, transactionBody } from './transaction-bench.js';
import { progress, quantile } from './report.js';

/** The figures of one timed phase (creates or reads). */
export interface Phase {
  requests: number;
  failed: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** One data size: how the server started on it and what it sustained. */
export interface HttpRun {
  stored: number;
  startupMs: number;
  creates: Phase;
  reads: Phase;
  /** 100-entry transaction Bundles; `resources` counts the resources they created. */
  transactions: Phase & { resources: number; resourcesPerSecond: number; clients: number };
  searches: SearchShape[];
  /** Server peak resident memory (VmHWM) in MB after the creates and at the end. */
  peakMbAfterCreates: number;
  peakMb: number;
  exitCode: number | null;
}

export interface HttpOptions {
  seed: number;
  dataDir: string;
  /** Resources stored in dataDir (resources 0..stored-1 of the seed's sequence). */
  stored: number;
  clients: number;
  client: ClientKind;
  creates: number;
  reads: number;
  /** Upper bound on each phase. */
  seconds: number;
  /** Extra environment for the server (e.g. NODE_OPTIONS for a CPU profile). */
  serverEnv?: Record<string, string>;
  /** Searches per shape after the reads (0: none). */
  searches?: number;
  /** Transaction Bundles after the reads, and how many are sent at once. */
  transactions: number;
  transactionClients: number;
}

/** Requests sent before the timed phases (JIT, SQLite page cache, sockets); their creates are stored. */
export const warmup = { creates: 200, reads: 1000 } as const;

/** VmHWM (peak resident set) of a process, in MB, from /proc. */
export function peakMemoryMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? NaN : Number(kb) / 1024;
}

/**
 * Sends request `i` for i = 0..total-1 from `clients` concurrent loops until all are sent or
 * `seconds` have passed; times each one with hrtime.
 */
export async function drive(
  clients: number,
  total: number,
  seconds: number,
  send: (i: number) => Promise<Reply>,
  ok: (reply: Reply) => boolean,
): Promise<Phase> {
  const latencies = new Float64Array(total);
  let next = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (next < total && performance.now() < deadline) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      const reply = await send(i);
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!ok(reply) && failed++ === 0)
        progress(`first failure: ${reply.status} ${reply.body.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, loop));
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, next).sort();
  return {
    requests: next,
    failed,
    seconds: elapsed,
    perSecond: next / elapsed,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
  };
}

/** Random reads of existing resources: paths of resources drawn uniformly from the stored ones. */
function readPaths(seed: number, stored: number, count: number): string[] {
  const rng = createRng(seed ^ 0x2545f491);
  return Array.from({ length: count }, () => {
    const { type, id } = resourceKey(rng.int(0, stored - 1));
    return `/fhir/${type}/${id}`;
  });
}

async function phases(
  server: RunningServer,
  client: Client,
  o: HttpOptions,
): Promise<Omit<HttpRun, 'startupMs' | 'exitCode' | 'searches'>> {
  const pid = server.process.pid ?? 0;
  const workload = createWorkload(o.seed, completePatients(o.stored));
  const bodies = Array.from({ length: o.creates + warmup.creates }, (_, n) => workload(n)).map(
    (r) => [`/fhir/${r.resourceType}`, JSON.stringify(r)] as const,
  );
  const paths = readPaths(o.seed, o.stored, o.reads + warmup.reads);
  const created = (r: Reply): boolean => r.status === 201;
  const found = (r: Reply): boolean => r.status === 200;
  const post = (i: number): Promise<Reply> => client.send('POST', ...bodies[i]!);
  const get = (i: number): Promise<Reply> => client.send('GET', paths[i]!);
  // warm-up with the requests after the timed ones (JIT, SQLite page cache, sockets)
  await drive(o.clients, warmup.creates, o.seconds, (i) => post(o.creates + i), created);
  await drive(o.clients, warmup.reads, o.seconds, (i) => get(o.reads + i), found);
  progress(`http: ${o.creates} creates with ${o.clients} clients`);
  const creates = await drive(o.clients, o.creates, o.seconds, post, created);
  const peakMbAfterCreates = peakMemoryMb(pid);
  progress(`http: ${o.reads} reads with ${o.clients} clients`);
  const reads = await drive(o.clients, o.reads, o.seconds, get, found);
  const transactions = await transactionPhase(client, o);
  return { stored: o.stored, creates, reads, transactions, peakMbAfterCreates, peakMb: peakMemoryMb(pid) };
}

/** POST /fhir with 100-entry transactions of new patients' records (after one warm-up Bundle). */
async function transactionPhase(client: Client, o: HttpOptions): Promise<HttpRun['transactions']> {
  const bodies = Array.from({ length: o.transactions + 1 }, (_, t) => transactionBody(o.seed, 1_000_000, t));
  let resources = 0;
  const ok = (r: Reply): boolean => {
    if (r.status !== 200) return false;
    resources += createdIn(r.body);
    return true;
  };
  await drive(1, 1, o.seconds, () => client.send('POST', '/fhir', bodies[o.transactions]), ok);
  resources = 0;
  progress(
    `http: ${o.transactions} transactions of ${entriesPerTransaction} entries, ${o.transactionClients} at once`,
  );
  const phase = await drive(
    o.transactionClients,
    o.transactions,
    o.seconds,
    (i) => client.send('POST', '/fhir', bodies[i]),
    ok,
  );
  return {
    ...phase,
    resources,
    resourcesPerSecond: resources / phase.seconds,
    clients: o.transactionClients,
  };
}

/**
 * Starts the real gateway on `dataDir` (as the end-to-end tests do), measures its start-up,
 * creates and random reads over HTTP, then stops it with SIGTERM.
 */
export async function runHttpBench(o: HttpOptions): Promise<HttpRun> {
  const spawned = performance.now();
  const server = await startServer(o.serverEnv ?? {}, { keepDataDir: o.dataDir });
  const startupMs = server.listeningAt - spawned;
  progress(`http: server pid ${server.process.pid ?? '?'} listening after ${startupMs.toFixed(0)} ms`);
  const client = createClient(o.client, server.origin, o.clients, server.token);
  try {
    const measured = await phases(server, client, o);
    const searches = o.searches ? await runSearchBench(client, o.stored, o.clients, o.searches) : [];
    return { ...measured, searches, startupMs, exitCode: await server.stop('SIGTERM') };
  } finally {
    await client.close();
    if (server.process.exitCode === null) await server.stop('SIGKILL');
  }
}
