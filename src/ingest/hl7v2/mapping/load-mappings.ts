import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../../../fhir/definitions-path.js';
import {
  isGroup,
  type Catalog,
  type DatatypeMap,
  type MessageMap,
  type ResourceSpec,
  type Row,
  type SegmentMap,
  type VocabularyEntry,
} from './model.js';
import { primitiveNames } from './primitives.js';
import { compileCondition } from './when.js';

/** Where the mapping files that ship with Ferry are. */
export const defaultMappingDir = join(projectRoot, 'mappings', 'hl7v2');

/** A mapping file that cannot be used, named with why. */
export class MappingFileError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'MappingFileError';
  }
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

export function readYaml(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new MappingFileError(file, `not valid YAML: ${(error as Error).message.split('\n')[0] ?? ''}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new MappingFileError(file, 'expected a mapping (key: value) at the top');
  return doc as Record<string, unknown>;
}

const nameOf = (file: string): string => basename(file).replace(/\.ya?ml$|\.csv$/, '');

function text(file: string, doc: Record<string, unknown>, key: string): string {
  const v = doc[key];
  if (typeof v !== 'string' || v === '') throw new MappingFileError(file, `'${key}' must be a text`);
  return v;
}

function rows(file: string, value: unknown, where: string): Row[] {
  if (!Array.isArray(value)) throw new MappingFileError(file, `${where}: 'rows' must be a list`);
  return value.map((r: unknown, i) => {
    if (r === null || typeof r !== 'object')
      throw new MappingFileError(file, `${where} row ${i + 1}: not a mapping`);
    const row = r as Record<string, unknown>;
    if (typeof row.to !== 'string' || row.to === '')
      throw new MappingFileError(file, `${where} row ${i + 1}: 'to' is required`);
    if (row.from === undefined && row.constant === undefined)
      throw new MappingFileError(file, `${where} row ${i + 1} (${row.to}): needs 'from' or 'constant'`);
    for (const k of ['from', 'when', 'type', 'vocabulary'])
      if (row[k] !== undefined && typeof row[k] !== 'string' && typeof row[k] !== 'number')
        throw new MappingFileError(file, `${where} row ${i + 1} (${row.to}): '${k}' must be a text`);
    const out: Row = { to: row.to };
    const textOf = (v: unknown): string | undefined =>
      typeof v === 'string' ? v : typeof v === 'number' ? v.toString() : undefined;
    const from = textOf(row.from);
    const when = textOf(row.when);
    const type = textOf(row.type);
    const vocabulary = textOf(row.vocabulary);
    if (from !== undefined) out.from = from;
    if (when !== undefined) out.when = when;
    if (type !== undefined) out.type = type;
    if (vocabulary !== undefined) out.vocabulary = vocabulary;
    if (row.constant !== undefined) out.constant = row.constant;
    if (row.args !== undefined) {
      if (typeof row.args !== 'object' || row.args === null)
        throw new MappingFileError(file, `${where} row ${i + 1}: 'args' must be a mapping`);
      out.args = Object.fromEntries(Object.entries(row.args).map(([k, v]) => [k, String(v)]));
    }
    return out;
  });
}

/** Parses a CSV line (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

/**
 * A vocabulary CSV: a header `code,target[,display,system]`, then one row per source code;
 * lines starting with `#` are comments.
 */
export function readVocabulary(file: string, text: string): Map<string, VocabularyEntry> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = csvFields(lines.shift() ?? '').map((h) => h.trim());
  if (header[0] !== 'code' || header[1] !== 'target')
    throw new MappingFileError(file, "the header must start with 'code,target'");
  const map = new Map<string, VocabularyEntry>();
  for (const line of lines) {
    const [code = '', target = '', display = '', system = ''] = csvFields(line).map((f) => f.trim());
    if (code === '') continue;
    if (map.has(code)) throw new MappingFileError(file, `code '${code}' appears twice`);
    map.set(code, { target, ...(display ? { display } : {}), ...(system ? { system } : {}) });
  }
  return map;
}

function resourceSpec(file: string, value: unknown, where: string): ResourceSpec {
  if (value === null || typeof value !== 'object')
    throw new MappingFileError(file, `${where}: not a mapping`);
  const spec = value as Record<string, unknown>;
  for (const k of ['key', 'segment', 'map'])
    if (typeof spec[k] !== 'string') throw new MappingFileError(file, `${where}: '${k}' must be a text`);
  if (spec.identity === null || typeof spec.identity !== 'object')
    throw new MappingFileError(file, `${where} (${String(spec.key)}): 'identity' is required`);
  const following = spec.following as { segment?: unknown; rows?: unknown } | undefined;
  const out = { ...spec } as unknown as ResourceSpec;
  if (following) {
    if (typeof following.segment !== 'string')
      throw new MappingFileError(file, `${where}: 'following.segment' must be a text`);
    out.following = { segment: following.segment, rows: rows(file, following.rows, `${where} following`) };
  }
  if (spec.rows !== undefined) out.rows = rows(file, spec.rows, `${where} rows`);
  return out;
}

function messageMap(file: string, doc: Record<string, unknown>): MessageMap {
  const events = doc.events;
  if (!Array.isArray(events) || events.some((e) => typeof e !== 'string'))
    throw new MappingFileError(file, "'events' must be a list of MSH-9 values such as ORU^R01");
  if (!Array.isArray(doc.resources)) throw new MappingFileError(file, "'resources' must be a list");
  const resources = doc.resources.map((r: unknown, i) => {
    const where = `resources[${i}]`;
    if (r !== null && typeof r === 'object' && 'group' in r) {
      const g = r as Record<string, unknown>;
      if (!Array.isArray(g.start) || !Array.isArray(g.members) || !Array.isArray(g.resources))
        throw new MappingFileError(file, `${where}: a group needs 'start', 'members' and 'resources' lists`);
      return {
        group: String(g.group),
        start: g.start.map(String),
        members: g.members.map(String),
        resources: g.resources.map((s: unknown, j) => resourceSpec(file, s, `${where}.resources[${j}]`)),
      };
    }
    return resourceSpec(file, r, where);
  });
  const out: MessageMap = {
    name: nameOf(file),
    structure: text(file, doc, 'structure'),
    events: events as string[],
    resources,
  };
  if (doc.merge !== undefined) out.merge = doc.merge as MessageMap['merge'];
  return out;
}

/** Checks that every map, data type and vocabulary a file names exists. */
function checkReferences(catalog: Catalog): void {
  const checkRows = (file: string, list: Row[]): void => {
    for (const row of list) {
      if (row.type && !primitiveNames.has(row.type) && !catalog.datatypes.has(row.type))
        throw new MappingFileError(file, `row '${row.to}': no data type '${row.type}'`);
      if (row.when !== undefined) {
        try {
          compileCondition(row.when);
        } catch (error) {
          throw new MappingFileError(file, `row '${row.to}': ${(error as Error).message}`);
        }
      }
      if (row.vocabulary && !catalog.vocabularies.has(row.vocabulary))
        throw new MappingFileError(file, `row '${row.to}': no vocabulary '${row.vocabulary}'`);
    }
  };
  for (const m of catalog.segments.values()) checkRows(`segments/${m.name}`, m.rows);
  for (const m of catalog.datatypes.values()) checkRows(`datatypes/${m.name}`, m.rows);
  for (const m of catalog.messages.values()) {
    const specs = m.resources.flatMap((r) => (isGroup(r) ? r.resources : [r]));
    for (const spec of specs) {
      for (const name of [spec.map, ...(spec.also ?? []).map((a) => a.map)])
        if (!catalog.segments.has(name))
          throw new MappingFileError(
            `messages/${m.name}`,
            `resource '${spec.key}': no segment map '${name}'`,
          );
      if (spec.following) checkRows(`messages/${m.name}`, spec.following.rows);
      if (spec.rows) checkRows(`messages/${m.name}`, spec.rows);
    }
  }
}

/** Loads and checks every mapping file under `dir` (messages/, segments/, datatypes/, vocabulary/). */
export function loadCatalog(dir: string = defaultMappingDir): Catalog {
  const catalog: Catalog = {
    messages: new Map(),
    segments: new Map(),
    datatypes: new Map(),
    vocabularies: new Map(),
  };
  for (const file of yamlFiles(join(dir, 'segments'))) {
    const doc = readYaml(file);
    const map: SegmentMap = {
      name: nameOf(file),
      segment: text(file, doc, 'segment'),
      resource: text(file, doc, 'resource'),
      rows: rows(file, doc.rows, 'segment map'),
    };
    catalog.segments.set(map.name, map);
  }
  for (const file of yamlFiles(join(dir, 'datatypes'))) {
    const doc = readYaml(file);
    const map: DatatypeMap = {
      name: nameOf(file),
      datatype: text(file, doc, 'datatype'),
      rows: rows(file, doc.rows, 'data type map'),
    };
    catalog.datatypes.set(map.name, map);
  }
  const vocabularyDir = join(dir, 'vocabulary');
  if (existsSync(vocabularyDir)) {
    for (const f of readdirSync(vocabularyDir).filter((f) => f.endsWith('.csv'))) {
      const file = join(vocabularyDir, f);
      catalog.vocabularies.set(nameOf(file), readVocabulary(file, readFileSync(file, 'utf8')));
    }
  }
  for (const file of yamlFiles(join(dir, 'messages'))) {
    const map = messageMap(file, readYaml(file));
    catalog.messages.set(map.name, map);
  }
  if (catalog.messages.size === 0) throw new MappingFileError(dir, 'no message maps in messages/');
  checkReferences(catalog);
  return catalog;
}

/** The message map for MSH-9 (`code^trigger`), by event; undefined when none handles it. */
export function messageMapFor(catalog: Catalog, code: string, trigger?: string): MessageMap | undefined {
  const event = trigger ? `${code}^${trigger}` : code;
  for (const m of catalog.messages.values()) if (m.events.includes(event)) return m;
  return undefined;
}
