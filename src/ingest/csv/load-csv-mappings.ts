import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { projectRoot } from '../../fhir/definitions-path.js';
import { compileFormat } from './convert.js';
import { isKnownZone } from '../hl7v2/mapping/date-time.js';
import { MappingFileError, readVocabulary, readYaml } from '../hl7v2/mapping/load-mappings.js';
import { compileCondition } from '../hl7v2/mapping/when.js';
import { isRestResourceType } from '../../fhir/element-tables.js';
import {
  transforms,
  valueTypes,
  type ColumnSpec,
  type CsvCatalog,
  type CsvMapping,
  type CsvRow,
  type IdentitySpec,
  type ReadOptions,
  type ResourceSpec,
  type Transform,
  type ValueType,
} from './model.js';

const encodings: Record<string, ReadOptions['encoding']> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'us-ascii': 'utf-8',
  latin1: 'latin1',
  'latin-1': 'latin1',
  'iso-8859-1': 'latin1',
};

/** The encoding a name (a mapping's, a command's, a charset) means, if it is one Ferry reads. */
export function csvEncoding(name: string): ReadOptions['encoding'] | undefined {
  return encodings[name.trim().toLowerCase()];
}

/** Where the CSV mappings that ship with Ferry are. */
export const defaultCsvMappingDir = join(projectRoot, 'mappings', 'csv');

type Doc = Record<string, unknown>;

const isDoc = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

function list(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as unknown[]) : [value];
}

function transformList(file: string, value: unknown, where: string): Transform[] {
  return list(value).map((t) => {
    if (typeof t !== 'string' || !transforms.includes(t as Transform))
      throw new MappingFileError(
        file,
        `${where}: transform '${String(t)}' is not one of ${transforms.join(', ')}`,
      );
    return t as Transform;
  });
}

function readOptions(file: string, value: unknown, defaultZone: string): ReadOptions {
  const doc = value === undefined ? {} : value;
  if (!isDoc(doc)) throw new MappingFileError(file, "'csv' must be a mapping");
  const delimiter = doc.delimiter ?? ',';
  const quote = doc.quote ?? '"';
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || /["\r\n]/.test(delimiter))
    throw new MappingFileError(file, "'csv.delimiter' must be one character (not a quote or line break)");
  if (typeof quote !== 'string' || quote.length !== 1)
    throw new MappingFileError(file, "'csv.quote' must be one character");
  const chosen = csvEncoding(typeof doc.encoding === 'string' ? doc.encoding : 'utf-8');
  if (!chosen) throw new MappingFileError(file, "'csv.encoding' must be utf-8 or latin1 (ISO-8859-1)");
  const timezone = doc.timezone ?? defaultZone;
  if (typeof timezone !== 'string' || !isKnownZone(timezone))
    throw new MappingFileError(file, `'csv.timezone' ${JSON.stringify(timezone)} is not an IANA time zone`);
  if (doc.decimalComma !== undefined && typeof doc.decimalComma !== 'boolean')
    throw new MappingFileError(file, "'csv.decimalComma' must be true or false");
  return {
    delimiter,
    quote,
    encoding: chosen,
    timezone,
    decimalComma: doc.decimalComma === true,
    empty: list(doc.empty).map(String),
    trim: doc.trim !== false,
  };
}

function columns(file: string, value: unknown): Map<string, ColumnSpec> {
  if (!isDoc(value)) throw new MappingFileError(file, "'columns' must be a mapping of column keys");
  const out = new Map<string, ColumnSpec>();
  for (const [key, raw] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new MappingFileError(
        file,
        `column key '${key}': use letters, digits and _ (set 'header' for the file's text)`,
      );
    const spec = raw === null ? {} : raw;
    if (!isDoc(spec)) throw new MappingFileError(file, `column ${key}: must be a mapping`);
    const header = spec.header ?? key;
    if (typeof header !== 'string' || header === '')
      throw new MappingFileError(file, `column ${key}: 'header' must be a text`);
    out.set(key, {
      header,
      required: spec.required === true,
      transform: transformList(file, spec.transform, `column ${key}`),
    });
  }
  if (out.size === 0) throw new MappingFileError(file, "'columns' names no column");
  return out;
}

function checkCondition(file: string, where: string, text: string, cols: Map<string, ColumnSpec>): void {
  try {
    compileCondition(text);
  } catch (error) {
    throw new MappingFileError(file, `${where}: ${(error as Error).message}`);
  }
  for (const clause of text.split(/\s+and\s+/)) {
    const column = /^\s*(\S+)/.exec(clause)?.[1] ?? '';
    if (!cols.has(column))
      throw new MappingFileError(file, `${where}: the condition names no column '${column}'`);
  }
}

function row(file: string, value: unknown, where: string, cols: Map<string, ColumnSpec>): CsvRow {
  if (!isDoc(value)) throw new MappingFileError(file, `${where}: not a mapping`);
  if (typeof value.to !== 'string' || value.to === '')
    throw new MappingFileError(file, `${where}: 'to' is required`);
  const at = `${where} (${value.to})`;
  if (value.from === undefined && value.constant === undefined)
    throw new MappingFileError(file, `${at}: needs 'from' or 'constant'`);
  const type = (value.type ?? 'string') as ValueType;
  if (!valueTypes.includes(type))
    throw new MappingFileError(
      file,
      `${at}: type '${String(value.type)}' is not one of ${valueTypes.join(', ')}`,
    );
  const out: CsvRow = { to: value.to, type, transform: transformList(file, value.transform, at) };
  if (value.from !== undefined) {
    if (typeof value.from !== 'string' || !cols.has(value.from))
      throw new MappingFileError(file, `${at}: 'from' names no column ${JSON.stringify(value.from)}`);
    out.from = value.from;
  }
  if (value.when !== undefined) {
    if (typeof value.when !== 'string') throw new MappingFileError(file, `${at}: 'when' must be a text`);
    checkCondition(file, at, value.when, cols);
    out.when = value.when;
  }
  if (value.format !== undefined) {
    if (!['date', 'dateTime', 'instant', 'time'].includes(type))
      throw new MappingFileError(file, `${at}: 'format' is for date and time types`);
    out.format = list(value.format).map(String);
  } else if (['date', 'dateTime', 'instant'].includes(type)) out.format = ['ISO'];
  for (const f of out.format ?? []) {
    try {
      compileFormat(f);
    } catch (error) {
      throw new MappingFileError(file, `${at}: ${(error as Error).message}`);
    }
  }
  if (value.vocabulary !== undefined) {
    if (typeof value.vocabulary !== 'string')
      throw new MappingFileError(file, `${at}: 'vocabulary' must be a text`);
    out.vocabulary = value.vocabulary;
  }
  if (value.constant !== undefined) out.constant = value.constant;
  if (value.default !== undefined) {
    if (typeof value.default !== 'string' && typeof value.default !== 'number')
      throw new MappingFileError(file, `${at}: 'default' must be a text`);
    out.default = String(value.default);
  }
  return out;
}

function identity(file: string, value: unknown, where: string, cols: Map<string, ColumnSpec>): IdentitySpec {
  if (!isDoc(value) || typeof value.system !== 'string' || value.system === '')
    throw new MappingFileError(file, `${where}: 'identity' needs a 'system' (a URI) and 'value' columns`);
  const values = list(value.value).map(String);
  for (const v of values)
    if (!cols.has(v)) throw new MappingFileError(file, `${where}: identity value names no column '${v}'`);
  if (values.length === 0 && value.fallback !== 'row')
    throw new MappingFileError(file, `${where}: identity needs 'value' columns (or 'fallback: row')`);
  if (value.fallback !== undefined && value.fallback !== 'row')
    throw new MappingFileError(file, `${where}: identity 'fallback' can only be 'row'`);
  return { system: value.system, value: values, ...(value.fallback === 'row' ? { fallback: 'row' } : {}) };
}

function resource(file: string, value: unknown, n: number, cols: Map<string, ColumnSpec>): ResourceSpec {
  const where = `resources[${n}]`;
  if (!isDoc(value)) throw new MappingFileError(file, `${where}: not a mapping`);
  if (typeof value.key !== 'string' || value.key === '')
    throw new MappingFileError(file, `${where}: 'key' must be a text`);
  const type = value.resourceType;
  if (typeof type !== 'string' || !isRestResourceType(type) || type === 'AuditEvent')
    throw new MappingFileError(file, `${where}: '${String(type)}' is not an R4 resource type`);
  const write = value.write ?? 'update';
  if (write !== 'update' && write !== 'create')
    throw new MappingFileError(file, `${where}: 'write' must be update or create`);
  if (!Array.isArray(value.rows)) throw new MappingFileError(file, `${where}: 'rows' must be a list`);
  const refs = value.refs ?? {};
  if (!isDoc(refs)) throw new MappingFileError(file, `${where}: 'refs' must be a mapping`);
  const spec: ResourceSpec = {
    key: value.key,
    resourceType: type,
    write,
    identity: identity(file, value.identity, `${where} (${value.key})`, cols),
    rows: value.rows.map((r: unknown, i) => row(file, r, `${where} rows[${i}]`, cols)),
    refs: Object.fromEntries(Object.entries(refs).map(([k, v]) => [k, String(v)])),
  };
  if (value.when !== undefined) {
    if (typeof value.when !== 'string') throw new MappingFileError(file, `${where}: 'when' must be a text`);
    checkCondition(file, where, value.when, cols);
    spec.when = value.when;
  }
  return spec;
}

/** Reads and checks one CSV mapping file. */
export function readCsvMapping(
  file: string,
  vocabularies: CsvCatalog['vocabularies'],
  defaultZone = 'UTC',
): CsvMapping {
  const doc = readYaml(file);
  const cols = columns(file, doc.columns);
  if (!Array.isArray(doc.resources) || doc.resources.length === 0)
    throw new MappingFileError(file, "'resources' must be a non-empty list");
  const resources = doc.resources.map((r: unknown, i) => resource(file, r, i, cols));
  const keys = new Set<string>();
  for (const r of resources) {
    if (keys.has(r.key)) throw new MappingFileError(file, `resource key '${r.key}' appears twice`);
    keys.add(r.key);
  }
  for (const r of resources) {
    for (const [to, target] of Object.entries(r.refs))
      if (!keys.has(target))
        throw new MappingFileError(file, `resource '${r.key}': ref ${to} names no resource '${target}'`);
    for (const x of r.rows)
      if (x.vocabulary !== undefined && !vocabularies.has(x.vocabulary))
        throw new MappingFileError(
          file,
          `resource '${r.key}' row '${x.to}': no vocabulary '${x.vocabulary}'`,
        );
  }
  return {
    name: basename(file).replace(/\.ya?ml$/, ''),
    description: typeof doc.description === 'string' ? doc.description : '',
    read: readOptions(file, doc.csv, defaultZone),
    columns: cols,
    resources,
    file,
  };
}

/** Vocabularies CSV mappings share with the HL7 v2 ones (sex, statuses, interpretation, units). */
export const sharedVocabularyDir = join(projectRoot, 'mappings', 'hl7v2', 'vocabulary');

function readVocabularies(dir: string, into: CsvCatalog['vocabularies']): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith('.csv'))
    .sort()) {
    const file = join(dir, f);
    into.set(f.replace(/\.csv$/, ''), readVocabulary(file, readFileSync(file, 'utf8')));
  }
}

/**
 * Loads and checks every CSV mapping under `dir` (`*.yaml`). Vocabularies are the HL7 v2 ones
 * (`mappings/hl7v2/vocabulary/`) and the CSV mappings' own (`vocabulary/`), which win by name.
 */
export function loadCsvCatalog(
  dir: string = defaultCsvMappingDir,
  defaultZone = 'UTC',
  sharedVocabularies: string = sharedVocabularyDir,
): CsvCatalog {
  const catalog: CsvCatalog = { mappings: new Map(), vocabularies: new Map() };
  readVocabularies(sharedVocabularies, catalog.vocabularies);
  if (!existsSync(dir)) return catalog;
  readVocabularies(join(dir, 'vocabulary'), catalog.vocabularies);
  for (const f of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const mapping = readCsvMapping(join(dir, f), catalog.vocabularies, defaultZone);
    catalog.mappings.set(mapping.name, mapping);
  }
  return catalog;
}

/** The resource types a mapping writes (with the Provenance of each file), for access checks. */
export function typesWritten(mapping: CsvMapping): string[] {
  return [...new Set([...mapping.resources.map((r) => r.resourceType), 'Provenance'])];
}
