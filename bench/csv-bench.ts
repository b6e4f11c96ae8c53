import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labHeader, labRow, patientHeader, patientRow } from './csv-data.js';
import { fmt, printTable, progress, versus } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * CSV ingest through the mappings that ship: `patients` (one resource per row) and `lab-results`
 * (a Patient made when unknown + an Observation upserted per row), each file through ingestCsv
 * into a fresh embedded store with full validation and the audit trail, in a process of its own
 * (bench/csv-worker.ts) for its own peak RSS; then a large generated file streamed through the
 * reader and the row mapper, to show the memory a file of any size needs.
 */

export interface CsvRun {
  step: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  resourcesPerSecond: number;
  chunkP50Ms?: number;
  chunkP99Ms?: number;
  mbPerSecond?: number;
  /** RSS once the validators are warm, before the first row (the gateway's resting size). */
  baseMb?: number;
  peakMb: number;
}

const worker = fileURLToPath(new URL('./csv-worker.ts', import.meta.url));

function runWorker(args: string[]): Record<string, number> {
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', worker, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (run.status !== 0) throw new Error(`csv-worker ${args[0] ?? ''} failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
}

async function writeFile(
  path: string,
  header: string,
  row: (i: number) => string,
  rows: number,
): Promise<void> {
  const out = createWriteStream(path);
  out.write(`${header}\n`);
  for (let i = 0; i < rows; i += 1000) {
    let block = '';
    for (let j = i; j < Math.min(i + 1000, rows); j++) block += `${row(j)}\n`;
    if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

export async function runCsvBench(rows: number, readBytes: number): Promise<CsvRun[]> {
  const dir = makeTempDir('ferry-bench-csv-');
  try {
    const runs: CsvRun[] = [];
    for (const [mapping, header, row] of [
      ['patients', patientHeader, patientRow],
      ['lab-results', labHeader, labRow],
    ] as const) {
      const file = join(dir, `${mapping}.csv`);
      await writeFile(file, header, row, rows);
      progress(`csv: ingesting ${fmt(rows)} rows through ${mapping}`);
      const r = runWorker(['ingest', mapping, file, join(dir, `${mapping}.db`)]);
      if (r.stored !== rows) throw new Error(`csv ${mapping}: ${r.stored} of ${rows} rows stored`);
      runs.push({
        step: mapping,
        rows: r.rows ?? 0,
        seconds: r.seconds ?? 0,
        rowsPerSecond: (r.rows ?? 0) / (r.seconds ?? 1),
        resourcesPerSecond: (r.resources ?? 0) / (r.seconds ?? 1),
        chunkP50Ms: r.chunkP50Ms ?? 0,
        chunkP99Ms: r.chunkP99Ms ?? 0,
        baseMb: r.baseMb ?? 0,
        peakMb: r.peakMb ?? 0,
      });
    }
    if (readBytes > 0) {
      progress(`csv: streaming ${fmt(readBytes / 1e6)} MB of lab-results rows through the reader and mapper`);
      const r = runWorker(['read', 'lab-results', String(readBytes)]);
      runs.push({
        step: `read + map ${fmt((r.bytes ?? 0) / 1e6)} MB (no store)`,
        rows: r.rows ?? 0,
        seconds: r.seconds ?? 0,
        rowsPerSecond: (r.rows ?? 0) / (r.seconds ?? 1),
        resourcesPerSecond: (r.resources ?? 0) / (r.seconds ?? 1),
        mbPerSecond: (r.bytes ?? 0) / 1e6 / (r.seconds ?? 1),
        peakMb: r.peakMb ?? 0,
      });
    }
    return runs;
  } finally {
    removeTempDir(dir);
  }
}

const targets: Record<string, string> = { patients: '≥ 20,000', 'lab-results': '≥ 8,000' };

export function printCsvBench(runs: CsvRun[]): void {
  printTable(
    '8. CSV ingest: ingestCsv into a fresh embedded store (full validation, audit on, 250 rows per transaction); targets in brackets',
    [
      'file',
      'rows',
      'seconds',
      'rows/s',
      'resources/s',
      'chunk p50 ms',
      'chunk p99 ms',
      'MB/s',
      'base MB',
      'peak MB',
    ],
    runs.map((r) => [
      r.step,
      r.rows,
      fmt(r.seconds, 1),
      targets[r.step] ? versus(r.rowsPerSecond, targets[r.step] ?? '') : fmt(r.rowsPerSecond),
      fmt(r.resourcesPerSecond),
      r.chunkP50Ms === undefined ? '' : fmt(r.chunkP50Ms, 1),
      r.chunkP99Ms === undefined ? '' : fmt(r.chunkP99Ms, 1),
      r.mbPerSecond === undefined ? '' : fmt(r.mbPerSecond, 1),
      r.baseMb === undefined ? '' : fmt(r.baseMb),
      r.step.startsWith('read') ? versus(r.peakMb, '< 200') : fmt(r.peakMb),
    ]),
  );
  console.log(
    'peak MB: the worker process maxRSS; the read + map row streams a generated file of BENCH_CSV_READ_BYTES',
  );
}
