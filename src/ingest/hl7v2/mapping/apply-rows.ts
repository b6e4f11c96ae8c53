import { Hl7Error, type ErrorLocation } from '../hl7-error.js';
import type { Catalog, Row } from './model.js';
import { primitives, type Choice, type PrimitiveContext } from './primitives.js';
import type { Source } from './source-value.js';
import { compileCondition } from './when.js';
import type { ZoneContext } from './date-time.js';

/**
 * Applies mapping rows to one source value, building a FHIR element (a resource or a data
 * type). Pure: values in, JSON out; a value that cannot be converted throws an Hl7Error that
 * says where it is (ERR-2) and why (table 0357).
 */

export interface RowEnv {
  catalog: Catalog;
  zone: ZoneContext;
  /** The segment being mapped, for rows that read another of its fields (OBX-6 for OBX-7). */
  segment?: Source;
  /** Where each top-level FHIR element of the resource came from, for validation errors. */
  elements?: Map<string, ErrorLocation>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function merge(into: Json, from: Json): Json {
  for (const [k, v] of Object.entries(from)) {
    const have = into[k];
    into[k] = isObject(have) && isObject(v) ? merge(have, v) : v;
  }
  return into;
}

const step = /^([A-Za-z_][A-Za-z0-9_]*)(\[x\]|\[\]|\[(\d+)\])?$/;

type Step = [name: string, suffix: string | undefined, index: string | undefined];

/** Paths are few and used for every value: each is parsed once. */
const parsedPaths = new Map<string, Step[]>();

function stepsOf(path: string): Step[] {
  let steps = parsedPaths.get(path);
  if (!steps) {
    steps = path.split('.').map((text): Step => {
      const m = step.exec(text);
      if (!m) throw new Error(`'${path}' is not a FHIR element path`);
      return [m[1] ?? '', m[2], m[3]];
    });
    parsedPaths.set(path, steps);
  }
  return steps;
}

/** Sets `value` at a path such as `name[]`, `coding[0].code`, `valueQuantity` or `value[x]`. */
export function setPath(target: Json, path: string, value: unknown): void {
  const steps = stepsOf(path);
  let node: Json = target;
  steps.forEach(([first, suffixOf, index], i) => {
    let name = first;
    let suffix = suffixOf;
    const last = i === steps.length - 1;
    let v = value;
    if (suffix === '[x]') {
      const choice = value as Choice;
      name = `${name}${choice.choice}`;
      v = choice.value;
      suffix = undefined;
    }
    if (suffix === '[]') {
      const list = (Array.isArray(node[name]) ? node[name] : (node[name] = [])) as unknown[];
      if (last) list.push(v);
      else {
        const next: Json = {};
        list.push(next);
        node = next;
      }
      return;
    }
    if (index !== undefined) {
      const list = (Array.isArray(node[name]) ? node[name] : (node[name] = [])) as unknown[];
      const n = Number(index);
      while (list.length <= n) list.push({});
      if (last) list[n] = isObject(list[n]) && isObject(v) ? merge(list[n], v) : v;
      else {
        if (!isObject(list[n])) list[n] = {};
        node = list[n] as Json;
      }
      return;
    }
    if (last) {
      const have = node[name];
      node[name] = isObject(have) && isObject(v) ? merge(have, v) : v;
      return;
    }
    if (!isObject(node[name])) node[name] = {};
    node = node[name] as Json;
  });
}

/** Drops empty objects and lists left by rows whose values were absent. */
function compact(value: unknown): unknown {
  if (Array.isArray(value)) {
    const list = value.map(compact).filter((v) => v !== undefined);
    return list.length > 0 ? list : undefined;
  }
  if (isObject(value)) {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      const c = compact(v);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

/** An Hl7Error located at `where` when it does not say where itself. */
function located(error: unknown, where: ErrorLocation): unknown {
  if (error instanceof Hl7Error && error.location.segment === undefined)
    return new Hl7Error(error.code, error.message, { ...where, ...error.location }, error.severity);
  return error;
}

function primitiveContext(env: RowEnv): PrimitiveContext {
  return {
    zone: env.zone,
    vocabulary: (name) => env.catalog.vocabularies.get(name) ?? new Map(),
    sibling: (path) => env.segment?.values(path, false) ?? [],
  };
}

/** Looks a code up in a vocabulary map: a primitive code, or a coding added to a CodeableConcept. */
function translate(row: Row, value: unknown, source: Source, env: RowEnv): unknown {
  const vocabulary = env.catalog.vocabularies.get(row.vocabulary ?? '');
  if (!vocabulary) return value;
  if (isObject(value)) {
    const code = source.text('1')?.trim();
    const entry = code === undefined ? undefined : vocabulary.get(code);
    if (!entry?.target) return value;
    const coding = compact({ system: entry.system, code: entry.target, display: entry.display });
    const others: unknown[] = Array.isArray(value.coding) ? (value.coding as unknown[]) : [];
    return { ...value, coding: [coding, ...others] };
  }
  if (typeof value !== 'string') return value;
  const entry = vocabulary.get(value.trim());
  if (!entry)
    throw new Hl7Error(
      103,
      `'${value.slice(0, 20)}' is not a known code here (vocabulary ${row.vocabulary ?? ''})`,
    );
  if (entry.target === '') return undefined; // known, with no FHIR counterpart
  if (row.type === 'Coding')
    return compact({ system: entry.system, code: entry.target, display: entry.display });
  return entry.target === 'true' ? true : entry.target === 'false' ? false : entry.target;
}

/** The value one row makes of one source value (undefined when there is nothing). */
function rowValue(row: Row, source: Source, env: RowEnv): unknown {
  if (row.constant !== undefined)
    return source.text('') === undefined && row.from !== undefined ? undefined : row.constant;
  const type = row.type ?? 'ST';
  const datatype = env.catalog.datatypes.get(type);
  let value: unknown;
  if (datatype) {
    value = compact(applyRows(datatype.rows, source, {}, { ...env, elements: undefined }));
  } else {
    const primitive = primitives[type];
    if (!primitive) throw new Hl7Error(207, `no data type mapper '${type}'`);
    value = primitive(source, primitiveContext(env), row.args ?? {});
  }
  if (value === undefined || row.vocabulary === undefined) return value;
  return translate(row, value, source, env);
}

/** Applies rows to a source, writing into `target` (returned). */
export function applyRows(rows: readonly Row[], source: Source, target: Json, env: RowEnv): Json {
  for (const row of rows) {
    if (row.when !== undefined && !compileCondition(row.when)(source)) continue;
    if (row.from === undefined) {
      setPath(target, row.to, row.constant);
      continue;
    }
    const many = row.to.includes('[]');
    for (const value of source.values(row.from, many)) {
      let result: unknown;
      try {
        result = rowValue(row, value, env);
      } catch (error) {
        throw located(error, value.location);
      }
      if (result === undefined) continue;
      setPath(target, row.to, result);
      const element = /^[A-Za-z_]+/.exec(row.to)?.[0];
      if (env.elements && element && !env.elements.has(element)) env.elements.set(element, value.location);
    }
    // an element left empty is still "about" the field it would come from (a missing OBX-3)
    const element = /^[A-Za-z_]+/.exec(row.to)?.[0];
    const field = /^(?:[A-Z][A-Z0-9]{2}-)?(\d+)/.exec(row.from)?.[1];
    if (env.elements && element && field && source.location.field === undefined && !env.elements.has(element))
      env.elements.set(element, { ...source.location, field: Number(field) });
  }
  return target;
}

export { compact };
