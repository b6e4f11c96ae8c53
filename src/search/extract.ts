import { compilePath, type CompiledPath } from './extract-path.js';
import { textEntries } from './extract-text.js';
import { dateEntries, numberEntries, quantityEntries } from './extract-ranges.js';
import { referenceEntries, stringEntries, tokenEntries, uriEntries } from './extract-values.js';
import { searchParameterByUrl, searchParameters } from './parameters.js';
import type { CompositeEntry, IndexEntry, SearchParamDef, SearchParamType } from './types.js';

/** What extraction found: the entries, and the parameters whose expression failed (and why). */
export interface Extraction {
  entries: IndexEntry[];
  failures: { param: string; message: string }[];
}

type Convert = (param: string, value: unknown, type: string | null) => IndexEntry[];

const converters: Partial<Record<SearchParamType, Convert>> = {
  token: tokenEntries,
  string: stringEntries,
  date: dateEntries,
  number: numberEntries,
  quantity: quantityEntries,
  reference: referenceEntries,
  uri: uriEntries,
};

/** Composite combinations per context element beyond this are dropped (a runaway cross product). */
const maxCombinations = 64;

/** A parameter compiled once: its accessor, its converter, and for a composite its components. */
interface Plan {
  def: SearchParamDef;
  path: CompiledPath;
  convert?: Convert;
  components?: { param: string; expression: string; convert?: Convert; paths: Map<string, CompiledPath> }[];
}

const plans = new WeakMap<SearchParamDef, Plan>();

function planOf(def: SearchParamDef): Plan {
  let plan = plans.get(def);
  if (!plan) {
    plan = { def, path: compilePath(def.expression, def.base), convert: converters[def.type] };
    if (def.type === 'composite') {
      plan.components = (def.components ?? []).map((c) => {
        const component = searchParameterByUrl(def.base, c.definition);
        return {
          param: component?.code ?? def.code,
          expression: c.expression,
          convert: component ? converters[component.type] : undefined,
          paths: new Map(),
        };
      });
    }
    plans.set(def, plan);
  }
  return plan;
}

/**
 * The version of what extraction produces. Raise it whenever a change makes existing resources
 * index differently (a new parameter, another normal form, a row left out): a store indexed by an
 * older version then says so at start and `ferry reindex` brings it up to date.
 * 2: `_id` is no longer indexed.
 */
export const extractionVersion = 2;

/**
 * The index entries of a resource (R4 search.html): for each search parameter of its type, the
 * values its expression selects, as entries of the parameter's kind. A parameter whose expression
 * throws is reported in `failures` and the others are still indexed. `parameters` defaults to the
 * official R4 parameters of the resource's type; `_id` is left out (stores search their key).
 * The full-text entries (`_text`, `_content`) come too unless `text` is false.
 */
export function extractIndexEntries(
  resource: { resourceType: string },
  parameters: Iterable<SearchParamDef> = searchParameters(resource.resourceType).values(),
  { text = true }: { text?: boolean } = {},
): Extraction {
  const entries: IndexEntry[] = [];
  const failures: Extraction['failures'] = [];
  for (const def of parameters) {
    // every store answers _id from the resource's own key; an index row for it would never be read
    if (def.code === '_id') continue;
    try {
      const plan = planOf(def);
      const found = plan.components ? compositeEntries(plan, resource) : parameterEntries(plan, resource);
      if (found.length === 1) entries.push(found[0] as IndexEntry);
      else if (found.length > 1) entries.push(...uniqueEntries(found));
    } catch (e) {
      failures.push({ param: def.code, message: e instanceof Error ? e.message : String(e) });
    }
  }
  if (text) entries.push(...textEntries(resource));
  return { entries, failures };
}

/** Whether a parameter's expression runs without fhirpath (for benchmarks and diagnostics). */
export function isFastParameter(def: SearchParamDef): boolean {
  const plan = planOf(def);
  return (
    plan.path.fast &&
    plan.path.types.every((type) =>
      (plan.components ?? []).every((c) => componentPath(c, type ?? def.base).fast),
    )
  );
}

function parameterEntries(plan: Plan, resource: object): IndexEntry[] {
  const convert = plan.convert;
  if (!convert) return []; // special (e.g. Location near): nothing generic to index
  const items = plan.path.evaluate(resource, resource);
  if (items.length === 0) return items as [];
  const code = plan.def.code;
  if (items.length === 1 && items[0]) return convert(code, items[0].value, items[0].type);
  const out: IndexEntry[] = [];
  for (const item of items) for (const e of convert(code, item.value, item.type)) out.push(e);
  return out;
}

function componentPath(component: NonNullable<Plan['components']>[number], base: string): CompiledPath {
  let path = component.paths.get(base);
  if (!path) {
    path = compilePath(component.expression, base);
    component.paths.set(base, path);
  }
  return path;
}

/**
 * One CompositeEntry per combination of component values found in the same context element
 * (R4 search.html#composite): for `component-code-value-quantity`, each component's code tokens
 * × that component's value quantity.
 */
function compositeEntries(plan: Plan, resource: object): CompositeEntry[] {
  const out: CompositeEntry[] = [];
  for (const context of plan.path.evaluate(resource, resource)) {
    const base = context.type ?? plan.def.base;
    let combinations: IndexEntry[][] = [[]];
    for (const component of plan.components ?? []) {
      const convert = component.convert;
      if (!convert) return [];
      const values: IndexEntry[] = [];
      for (const item of componentPath(component, base).evaluate(context.value, resource)) {
        for (const entry of convert(component.param, item.value, item.type)) {
          // a CodeableConcept's text-only token cannot be named in a `code$value` search
          if (entry.kind !== 'token' || entry.code !== null) values.push(entry);
        }
      }
      combinations = combinations
        .flatMap((prefix) => values.map((v) => [...prefix, v]))
        .slice(0, maxCombinations);
      if (combinations.length === 0) break;
    }
    for (const c of combinations)
      if (c.length > 0) out.push({ kind: 'composite', param: plan.def.code, components: c });
  }
  return out;
}

/** Drops repeated entries (the same code in two codings, a name given twice…). */
export function uniqueEntries<T extends IndexEntry>(entries: T[]): T[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    const key = entryKey(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function entryKey(e: IndexEntry): string {
  switch (e.kind) {
    case 'token':
      return `${e.system}\u0000${e.code}\u0000${e.text}`;
    case 'string':
      return e.exact;
    case 'uri':
      return e.value;
    case 'date':
    case 'number':
      return `${e.low}\u0000${e.high}`;
    case 'reference':
      return `${e.targetType}\u0000${e.targetId}\u0000${e.url}\u0000${e.version}\u0000${e.identifierSystem}\u0000${e.identifierValue}`;
    default:
      return JSON.stringify(e);
  }
}
