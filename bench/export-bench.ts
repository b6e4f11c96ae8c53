import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { runExport } from '../src/bulk/export-run.js';
import { restResourceTypes } from '../src/fhir/element-tables.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { benchContext } from './preload.js';
import { fmt, printTable, progress, versus } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * Bulk export throughput on a bench data set: the system-level export engine writing NDJSON
 * files from one snapshot (what `$export` and `ferry export` run), then those files gzipped at
 * the level the file endpoint uses — both in MB/s of NDJSON — and the process's peak memory.
 */

export interface ExportRun {
  size: string;
  resources: number;
  files: number;
  mb: number;
  seconds: number;
  mbPerSecond: number;
  gzipSeconds: number;
  gzipMbPerSecond: number;
  gzipRatio: number;
  /** Resident memory of this process: before the export and at its peak during it. */
  rssBeforeMb: number;
  rssPeakMb: number;
}

export async function runExportBench(dbPath: string, size: string): Promise<ExportRun> {
  const out = makeTempDir('ferry-bench-export-');
  const store = new SqliteStore(dbPath);
  try {
    const ctx = benchContext(store);
    globalThis.gc?.();
    const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
    let rssPeakMb = rssBeforeMb;
    const sampler = setInterval(() => {
      rssPeakMb = Math.max(rssPeakMb, process.memoryUsage().rss / 2 ** 20);
    }, 50);
    progress(`export: ${size}, system level`);
    const started = performance.now();
    const outcome = await runExport(
      ctx,
      {
        level: 'system',
        types: restResourceTypes().filter((t) => t !== 'AuditEvent'),
        typeFilters: {},
        notes: [],
      },
      out,
      { maxFileBytes: 256 * 2 ** 20 },
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const files = readdirSync(out).filter((f) => f.endsWith('.ndjson'));
    const bytes = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
    progress(`export: gzip of ${files.length} files`);
    let zipped = 0;
    const gzStarted = performance.now();
    for (const f of files) {
      await pipeline(
        createReadStream(join(out, f)),
        createGzip({ level: 1 }),
        new Writable({
          write(chunk: Buffer, _e, done) {
            zipped += chunk.length;
            done();
          },
        }),
      );
    }
    const gzipSeconds = (performance.now() - gzStarted) / 1000;
    const mb = bytes / 1e6;
    return {
      size,
      resources: outcome.output.reduce((n, f) => n + f.count, 0),
      files: files.length,
      mb,
      seconds,
      mbPerSecond: mb / seconds,
      gzipSeconds,
      gzipMbPerSecond: mb / gzipSeconds,
      gzipRatio: bytes / Math.max(zipped, 1),
      rssBeforeMb,
      rssPeakMb,
    };
  } finally {
    await store.close();
    removeTempDir(out);
  }
}

export function printExportBench(runs: ExportRun[]): void {
  if (runs.length === 0) return;
  printTable(
    '6. Bulk export (system level, one snapshot, NDJSON files), then gzip level 1 as the file endpoint sends it; targets at 1M',
    ['size', 'resources', 'files', 'MB', 'seconds', 'MB/s', 'gzip MB/s', 'ratio', 'RSS before', 'RSS peak'],
    runs.map((r) => [
      r.size,
      r.resources,
      r.files,
      fmt(r.mb, 1),
      fmt(r.seconds, 1),
      versus(r.mbPerSecond, '≥ 150', 1),
      versus(r.gzipMbPerSecond, '≥ 60', 1),
      fmt(r.gzipRatio, 1),
      fmt(r.rssBeforeMb),
      fmt(r.rssPeakMb),
    ]),
  );
}
