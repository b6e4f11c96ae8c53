import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { VersionWrite, WriteSet } from '../src/store/store.js';
import { generateResources } from './generate.js';
import { benchContext, createWrite } from './preload.js';
import { progress } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/** One measured way of writing: how many resources went in, how fast, in how many commits. */
export interface StoreRun {
  mode: string;
  indexed: boolean;
  resources: number;
  seconds: number;
  perSecond: number;
  commits: number;
  /** Write sets carried by those commits. */
  items: number;
}

interface Mode {
  name: string;
  /** Versions per write() call (1: one resource per call). */
  batch: number;
  /** write() calls in flight at once. */
  inFlight: number;
  indexed: boolean;
}

const modes: Mode[] = [
  { name: 'one per write, 1 in flight', batch: 1, inFlight: 1, indexed: true },
  { name: 'one per write, 8 in flight', batch: 1, inFlight: 8, indexed: true },
  { name: 'one per write, 64 in flight', batch: 1, inFlight: 64, indexed: true },
  { name: 'one per write, 1000 in flight', batch: 1, inFlight: 1000, indexed: true },
  { name: '1000 per write set', batch: 1000, inFlight: 1, indexed: true },
  { name: '1000 per write set', batch: 1000, inFlight: 1, indexed: false },
];

/**
 * Writes `writes` to a fresh store, `mode.batch` versions per write() and `mode.inFlight` calls
 * at once, until all are written or `seconds` have passed.
 */
async function measure(dir: string, writes: VersionWrite[], mode: Mode, seconds: number): Promise<StoreRun> {
  const path = join(dir, `${mode.batch}-${mode.inFlight}-${mode.indexed}.db`);
  const store = new SqliteStore(path);
  const sets: WriteSet[] = [];
  for (let i = 0; i < writes.length; i += mode.batch) {
    const versions = writes.slice(i, i + mode.batch);
    sets.push({ versions: mode.indexed ? versions : versions.map(({ index: _index, ...v }) => v) });
  }
  let next = 0;
  let written = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const writer = async (): Promise<void> => {
    while (next < sets.length && performance.now() < deadline) {
      const set = sets[next++]!;
      await store.write(set);
      written += set.versions.length;
    }
  };
  await Promise.all(Array.from({ length: mode.inFlight }, writer));
  const elapsed = (performance.now() - started) / 1000;
  const { commits, items } = store.commitStats;
  await store.close();
  for (const file of [path, `${path}-wal`, `${path}-shm`]) rmSync(file, { force: true });
  return {
    mode: mode.name,
    indexed: mode.indexed,
    resources: written,
    seconds: elapsed,
    perSecond: written / elapsed,
    commits,
    items,
  };
}

/**
 * Store-level write throughput (no HTTP, no validation): `count` generated resources written as
 * single-resource write sets with several calls in flight (group commit shares one fsync among
 * them), and as big write sets. Each mode starts from an empty database file.
 */
export async function runStoreBench(
  seed: number,
  count: number,
  secondsPerMode: number,
): Promise<StoreRun[]> {
  const dir = makeTempDir('ferry-bench-store-');
  try {
    const lastUpdated = new Date().toISOString();
    // versionWrite takes a service context (for its logger); the writes go to each mode's own store
    const ctx = benchContext(new SqliteStore(':memory:'));
    const writes = [...generateResources(seed, 0, count)].map((r) => createWrite(ctx, r, lastUpdated, true));
    await ctx.store.close();
    const runs: StoreRun[] = [];
    for (const mode of modes) {
      progress(`store: ${mode.name}${mode.indexed ? '' : ', no index'}`);
      runs.push(await measure(dir, writes, mode, secondsPerMode));
    }
    return runs;
  } finally {
    removeTempDir(dir);
  }
}
