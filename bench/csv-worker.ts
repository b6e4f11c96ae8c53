/**
 * One CSV run in a process of its own, so its peak memory is its own:
 *   ingest MAPPING FILE DB   the file through ingestCsv into a fresh store (audited, full validation)
 *   read MAPPING BYTES       a generated lab-results file of BYTES streamed through the reader and
 *                            the row mapper (no store): the memory of reading a file of any size
 * Prints one JSON line.
 */
import { Readable } from 'node:stream';
import { hostname } from 'node:os';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { fileSource } from '../src/ingest/csv/csv-source.js';
import { ingestCsv } from '../src/ingest/csv/ingest-csv.js';
import { loadCsvCatalog } from '../src/ingest/csv/load-csv-mappings.js';
import { mapRow, type ColumnIndex } from '../src/ingest/csv/map-row.js';
import { checkHeader, readCsvRecords } from '../src/ingest/csv/read-csv.js';
import { quantile } from './report.js';
import { warmValidators } from '../src/validation/validate-resource.js';
import { warmProfiles } from '../src/validation/policy.js';
import { benchContext } from './preload.js';
import { labHeader, labRow } from './csv-data.js';

const [mode = '', mapping = '', arg = '', db = ''] = process.argv.slice(2);
const catalog = loadCsvCatalog();
const validation = { level: 'full' as const, enforce: {}, strictProfiles: false };
const map = catalog.mappings.get(mapping);
if (!map) throw new Error(`no mapping ${mapping}`);
let started = performance.now();

if (mode === 'ingest') {
  // as the gateway does at start-up, before the clock starts
  warmValidators();
  warmProfiles(validation);
  globalThis.gc?.();
  const baseMb = process.memoryUsage().rss / 1024 / 1024;
  started = performance.now();
  const store = new SqliteStore(db);
  const ctx = {
    ...benchContext(store),
    validation: { level: 'full' as const, enforce: {}, strictProfiles: false },
  };
  const chunkMs: number[] = [];
  let last = performance.now();
  const summary = await ingestCsv(ctx, await fileSource(arg), {
    mapping: map,
    catalog,
    transport: 'file',
    audit: {
      auditor: { store, source: { site: ctx.baseUrl, name: hostname() }, now: () => new Date() },
      agent: { user: 'bench' },
    },
    onProgress: () => {
      const now = performance.now();
      chunkMs.push(now - last);
      last = now;
    },
  });
  await store.close();
  const seconds = (performance.now() - started) / 1000;
  chunkMs.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      rows: summary.rows,
      stored: summary.stored,
      rejected: summary.rejected,
      resources: summary.created + summary.updated + summary.unchanged,
      seconds,
      chunkP50Ms: quantile(chunkMs, 0.5),
      chunkP99Ms: quantile(chunkMs, 0.99),
      baseMb,
      peakMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
} else if (mode === 'read') {
  const bytes = Number(arg);
  let produced = 0;
  let n = 0;
  const header = `${labHeader}\n`;
  const source = Readable.from(
    (function* () {
      produced += header.length;
      yield header;
      while (produced < bytes) {
        let block = '';
        for (let i = 0; i < 1000; i++) block += `${labRow(n++)}\n`;
        produced += block.length;
        yield block;
      }
    })(),
  );
  let index: ColumnIndex = new Map();
  let rows = 0;
  let resources = 0;
  for await (const record of readCsvRecords(source, map, (h) => {
    index = checkHeader(map, h);
  })) {
    if ('error' in record) throw new Error(record.error);
    resources += mapRow(map, catalog, index, {
      cells: record.cells,
      row: record.row,
      sha256: 'bench',
    }).length;
    rows++;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      rows,
      resources,
      bytes: produced,
      seconds,
      peakMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
} else throw new Error('usage: csv-worker.ts ingest MAPPING FILE DB | read MAPPING BYTES');
