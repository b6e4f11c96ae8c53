import { readFileSync } from 'node:fs';
import type { CodeSystem, CodeSystemConcept, ValueSet, ValueSetComposeInclude } from 'fhir/r4.js';
import { r4DefinitionFile } from '../fhir/definitions-path.js';

/**
 * ValueSet expansion over the terminology shipped with the official R4 definitions (R4
 * valueset.html#compose): enumerated concepts, whole CodeSystems, `is-a` / `descendent-of` /
 * `is-not-a` / `=` filters on a shipped CodeSystem's hierarchy, nested `valueSet` imports and
 * `exclude`. A ValueSet that draws on a CodeSystem Ferry does not have (LOINC, SNOMED CT, UCUM…)
 * cannot be expanded: its expansion is `undefined`, and callers must treat membership as unknown.
 */

/** One member of an expansion. */
export interface ExpandedCode {
  system: string;
  code: string;
  display?: string;
}

/** An expansion: codes keyed `system|code` for membership tests. */
export interface Expansion {
  url: string;
  codes: Map<string, ExpandedCode>;
}

const files = ['valuesets.json', 'v3-codesystems.json', 'v2-tables.json'];

interface Terminology {
  valueSets: Map<string, ValueSet>;
  codeSystems: Map<string, CodeSystem>;
}

let terminology: Terminology | undefined;
const expansions = new Map<string, Expansion | undefined>();

function load(): Terminology {
  if (terminology) return terminology;
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const file of files) {
    const bundle = JSON.parse(readFileSync(r4DefinitionFile(file), 'utf8')) as {
      entry?: { resource?: ValueSet | CodeSystem }[];
    };
    for (const { resource } of bundle.entry ?? []) {
      if (!resource?.url) continue;
      if (resource.resourceType === 'ValueSet' && !valueSets.has(resource.url))
        valueSets.set(resource.url, resource);
      if (resource.resourceType === 'CodeSystem' && !codeSystems.has(resource.url))
        codeSystems.set(resource.url, resource);
    }
  }
  terminology = { valueSets, codeSystems };
  return terminology;
}

/** Loads the shipped terminology ahead of the first binding check. */
export function warmTerminology(): void {
  load();
}

/** `http://…/ValueSet/x|4.0.1` → `http://…/ValueSet/x` (the shipped set holds one version of each). */
const withoutVersion = (url: string): string => url.split('|')[0] ?? url;

/** True when Ferry ships a definition of this ValueSet (whether or not it can be expanded). */
export function isKnownValueSet(url: string): boolean {
  return load().valueSets.has(withoutVersion(url));
}

/** Every concept of a CodeSystem, walking nested concepts; `undefined` when not shipped complete. */
function codeSystemConcepts(system: string): CodeSystemConcept[] | undefined {
  const cs = load().codeSystems.get(system);
  if (!cs || (cs.content !== 'complete' && cs.content !== 'fragment')) return undefined;
  if (cs.content === 'fragment') return undefined;
  const out: CodeSystemConcept[] = [];
  const walk = (concepts: CodeSystemConcept[] | undefined): void => {
    for (const c of concepts ?? []) {
      out.push(c);
      walk(c.concept);
    }
  };
  walk(cs.concept);
  return out;
}

/** A shipped CodeSystem's is-a links (nesting and `subsumedBy`/`parent` properties), built once. */
interface Hierarchy {
  children: Map<string, CodeSystemConcept[]>;
  parents: Map<string, string[]>;
}
const hierarchies = new Map<string, Hierarchy>();

function hierarchyOf(system: string): Hierarchy {
  let h = hierarchies.get(system);
  if (h) return h;
  const children = new Map<string, CodeSystemConcept[]>();
  const parents = new Map<string, string[]>();
  const link = (parent: string, child: CodeSystemConcept): void => {
    children.set(parent, [...(children.get(parent) ?? []), child]);
    parents.set(child.code, [...(parents.get(child.code) ?? []), parent]);
  };
  const walk = (concepts: CodeSystemConcept[] | undefined, parent?: string): void => {
    for (const c of concepts ?? []) {
      if (parent !== undefined) link(parent, c);
      for (const p of c.property ?? []) {
        if ((p.code === 'subsumedBy' || p.code === 'parent') && p.valueCode) link(p.valueCode, c);
      }
      walk(c.concept, c.code);
    }
  };
  walk(load().codeSystems.get(system)?.concept);
  h = { children, parents };
  hierarchies.set(system, h);
  return h;
}

/** The concept with `code` and all its descendants (nested concepts and `subsumedBy`/`parent` properties). */
function descendants(system: string, code: string, includeSelf: boolean): CodeSystemConcept[] | undefined {
  const all = codeSystemConcepts(system);
  if (!all) return undefined;
  const root = all.find((c) => c.code === code);
  if (!root) return [];
  const { children } = hierarchyOf(system);
  const out: CodeSystemConcept[] = includeSelf ? [root] : [];
  const seen = new Set([root.code]);
  const queue = [root.code];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      if (seen.has(child.code)) continue;
      seen.add(child.code);
      out.push(child);
      queue.push(child.code);
    }
  }
  return out;
}

/** The codes one `include` or `exclude` names; `undefined` when they cannot be known here. */
function includeCodes(
  include: ValueSetComposeInclude,
  stack: string[],
): Map<string, ExpandedCode> | undefined {
  let codes: Map<string, ExpandedCode> | undefined;
  const system = include.system;
  if (system !== undefined) {
    codes = new Map();
    if (include.concept) {
      for (const c of include.concept)
        codes.set(`${system}|${c.code}`, { system, code: c.code, display: c.display });
    } else if (include.filter) {
      let matched: CodeSystemConcept[] | undefined;
      for (const filter of include.filter) {
        const subset = filterConcepts(system, filter.property, filter.op, filter.value);
        if (!subset) return undefined;
        const keep = new Set(subset.map((c) => c.code));
        matched = matched ? matched.filter((c) => keep.has(c.code)) : subset;
      }
      for (const c of matched ?? [])
        codes.set(`${system}|${c.code}`, { system, code: c.code, display: c.display });
    } else {
      const all = codeSystemConcepts(system);
      if (!all) return undefined;
      for (const c of all) codes.set(`${system}|${c.code}`, { system, code: c.code, display: c.display });
    }
  }
  // Nested ValueSets: the include is the intersection of the system part and every named set.
  for (const url of include.valueSet ?? []) {
    const nested = expand(url, stack);
    if (!nested) return undefined;
    codes = codes ? new Map([...codes].filter(([key]) => nested.codes.has(key))) : new Map(nested.codes);
  }
  return codes;
}

function filterConcepts(
  system: string,
  property: string,
  op: string,
  value: string,
): CodeSystemConcept[] | undefined {
  if (property === 'concept' && op === 'is-a') return descendants(system, value, true);
  if (property === 'concept' && op === 'descendent-of') return descendants(system, value, false);
  if (property === 'concept' && op === 'is-not-a') {
    const all = codeSystemConcepts(system);
    const below = descendants(system, value, true);
    if (!all || !below) return undefined;
    const drop = new Set(below.map((c) => c.code));
    return all.filter((c) => !drop.has(c.code));
  }
  if (op === '=') {
    const all = codeSystemConcepts(system);
    return all?.filter((c) =>
      (c.property ?? []).some(
        (p) => p.code === property && [p.valueCode, p.valueString, String(p.valueBoolean)].includes(value),
      ),
    );
  }
  return undefined;
}

function expand(url: string, stack: string[]): Expansion | undefined {
  const key = withoutVersion(url);
  if (expansions.has(key)) return expansions.get(key);
  if (stack.includes(key)) return undefined;
  const vs = load().valueSets.get(key);
  const result = vs ? expandDefinition(vs, key, stack) : undefined;
  expansions.set(key, result);
  return result;
}

/** A ValueSet's codes from its compose (against shipped terminology) or its stored expansion. */
function expandDefinition(vs: ValueSet, key: string, stack: string[]): Expansion | undefined {
  if (vs.compose) {
    const codes = new Map<string, ExpandedCode>();
    for (const include of vs.compose.include) {
      const part = includeCodes(include, [...stack, key]);
      if (!part) return undefined;
      for (const [k, v] of part) codes.set(k, v);
    }
    for (const exclude of vs.compose.exclude ?? []) {
      const part = includeCodes(exclude, [...stack, key]);
      if (!part) return undefined;
      for (const k of part.keys()) codes.delete(k);
    }
    return { url: key, codes };
  }
  if (vs.expansion?.contains) {
    const codes = new Map<string, ExpandedCode>();
    const walk = (contains: NonNullable<ValueSet['expansion']>['contains']): void => {
      for (const c of contains ?? []) {
        if (c.system && c.code && c.abstract !== true)
          codes.set(`${c.system}|${c.code}`, { system: c.system, code: c.code, display: c.display });
        walk(c.contains);
      }
    };
    walk(vs.expansion.contains);
    return { url: key, codes };
  }
  return undefined;
}

/**
 * The expansion of a ValueSet resource that Ferry does not ship (e.g. one stored through the
 * API): its stored `expansion`, or its `compose` over the shipped terminology; not cached.
 */
export function expandValueSetResource(vs: ValueSet): Expansion | undefined {
  return expandDefinition(vs, vs.url ?? '', []);
}

/**
 * `code` and every code it subsumes in a shipped CodeSystem (search `:below`, R4
 * search.html#token); `undefined` when Ferry does not ship that CodeSystem complete.
 */
export function subsumedCodes(system: string, code: string): string[] | undefined {
  return descendants(system, code, true)?.map((c) => c.code);
}

/** `code` and every code that subsumes it in a shipped CodeSystem (search `:above`). */
export function subsumingCodes(system: string, code: string): string[] | undefined {
  const all = codeSystemConcepts(system);
  if (!all) return undefined;
  if (!all.some((c) => c.code === code)) return [];
  const { parents } = hierarchyOf(system);
  const out = [code];
  const seen = new Set(out);
  for (let i = 0; i < out.length; i++) {
    for (const parent of parents.get(out[i] ?? '') ?? []) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      out.push(parent);
    }
  }
  return out;
}

/**
 * The expansion of a ValueSet (a version suffix `|4.0.1` is ignored), computed once and cached;
 * `undefined` when it is unknown or draws on terminology Ferry does not ship.
 */
export function expandValueSet(url: string): Expansion | undefined {
  return expand(url, []);
}

/**
 * Whether `system|code` is in the ValueSet: `true`/`false`, or `undefined` when the set cannot be
 * expanded here (then nothing may be concluded). Without a system, any member with the code counts
 * (for `code` elements, whose system is implied by the binding).
 */
export function valueSetContains(url: string, system: string | undefined, code: string): boolean | undefined {
  const expansion = expandValueSet(url);
  if (!expansion) return undefined;
  if (system !== undefined) return expansion.codes.has(`${system}|${code}`);
  for (const member of expansion.codes.values()) if (member.code === code) return true;
  return false;
}
