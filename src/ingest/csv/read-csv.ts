import type { Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import type { ColumnIndex } from './map-row.js';
import type { CsvMapping } from './model.js';

/**
 * Streams a CSV file's records (csv-parse: RFC 4180 quoting, the mapping's delimiter and quote,
 * UTF-8 with or without a BOM or Latin-1), so a file of any size runs in constant memory. The
 * header is checked against the mapping before any row is read.
 */

/** The file cannot be read by this mapping at all: nothing of it is stored. */
export class HeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeaderError';
  }
}

/** One record: its cells, or why it could not be read (e.g. a quote left open). */
export type CsvRecord = { row: number; cells: string[] } | { row: number; error: string };

const normal = (s: string): string => s.trim().toLowerCase();

/**
 * The column index of a header: each mapping column's position. Missing required columns (or a
 * header naming a column twice) refuse the file with one error naming them all.
 */
export function checkHeader(mapping: CsvMapping, header: readonly string[]): ColumnIndex {
  const positions = new Map<string, number>();
  const twice: string[] = [];
  header.forEach((h, i) => {
    const n = normal(h);
    if (n === '') return;
    if (positions.has(n)) twice.push(h.trim());
    else positions.set(n, i);
  });
  const index = new Map<string, number>();
  const missing: string[] = [];
  for (const [key, column] of mapping.columns) {
    const at = positions.get(normal(column.header));
    if (at !== undefined) index.set(key, at);
    else if (column.required) missing.push(column.header);
  }
  const used = new Set(index.values());
  const ambiguous = twice.filter((h) => used.has(positions.get(normal(h)) ?? -1));
  if (missing.length > 0 || ambiguous.length > 0) {
    const problems = [
      missing.length > 0
        ? `required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`
        : '',
      ambiguous.length > 0
        ? `column${ambiguous.length > 1 ? 's' : ''} ${ambiguous.join(', ')} appear twice`
        : '',
    ].filter((p) => p !== '');
    throw new HeaderError(
      `the header does not fit the mapping ${mapping.name}: ${problems.join('; ')} (the header has: ${header
        .map((h) => h.trim())
        .join(', ')
        .slice(0, 300)})`,
    );
  }
  return index;
}

/**
 * The records of a CSV stream after its header, numbered as a spreadsheet shows them (the header
 * is row 1). `onHeader` is called with the header before the first record; it may throw (see
 * checkHeader) to stop before any row. `skipRows` rows after the header are read but not yielded
 * (a resumed file); `firstRow` numbers the first row after the header (a replayed row keeps its
 * number in the file it came from).
 */
export async function* readCsvRecords(
  input: Readable,
  mapping: CsvMapping,
  onHeader: (header: string[]) => void,
  skipRows = 0,
  firstRow = 2,
): AsyncGenerator<CsvRecord> {
  const shift = firstRow - 2;
  const skipped: { error: string }[] = [];
  const parser = parse({
    delimiter: mapping.read.delimiter,
    quote: mapping.read.quote,
    bom: true,
    encoding: mapping.read.encoding === 'latin1' ? 'latin1' : 'utf8',
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
  });
  parser.on('skip', (error: CsvError) => {
    skipped.push({ error: `cannot read the record at line ${String(error.lines)}: ${error.message}` });
  });
  input.on('error', (error) => parser.destroy(error));
  input.pipe(parser);
  let row = 0;
  let header: string[] | undefined;
  for await (const cells of parser as AsyncIterable<string[]>) {
    while (skipped.length > 0) {
      const s = skipped.shift();
      row++;
      if (header && s && row - 1 > skipRows) yield { row: row + shift, error: s.error };
    }
    row++;
    if (!header) {
      header = cells;
      onHeader(cells);
      continue;
    }
    if (row - 1 <= skipRows) continue;
    if (cells.length !== header.length && !(cells.length === 1 && cells[0] === ''))
      yield {
        row: row + shift,
        error: `the row has ${cells.length} fields; the header has ${header.length}`,
      };
    else yield { row: row + shift, cells };
  }
  for (const s of skipped) {
    row++;
    if (row - 1 > skipRows) yield { row: row + shift, error: s.error };
  }
  if (!header) throw new HeaderError('the file is empty: it has no header row');
}
