import { uuidFrom } from '../hl7v2/mapping/apply-mapping.js';
import { compact, setPath } from '../hl7v2/mapping/apply-rows.js';
import type { VocabularyEntry } from '../hl7v2/mapping/model.js';
import type { Source } from '../hl7v2/mapping/source-value.js';
import { compileCondition } from '../hl7v2/mapping/when.js';
import { applyTransforms, CellError, convertCell, type ConvertOptions } from './convert.js';
import type { CsvCatalog, CsvMapping, CsvRow, ResourceSpec } from './model.js';

/**
 * One CSV row → the resources its mapping makes, each with the identity it is found again by.
 * Pure: cells in, JSON out. A cell that cannot be converted (a date that does not match its
 * format, a number that is not one, a code no vocabulary knows, a required column left empty)
 * throws a RowError naming the column and why.
 */

export class RowError extends Error {
  constructor(
    /** The column's header text in the file, when the error is about one. */
    readonly column: string | undefined,
    reason: string,
  ) {
    super(reason);
    this.name = 'RowError';
  }
}

export interface Identity {
  system: string;
  value: string;
}

export interface MappedResource {
  spec: ResourceSpec;
  /** `urn:uuid:` from the file and the identity: rows that make the same resource share it. */
  fullUrl: string;
  resource: Record<string, unknown>;
  identity: Identity;
  /** Top-level FHIR element → the column key it came from, to name the column of a FHIR error. */
  elements: Map<string, string>;
}

/** Where each column key sits in the file's records (from the header). */
export type ColumnIndex = ReadonlyMap<string, number>;

/** The identity system of resources known only by their file and row (`fallback: row`). */
export const rowSystem = (mapping: string, sha256: string): string =>
  `urn:ferry:csv:${encodeURIComponent(mapping)}:${sha256}`;

export interface RowInput {
  cells: readonly string[];
  /** The row's number in the file, counting the header as row 1 (as a spreadsheet shows it). */
  row: number;
  /** The file's SHA-256, for identities that fall back on the row. */
  sha256: string;
}

/** Reads a row's cells by column key, cleaned and with "no value" texts as undefined. */
export class RowCells {
  private readonly cache = new Map<string, string | undefined>();

  constructor(
    private readonly mapping: CsvMapping,
    private readonly index: ColumnIndex,
    private readonly cells: readonly string[],
  ) {}

  get(key: string): string | undefined {
    if (this.cache.has(key)) return this.cache.get(key);
    const at = this.index.get(key);
    const column = this.mapping.columns.get(key);
    let v = at === undefined ? undefined : this.cells[at];
    if (v !== undefined && column) {
      if (this.mapping.read.trim) v = v.trim();
      if (column.transform.length > 0) v = applyTransforms(v, column.transform);
      if (v === '' || this.mapping.read.empty.includes(v)) v = undefined;
    }
    this.cache.set(key, v);
    return v;
  }

  /** The row as a condition source (`when`): paths are column keys. */
  readonly source: Source = { location: {}, text: (path) => this.get(path), values: () => [] };
}

const topElement = (path: string): string => /^[A-Za-z_]+/.exec(path)?.[0] ?? path;

function translate(
  row: CsvRow,
  value: unknown,
  vocabulary: ReadonlyMap<string, VocabularyEntry>,
): { value: unknown; entry?: VocabularyEntry } {
  if (typeof value !== 'string') return { value };
  const entry = vocabulary.get(value) ?? vocabulary.get('*');
  if (!entry)
    throw new CellError(`'${value.slice(0, 40)}' is not a known code (vocabulary ${row.vocabulary ?? ''})`);
  if (entry.target === '') return { value: undefined };
  const target = entry.target === 'true' ? true : entry.target === 'false' ? false : entry.target;
  return { value: target, entry };
}

/** What a row needs at every use, worked out once per row of the mapping. */
interface PreparedRow {
  condition?: (source: Source) => boolean;
  convert: ConvertOptions;
  element: string;
  /** The Coding path of a `.code` target, which a vocabulary's system and display fill too. */
  coding?: string;
}

const prepared = new WeakMap<CsvRow, PreparedRow>();

function prepare(row: CsvRow, mapping: CsvMapping, catalog: CsvCatalog): PreparedRow {
  let p = prepared.get(row);
  if (!p) {
    const units = catalog.vocabularies.get('units');
    p = {
      convert: {
        type: row.type,
        ...(row.format ? { formats: row.format } : {}),
        timezone: mapping.read.timezone,
        decimalComma: mapping.read.decimalComma,
        ...(row.type === 'unit' && units ? { units } : {}),
      },
      element: topElement(row.to),
      ...(row.when !== undefined ? { condition: compileCondition(row.when) } : {}),
      ...(row.to.endsWith('.code') ? { coding: row.to.slice(0, -'.code'.length) } : {}),
    };
    prepared.set(row, p);
  }
  return p;
}

function applyRow(
  row: CsvRow,
  cells: RowCells,
  mapping: CsvMapping,
  catalog: CsvCatalog,
  target: Record<string, unknown>,
  elements: Map<string, string>,
): void {
  const p = prepare(row, mapping, catalog);
  if (p.condition && !p.condition(cells.source)) return;
  if (row.from === undefined) {
    setPath(target, row.to, row.constant);
    return;
  }
  let text = cells.get(row.from);
  if (text !== undefined && row.transform.length > 0) text = applyTransforms(text, row.transform);
  if (text === undefined || text === '') {
    if (row.default === undefined) return;
    text = row.default;
  }
  if (row.constant !== undefined) {
    setPath(target, row.to, row.constant);
    return;
  }
  let value = convertCell(text, p.convert);
  let entry: VocabularyEntry | undefined;
  if (row.vocabulary !== undefined) {
    ({ value, entry } = translate(row, value, catalog.vocabularies.get(row.vocabulary) ?? new Map()));
    if (value === undefined) return;
  }
  setPath(target, row.to, value);
  // a code mapped with its system and display fills the Coding it belongs to
  if (entry && p.coding !== undefined) {
    if (entry.system) setPath(target, `${p.coding}.system`, entry.system);
    if (entry.display) setPath(target, `${p.coding}.display`, entry.display);
  }
  if (!elements.has(p.element)) elements.set(p.element, row.from);
}

/** The header text of a column key. */
const headerOf = (mapping: CsvMapping, key: string | undefined): string | undefined =>
  key === undefined ? undefined : (mapping.columns.get(key)?.header ?? key);

function identify(
  spec: ResourceSpec,
  cells: RowCells,
  mapping: CsvMapping,
  input: RowInput,
  resource: Record<string, unknown>,
): Identity {
  const parts = spec.identity.value.map((k) => cells.get(k) ?? '');
  let identity: Identity;
  if (parts.length > 0 && parts.every((p) => p !== ''))
    identity = { system: spec.identity.system, value: parts.join('/') };
  else if (spec.identity.fallback === 'row')
    identity = { system: rowSystem(mapping.name, input.sha256), value: String(input.row) };
  else {
    const empty = spec.identity.value.filter((k) => (cells.get(k) ?? '') === '');
    throw new RowError(
      headerOf(mapping, empty[0]),
      `${empty.map((k) => headerOf(mapping, k)).join(', ')} ${empty.length > 1 ? 'are' : 'is'} empty: the ${spec.resourceType} (${spec.key}) cannot be found again without it`,
    );
  }
  const list = (Array.isArray(resource.identifier) ? resource.identifier : []) as {
    system?: string;
    value?: string;
  }[];
  if (!list.some((i) => i.system === identity.system && i.value === identity.value))
    resource.identifier = [...list, { ...identity }];
  return identity;
}

/** The resources one row makes (in mapping order), without references between them yet. */
export function mapRow(
  mapping: CsvMapping,
  catalog: CsvCatalog,
  index: ColumnIndex,
  input: RowInput,
): MappedResource[] {
  const cells = new RowCells(mapping, index, input.cells);
  if (mapping.read.encoding === 'utf-8') {
    // bytes that are not UTF-8 decode to U+FFFD: refuse the row rather than store mojibake
    for (const [key, at] of index)
      if (input.cells[at]?.includes('\uFFFD'))
        throw new RowError(
          headerOf(mapping, key),
          'the text is not valid UTF-8 (if the file is Latin-1, read it with encoding latin1)',
        );
  }
  for (const [key, column] of mapping.columns)
    if (column.required && cells.get(key) === undefined)
      throw new RowError(column.header, `the required column ${column.header} is empty`);
  const out: MappedResource[] = [];
  for (const spec of mapping.resources) {
    if (spec.when !== undefined && !compileCondition(spec.when)(cells.source)) continue;
    const target: Record<string, unknown> = { resourceType: spec.resourceType };
    const elements = new Map<string, string>();
    for (const row of spec.rows) {
      try {
        applyRow(row, cells, mapping, catalog, target, elements);
      } catch (error) {
        if (error instanceof CellError) throw new RowError(headerOf(mapping, row.from), error.message);
        throw error;
      }
    }
    const resource = (compact(target) ?? { resourceType: spec.resourceType }) as Record<string, unknown>;
    const identity = identify(spec, cells, mapping, input, resource);
    const fullUrl = `urn:uuid:${uuidFrom(`${input.sha256}|${spec.resourceType}|${identity.system}|${identity.value}`)}`;
    out.push({ spec, resource, identity, elements, fullUrl });
  }
  // references between the row's resources
  for (const m of out) {
    for (const [to, key] of Object.entries(m.spec.refs)) {
      const target = out.find((o) => o.spec.key === key);
      if (target) setPath(m.resource, to, { reference: target.fullUrl });
    }
  }
  return out;
}

/** The column (header text) a FHIR element of a mapped resource came from, when known. */
export function columnOf(
  mapping: CsvMapping,
  mapped: MappedResource,
  element: string | undefined,
): string | undefined {
  if (element === undefined) return undefined;
  for (const [name, key] of mapped.elements)
    if (element === name || element.startsWith(name)) return headerOf(mapping, key);
  return undefined;
}
