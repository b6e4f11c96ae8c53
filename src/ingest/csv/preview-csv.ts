import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { Bundle } from 'fhir/r4.js';
import { sha256OfFile } from './csv-source.js';
import { chunkBundle, type MappedRow } from './csv-bundle.js';
import type { RowReport } from './ingest-csv.js';
import { mapRow, RowError, type ColumnIndex } from './map-row.js';
import type { CsvCatalog, CsvMapping } from './model.js';
import { checkHeader, readCsvRecords } from './read-csv.js';

/**
 * `ferry mappings test NAME SAMPLE.csv`: the transaction Bundle the first rows of a file make
 * (as one chunk would be stored), and the rows the mapping rejects, storing nothing.
 */
export async function previewCsv(
  mapping: CsvMapping,
  catalog: CsvCatalog,
  path: string,
  maxRows = 100,
): Promise<{ bundle: Bundle; rejected: RowReport[] }> {
  const sha256 = await sha256OfFile(path);
  let index: ColumnIndex = new Map();
  const rows: MappedRow[] = [];
  const rejected: RowReport[] = [];
  let read = 0;
  for await (const record of readCsvRecords(createReadStream(path), mapping, (header) => {
    index = checkHeader(mapping, header);
  })) {
    if (++read > maxRows) break;
    if ('error' in record) {
      rejected.push({ row: record.row, reason: record.error });
      continue;
    }
    try {
      const resources = mapRow(mapping, catalog, index, { cells: record.cells, row: record.row, sha256 });
      rows.push({ row: record.row, resources, cells: record.cells });
    } catch (error) {
      if (!(error instanceof RowError)) throw error;
      rejected.push({
        row: record.row,
        ...(error.column ? { column: error.column } : {}),
        reason: error.message,
      });
    }
  }
  const { bundle } = chunkBundle(rows, {
    mapping: mapping.name,
    name: basename(path),
    sha256,
    recorded: new Date().toISOString(),
  });
  return { bundle, rejected };
}
