import type { Readable } from 'node:stream';
import type { Bundle, OperationOutcome } from 'fhir/r4.js';
import { auditAppend, type Auditor } from '../../audit/access-audit.js';
import type { AuditAgent } from '../../audit/audit-event.js';
import { FhirError } from '../../errors.js';
import { processBundle } from '../../service/bundle.js';
import { existingNote, unchangedNote } from '../../service/bundle-entry.js';
import { failedEntry } from '../../service/transaction.js';
import type { ServiceContext } from '../../service/context.js';
import type { AuditAppend, RecordWrite } from '../../store/store.js';
import { validate } from '../../validation/validate.js';
import { deadLetterRecord } from '../dead-letters.js';
import { chunkBundle, type ChunkBundle, type FileFacts, type MappedRow } from './csv-bundle.js';
import { columnOf, mapRow, RowError, type ColumnIndex } from './map-row.js';
import type { CsvCatalog, CsvMapping } from './model.js';
import { checkHeader, HeaderError, readCsvRecords } from './read-csv.js';

/**
 * CSV → FHIR through the one write path. Rows are mapped one by one and stored in chunks: each
 * chunk is one transaction (processBundle: validated, versioned, indexed like any REST write)
 * that also carries the chunk's Provenance, its AuditEvent, the rows it rejected as dead letters
 * and the file's checkpoint, so a chunk is stored whole or not at all and a restart resumes after
 * the last stored chunk. A bad row is reported (row, column, why) and the rest goes on; with
 * `atomic` the whole file is one transaction and any bad row stores nothing.
 */

/** Keyed records of how far each file got: `mapping|sha256` → Checkpoint. */
export const checkpointNamespace = 'csv-checkpoint';

export interface RowReport {
  row: number;
  column?: string;
  reason: string;
}

export interface CsvCounts {
  rows: number;
  stored: number;
  rejected: number;
  created: number;
  updated: number;
  unchanged: number;
}

interface Checkpoint extends CsvCounts {
  file: string;
  /** Rows after the header that are done (stored or rejected). */
  done: number;
  complete: boolean;
  at: string;
}

export interface CsvSource {
  /** The file's name, as Provenance and reports show it. */
  name: string;
  sha256: string;
  /** A fresh stream of the file's bytes. */
  open(): Readable;
}

export interface CsvIngestOptions {
  mapping: CsvMapping;
  catalog: CsvCatalog;
  transport: 'file' | 'http';
  /** All rows in one transaction: any rejected row stores nothing. */
  atomic?: boolean;
  /** Rows per transaction (default 250). */
  chunkRows?: number;
  /** The most rows an atomic file may have (default 50,000). */
  maxAtomicRows?: number;
  /** Continue an interrupted ingest of the same file after its last stored chunk. */
  resume?: boolean;
  /** Called for every rejected row once it is on record, in order (e.g. to write the report file). */
  onRejected?: (report: RowReport) => void;
  /** Called after each chunk with the counts so far and the last row read. */
  onProgress?: (counts: CsvCounts) => void;
  /** Each chunk leaves an AuditEvent in its own commit; the caller records the file's. */
  audit?: { auditor: Auditor; agent: AuditAgent };
  /** Rejected rows are kept as dead letters (default); a replay keeps its own instead. */
  keepDeadLetters?: boolean;
  /** Keep the file's checkpoint (default); a replayed row is not its file's progress. */
  checkpoint?: boolean;
  /** The number of the first row after the header (default 2; a replayed row keeps its own). */
  firstRow?: number;
  /** Asked after each stored chunk: true stops there (IngestStopped), to be resumed later. */
  shouldStop?: () => boolean;
}

/** The ingest stopped between two chunks when asked to; `resume` continues it. */
export class IngestStopped extends Error {
  constructor(readonly afterRow: number) {
    super(`stopped after row ${afterRow}`);
    this.name = 'IngestStopped';
  }
}

export interface CsvSummary extends CsvCounts {
  mapping: string;
  file: string;
  sha256: string;
  atomic: boolean;
  /** False when an atomic file was refused (nothing stored). */
  committed: boolean;
  /** The row after which an interrupted ingest went on, when it did. */
  resumedAfter?: number;
  /** The first rejected rows (all of them are given to `onRejected`). */
  errors: RowReport[];
  seconds: number;
}

const maxErrorsKept = 100;

const emptyCounts = (): CsvCounts => ({
  rows: 0,
  stored: 0,
  rejected: 0,
  created: 0,
  updated: 0,
  unchanged: 0,
});

/** A one-line CSV field, quoted when it must be (for dead letters and reports). */
export function csvField(value: string, delimiter = ','): string {
  return /["\r\n]/.test(value) || value.includes(delimiter) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Counts a committed chunk's response entries (Provenance excluded). */
function tally(counts: CsvCounts, response: Bundle, chunk: ChunkBundle): void {
  chunk.entries.forEach((_e, i) => {
    const r = response.entry?.[i]?.response;
    if (!r) return;
    const outcome = r.outcome as OperationOutcome | undefined;
    const note = outcome?.issue[0]?.diagnostics ?? '';
    if (r.status.startsWith('201')) counts.created++;
    else if (note.startsWith(unchangedNote) || note === existingNote) counts.unchanged++;
    else counts.updated++;
  });
}

/**
 * The rows of a failed chunk that cannot be stored: every resource validated on its own (so one
 * attempt finds them all), plus the entry the transaction named when validation finds nothing.
 */
function badRows(
  ctx: ServiceContext,
  mapping: CsvMapping,
  chunk: ChunkBundle,
  error: FhirError,
): Map<number, RowReport> {
  const bad = new Map<number, RowReport>();
  const reject = (rows: number[], column: string | undefined, reason: string): void => {
    for (const row of rows) if (!bad.has(row)) bad.set(row, { row, ...(column ? { column } : {}), reason });
  };
  chunk.entries.forEach(({ rows, mapped }) => {
    const issues = validate(mapped.resource, {
      ...(ctx.validation ? { policy: ctx.validation } : {}),
    });
    const first = issues.find((i) => i.severity === 'error' || i.severity === 'fatal');
    if (!first) return;
    const element = /^[A-Za-z]+\.([A-Za-z]+)/.exec(first.expression?.[0] ?? '')?.[1];
    reject(
      rows,
      columnOf(mapping, mapped, element),
      `${mapped.spec.resourceType}: ${first.diagnostics ?? first.code}`,
    );
  });
  if (bad.size === 0) {
    const { issue, entry, element } = failedEntry(error);
    const text = (issue?.diagnostics ?? error.message).replace(/^Bundle\.entry\[\d+\]: /, '').slice(0, 300);
    const source = entry === undefined ? undefined : chunk.entries[entry];
    if (source)
      reject(
        source.rows,
        columnOf(mapping, source.mapped, element),
        `${source.mapped.spec.resourceType}: ${text}`,
      );
  }
  return bad;
}

/** Ingests a CSV file through a mapping; resolves with the summary once every chunk is stored. */
export async function ingestCsv(
  ctx: ServiceContext,
  source: CsvSource,
  options: CsvIngestOptions,
): Promise<CsvSummary> {
  const started = performance.now();
  const { mapping, catalog } = options;
  const atomic = options.atomic === true;
  const chunkRows = atomic ? Infinity : (options.chunkRows ?? 250);
  const maxAtomicRows = options.maxAtomicRows ?? 50_000;
  const keepLetters = options.keepDeadLetters !== false && !atomic;
  const keepCheckpoint = options.checkpoint !== false && !atomic;
  const checkpointKey = `${mapping.name}|${source.sha256}`;
  const receivedAt = ctx.now().toISOString();
  const file: FileFacts = {
    mapping: mapping.name,
    name: source.name,
    sha256: source.sha256,
    recorded: receivedAt,
  };

  let counts = emptyCounts();
  let skip = 0;
  let resumedAfter: number | undefined;
  if (options.resume && keepCheckpoint) {
    const saved = await ctx.store.getRecord<Checkpoint>(checkpointNamespace, checkpointKey);
    if (saved && !saved.complete) {
      const { file: _f, done, complete: _c, at: _a, ...rest } = saved;
      counts = rest;
      skip = done;
      resumedAfter = done + 1;
    }
  }
  const errors: RowReport[] = [];
  let headerCells: string[] = [];
  let index: ColumnIndex = new Map();
  const rejectedNow: { report: RowReport; cells?: readonly string[] }[] = [];
  /** Rejected rows are reported once they are on record (committed with their chunk). */
  const reported = (): void => {
    for (const { report } of rejectedNow) {
      if (errors.length < maxErrorsKept) errors.push(report);
      options.onRejected?.(report);
    }
    rejectedNow.length = 0;
  };
  const reject = (report: RowReport, cells?: readonly string[]): void => {
    counts.rejected++;
    rejectedNow.push({ report, ...(cells ? { cells } : {}) });
  };
  const ingestCtx: ServiceContext = { ...ctx };
  delete ingestCtx.audit; // the chunk's own event stands for its entries

  const letterOf = (report: RowReport, cells: readonly string[] | undefined): RecordWrite => {
    const d = mapping.read.delimiter;
    const line = (list: readonly string[]): string => list.map((c) => csvField(c, d)).join(d);
    return deadLetterRecord({
      source: 'csv',
      transport: options.transport,
      receivedAt,
      text: `${line(headerCells)}\n${cells ? line(cells) : ''}`,
      charset: 'utf-8',
      reason: report.reason,
      location: `row ${report.row}${report.column ? `, column ${report.column}` : ''}`,
      csv: {
        mapping: mapping.name,
        file: source.name,
        sha256: source.sha256,
        row: report.row,
        ...(report.column ? { column: report.column } : {}),
      },
    });
  };

  let pending: MappedRow[] = [];
  const commitChunk = async (rows: MappedRow[], lastRow: number): Promise<void> => {
    let remaining = rows;
    for (;;) {
      const chunk = chunkBundle(remaining, file);
      const chunkCounts = emptyCounts();
      const audit: AuditAppend[] = [];
      if (options.audit) {
        const first = remaining[0]?.row ?? lastRow;
        audit.push(
          auditAppend(options.audit.auditor, options.audit.agent, {
            interaction: 'operation',
            status: 200,
            ...(chunk.bundle.entry?.length ? { resource: `Provenance/${chunk.provenanceId}` } : {}),
            outcomeText:
              `CSV ingest ${mapping.name} ${source.name}: rows ${first}-${lastRow}, ${remaining.length} stored, ${rejectedNow.length} rejected`.slice(
                0,
                200,
              ),
          }),
        );
      }
      const nextCounts = { ...counts, stored: counts.stored + remaining.length };
      const records: RecordWrite[] = keepLetters ? rejectedNow.map((r) => letterOf(r.report, r.cells)) : [];
      if (keepCheckpoint)
        records.push({
          namespace: checkpointNamespace,
          key: checkpointKey,
          value: {
            ...nextCounts,
            file: source.name,
            done: lastRow - 1,
            complete: false,
            at: ctx.now().toISOString(),
          } satisfies Checkpoint,
        });
      try {
        if ((chunk.bundle.entry?.length ?? 0) === 0) {
          if (records.length > 0 || audit.length > 0) await ctx.store.write({ versions: [], records, audit });
        } else {
          const response = await processBundle(ingestCtx, chunk.bundle, {
            maxEntries: Number.MAX_SAFE_INTEGER,
            prefer: 'OperationOutcome',
            commitWith: { records, audit },
          });
          tally(chunkCounts, response, chunk);
        }
      } catch (error) {
        if (!(error instanceof FhirError) || error.status >= 500 || error.status === 409) throw error;
        const bad = badRows(ctx, mapping, chunk, error);
        if (bad.size === 0) throw error;
        const cellsOf = new Map(remaining.map((r) => [r.row, r.cells] as const));
        for (const report of [...bad.values()].sort((a, b) => a.row - b.row))
          reject(report, cellsOf.get(report.row));
        remaining = remaining.filter((r) => !bad.has(r.row));
        if (atomic) return;
        continue;
      }
      counts = {
        ...nextCounts,
        created: counts.created + chunkCounts.created,
        updated: counts.updated + chunkCounts.updated,
        unchanged: counts.unchanged + chunkCounts.unchanged,
      };
      reported();
      options.onProgress?.({ ...counts });
      return;
    }
  };

  let lastRow = (options.firstRow ?? 2) - 1 + skip;
  for await (const record of readCsvRecords(
    source.open(),
    mapping,
    (header) => {
      headerCells = header;
      index = checkHeader(mapping, header);
    },
    skip,
    options.firstRow,
  )) {
    counts.rows++;
    lastRow = record.row;
    if (atomic && counts.rows > maxAtomicRows)
      throw new HeaderError(
        `an atomic ingest takes at most ${maxAtomicRows} rows; send the file without atomic, or split it`,
      );
    if ('error' in record) {
      reject({ row: record.row, reason: record.error });
      continue;
    }
    try {
      const resources = mapRow(mapping, catalog, index, {
        cells: record.cells,
        row: record.row,
        sha256: source.sha256,
      });
      pending.push({ row: record.row, resources, cells: record.cells });
    } catch (error) {
      if (!(error instanceof RowError)) throw error;
      reject(
        { row: record.row, ...(error.column ? { column: error.column } : {}), reason: error.message },
        record.cells,
      );
    }
    if (pending.length >= chunkRows) {
      const rows = pending;
      pending = [];
      await commitChunk(rows, lastRow);
      if (options.shouldStop?.()) {
        // the checkpoint of a chunk counts rows exactly; this adds the chunk's resource counts
        if (keepCheckpoint) await ctx.store.write({ versions: [], records: [checkpoint(false)] });
        throw new IngestStopped(lastRow);
      }
    }
  }
  // all or nothing: an atomic file with a bad row stores none of its rows
  if (atomic && counts.rejected > 0) {
    reported();
    return summary(false);
  }
  if (pending.length > 0 || rejectedNow.length > 0) await commitChunk(pending, lastRow);
  if (atomic) {
    reported();
    return summary(counts.rejected === 0);
  }
  if (!keepCheckpoint) return summary(true);
  await ctx.store.write({ versions: [], records: [checkpoint(true)] });
  return summary(true);

  /** The file's checkpoint as of now (complete ones are kept a while, for operators to see). */
  function checkpoint(complete: boolean): RecordWrite {
    const value: Checkpoint = {
      ...counts,
      file: source.name,
      done: lastRow - 1,
      complete,
      at: ctx.now().toISOString(),
    };
    return {
      namespace: checkpointNamespace,
      key: checkpointKey,
      value,
      ...(complete ? { expiresAt: ctx.now().getTime() + 30 * 24 * 3600 * 1000 } : {}),
    };
  }

  function summary(committed: boolean): CsvSummary {
    const out: CsvSummary = {
      ...counts,
      ...(committed ? {} : { stored: 0, created: 0, updated: 0, unchanged: 0 }),
      mapping: mapping.name,
      file: source.name,
      sha256: source.sha256,
      atomic,
      committed,
      errors,
      seconds: (performance.now() - started) / 1000,
    };
    if (resumedAfter !== undefined) out.resumedAfter = resumedAfter;
    return out;
  }
}
