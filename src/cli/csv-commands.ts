import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { localAgent, recordAccess } from '../audit/access-audit.js';
import { createLogger } from '../log.js';
import { openStore } from '../main.js';
import { ReportFile, summaryLine } from '../ingest/csv/csv-report.js';
import { fileSource } from '../ingest/csv/csv-source.js';
import { ingestCsv, type CsvSummary } from '../ingest/csv/ingest-csv.js';
import { csvEncoding, loadCsvCatalog } from '../ingest/csv/load-csv-mappings.js';
import type { CsvCatalog } from '../ingest/csv/model.js';
import { HeaderError } from '../ingest/csv/read-csv.js';
import { ConfigError } from '../config.js';
import { cliAuditor, configFromEnv, fail } from './common.js';

/**
 * `ferry ingest FILE.csv… --mapping NAME [--atomic] [--report PATH] [--restart]`: CSV files
 * through a mapping, with a progress line (rows, rate, ETA) and a summary per file.
 * Exit status: 0 every row stored; 3 some rows rejected (see the report); 1 a file refused
 * (its header does not fit the mapping, or an atomic file had a bad row) or a failure.
 */

export const csvIngestUsage =
  'usage: ferry ingest FILE.csv… --mapping NAME [--atomic] [--report PATH] [--restart] [--encoding latin1|utf-8]';

/** Exit status when some rows were rejected but the rest was stored. */
export const someRowsRejected = 3;

/** The CSV mappings of this installation, or one line naming what is wrong with one. */
export function csvCatalog(): CsvCatalog {
  try {
    return loadCsvCatalog(undefined, configFromEnv().hl7Timezone);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    fail(error instanceof Error ? error.message : String(error));
  }
}

function progressLine(file: string, rows: number, bytes: number, total: number, started: number): string {
  const seconds = (performance.now() - started) / 1000;
  const rate = rows / Math.max(seconds, 0.001);
  const share = total > 0 ? Math.min(bytes / total, 1) : 0;
  const eta = share > 0 ? (seconds / share) * (1 - share) : 0;
  const width = 24;
  const filled = Math.round(share * width);
  return `\r${file} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${rows} rows  ${Math.round(rate)} rows/s  ETA ${eta.toFixed(0)} s `;
}

export interface CsvIngestFlags {
  atomic: boolean;
  report?: string;
  restart: boolean;
  /** Overrides the mapping's encoding for these files. */
  encoding?: string;
}

/** Ingests each file; sets the exit status. */
export async function ingestCsvFiles(files: string[], name: string, flags: CsvIngestFlags): Promise<void> {
  const catalog = csvCatalog();
  const found = catalog.mappings.get(name);
  if (!found) fail(`no CSV mapping ${name}; there are: ${[...catalog.mappings.keys()].join(', ')}`, 2);
  const encoding = flags.encoding === undefined ? undefined : csvEncoding(flags.encoding);
  if (flags.encoding !== undefined && encoding === undefined)
    fail(`--encoding ${flags.encoding}: use utf-8 or latin1 (ISO-8859-1)`, 2);
  const mapping = encoding ? { ...found, read: { ...found.read, encoding } } : found;
  for (const f of files) if (!existsSync(f) || !statSync(f).isFile()) fail(`cannot read ${f}`, 2);
  if (flags.report !== undefined && files.length > 1)
    fail('--report names one file: ingest one CSV at a time with it', 2);
  const config = configFromEnv();
  const store = openStore(config);
  const ctx = {
    store,
    baseUrl: config.baseUrl,
    log: createLogger('error'),
    now: () => new Date(),
    validation: config.validation,
  };
  // the command line is an ingest door too: each file (and each batch of it) is on record
  const auditor = cliAuditor(store);
  const agent = localAgent('ferry ingest');
  let status = 0;
  try {
    for (const file of files) {
      const total = statSync(file).size;
      const reportPath = resolve(flags.report ?? `${basename(file)}.rejected.csv`);
      const report = new ReportFile(reportPath);
      const source = await fileSource(file);
      let bytes = 0;
      let rows = 0;
      const started = performance.now();
      const tty = process.stderr.isTTY;
      let lastDraw = 0;
      const draw = (force = false): void => {
        const now = performance.now();
        if (!force && now - lastDraw < 200) return;
        lastDraw = now;
        if (tty) process.stderr.write(progressLine(basename(file), rows, bytes, total, started));
      };
      let summary: CsvSummary;
      try {
        summary = await ingestCsv(
          ctx,
          {
            ...source,
            open: () => {
              const stream = source.open();
              stream.on('data', (chunk: Buffer | string) => {
                bytes += chunk.length;
              });
              return stream;
            },
          },
          {
            mapping,
            catalog,
            transport: 'file',
            atomic: flags.atomic,
            resume: !flags.restart,
            onRejected: (r) => report.write(r),
            ...(auditor ? { audit: { auditor, agent } } : {}),
            onProgress: (c) => {
              rows = c.rows;
              draw();
            },
          },
        );
      } catch (error) {
        await report.close();
        if (tty) process.stderr.write('\n');
        if (error instanceof HeaderError) {
          if (auditor)
            await recordAccess(auditor, agent, {
              interaction: 'operation',
              status: 422,
              outcomeText:
                `CSV ingest ${name} from the command line: ${basename(file)} refused: ${error.message}`.slice(
                  0,
                  200,
                ),
            });
          process.stderr.write(`ferry: ${file}: refused, nothing stored: ${error.message}\n`);
          status = 1;
          continue;
        }
        throw error;
      }
      rows = summary.rows;
      bytes = total;
      draw(true);
      if (tty) process.stderr.write('\n');
      const wrote = await report.close();
      if (auditor)
        await recordAccess(auditor, agent, {
          interaction: 'operation',
          status: summary.committed ? 200 : 422,
          outcomeText: `CSV ingest ${name} from the command line: ${summaryLine(summary)}`.slice(0, 200),
        });
      for (const e of summary.errors.slice(0, 5))
        process.stderr.write(`  row ${e.row}${e.column ? `, column ${e.column}` : ''}: ${e.reason}\n`);
      if (summary.rejected > 5) process.stderr.write(`  … ${summary.rejected - 5} more in the report\n`);
      const rate = Math.round(summary.rows / Math.max(summary.seconds, 0.001));
      process.stdout.write(
        `${summaryLine(summary)}${wrote ? `; report: ${reportPath}` : ''} (${summary.seconds.toFixed(1)} s, ${rate} rows/s)\n`,
      );
      if (!summary.committed) status = 1;
      else if (summary.rejected > 0 && status === 0) status = someRowsRejected;
    }
  } finally {
    await store.close();
  }
  process.exitCode = status;
}
