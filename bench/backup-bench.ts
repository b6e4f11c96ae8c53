import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { preload } from './preload.js';
import { fmt, printTable, progress } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * `ferry backup` and `ferry restore` at a data size: the store is preloaded (indexed), then each
 * backup and restore runs in its own process (bench/backup-worker.ts) for its own peak RSS.
 * MB/s counts the stored resource JSON moved (what a backup holds before compression).
 */

export interface BackupRun {
  step: string;
  resources: number;
  seconds: number;
  perSecond: number;
  jsonMbPerSecond: number;
  /** What the step wrote to disk (backup files), MB; 0 for restores. */
  outputMb: number;
  peakMb: number;
}

const worker = fileURLToPath(new URL('./backup-worker.ts', import.meta.url));

function runWorker(args: string[]): { versions: number; seconds: number; peakMb: number; bytes?: number } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', worker, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (run.status !== 0) throw new Error(`backup-worker ${args[0] ?? ''} failed: ${run.stderr}`);
  const last = run.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(last) as { versions: number; seconds: number; peakMb: number; bytes?: number };
}

export async function runBackupBench(seed: number, resources: number): Promise<BackupRun[]> {
  const dir = makeTempDir('ferry-bench-backup-');
  try {
    const source = join(dir, 'source.db');
    progress(`backup: preloading ${fmt(resources)} resources (indexed)`);
    await preload(source, seed, { from: 0, to: resources }, { index: true });
    const db = new Database(source, { readonly: true });
    const jsonMb =
      (db.prepare('SELECT SUM(LENGTH(body)) AS n FROM resource_version').get() as { n: number }).n / 1e6;
    db.close();
    const key = randomBytes(32).toString('hex');
    const runs: BackupRun[] = [];
    const record = (step: string, r: ReturnType<typeof runWorker>): void => {
      runs.push({
        step,
        resources: r.versions,
        seconds: r.seconds,
        perSecond: Math.round(r.versions / r.seconds),
        jsonMbPerSecond: jsonMb / r.seconds,
        outputMb: (r.bytes ?? 0) / 1e6,
        peakMb: r.peakMb,
      });
    };
    for (const [step, out, withKey] of [
      ['backup (gzip)', 'plain', false],
      ['backup (gzip + AES-256-GCM)', 'sealed', true],
    ] as const) {
      progress(`backup: ${step}`);
      record(step, runWorker(['backup', source, join(dir, out), ...(withKey ? [key] : [])]));
    }
    for (const [step, from, withKey] of [
      ['restore (gzip)', 'plain', false],
      ['restore (gzip + AES-256-GCM)', 'sealed', true],
    ] as const) {
      progress(`backup: ${step}`);
      record(
        step,
        runWorker(['restore', join(dir, from), join(dir, `${from}.db`), ...(withKey ? [key] : [])]),
      );
    }
    return runs;
  } finally {
    removeTempDir(dir);
  }
}

export function printBackupBench(runs: BackupRun[], resources: number): void {
  printTable(
    `5. Backup and restore of ${fmt(resources)} resources (each in its own process; restore verifies every file first, ` +
      'then writes 2,000 versions per transaction and indexes them); targets: 1M backed up < 60 s, restore ≥ 20,000/s',
    ['step', 'resources', 'seconds', 'resources/s', 'JSON MB/s', 'files MB', 'peak RSS MB'],
    runs.map((r) => [
      r.step,
      r.resources,
      fmt(r.seconds, 2),
      r.perSecond,
      fmt(r.jsonMbPerSecond, 1),
      r.outputMb ? fmt(r.outputMb, 1) : '-',
      fmt(r.peakMb),
    ]),
  );
}
