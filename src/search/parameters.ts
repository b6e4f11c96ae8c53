import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SearchParameter } from 'fhir/r4.js';
import { r4DefinitionFile } from '../fhir/definitions-path.js';
import type { SearchParamDef } from './types.js';

const require = createRequire(import.meta.url);

/** Resource-level parameters that apply to every type (R4 search.html#all). */
const resourceLevel = new Set(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source']);

interface Registry {
  byType: Map<string, Map<string, SearchParamDef>>;
  byUrl: Map<string, Map<string, SearchParamDef>>;
}

let registry: Registry | undefined;
let types: Set<string> | undefined;

/** Every R4 resource type (from the fhirpath R4 model: the types whose parent is (Domain)Resource). */
export function resourceTypes(): Set<string> {
  types ??= new Set(
    Object.entries(require('fhirpath/fhir-context/r4/type2Parent.json') as Record<string, string>)
      .filter(
        ([name, parent]) =>
          name !== 'DomainResource' && (parent === 'DomainResource' || parent === 'Resource'),
      )
      .map(([name]) => name),
  );
  return types;
}

/**
 * The search parameters of a resource type, by code: the official R4 SearchParameters whose base
 * is the type, plus the resource-level ones (`_id`, `_lastUpdated`, `_tag`, `_profile`,
 * `_security`, `_source`). Empty for an unknown type. See R4 searchparameter-registry.html.
 */
export function searchParameters(type: string): ReadonlyMap<string, SearchParamDef> {
  return load().byType.get(type) ?? new Map<string, SearchParamDef>();
}

/** One search parameter of a type, or undefined when the type has no parameter of that code. */
export function searchParameter(type: string, code: string): SearchParamDef | undefined {
  return load().byType.get(type)?.get(code);
}

/** A type's parameter by its canonical URL (how composite components name theirs). */
export function searchParameterByUrl(type: string, url: string): SearchParamDef | undefined {
  return load().byUrl.get(type)?.get(url);
}

function load(): Registry {
  if (registry) return registry;
  const bundle = JSON.parse(readFileSync(r4DefinitionFile('search-parameters.json'), 'utf8')) as {
    entry: { resource: SearchParameter }[];
  };
  const all = resourceTypes();
  const built: Registry = { byType: new Map(), byUrl: new Map() };
  for (const type of all) {
    built.byType.set(type, new Map());
    built.byUrl.set(type, new Map());
  }
  const composites: [SearchParameter, SearchParamDef][] = [];
  for (const { resource: sp } of bundle.entry) {
    if (sp.expression === undefined) continue; // _text, _content, _query: no expression to index
    const isResourceLevel = sp.base.includes('Resource');
    if (isResourceLevel && !resourceLevel.has(sp.code)) continue;
    const bases = isResourceLevel ? [...all] : sp.base.filter((b) => all.has(b));
    for (const base of bases) {
      const expression = restrictExpression(sp.expression, isResourceLevel ? 'Resource' : base, base);
      if (expression === undefined) continue;
      const def: SearchParamDef = {
        code: sp.code,
        base,
        type: sp.type,
        expression,
        url: sp.url,
      };
      if (sp.target) def.target = [...sp.target];
      built.byType.get(base)?.set(sp.code, def);
      built.byUrl.get(base)?.set(sp.url, def);
      if (sp.type === 'composite') composites.push([sp, def]);
    }
  }
  for (const [sp, def] of composites) {
    const byUrl = built.byUrl.get(def.base);
    def.components = (sp.component ?? []).map((c) => ({
      definition: c.definition,
      expression: componentExpression(def.expression, byUrl?.get(c.definition)?.expression, c.expression),
    }));
  }
  registry = built;
  return built;
}

/**
 * The parts of a (multi-base) expression that start at `root`, re-rooted at `base`, with the
 * spec's `(X as T)` and `X.as(T)` written as `X.ofType(T)`: fhirpath.js refuses `as` on more
 * than one item, and `ofType` means what the definitions intend (R4 fhirpath.html#functions).
 */
export function restrictExpression(expression: string, root: string, base: string): string | undefined {
  const parts = splitUnion(expression)
    .map(rewriteAs)
    .filter((part) => rootOf(part) === root)
    .map((part) => (root === base ? part : base + part.slice(root.length)));
  return parts.length > 0 ? parts.join(' | ') : undefined;
}

/** Splits an expression at its top-level `|` (not inside parentheses or string literals). */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

function rewriteAs(part: string): string {
  let out = part.replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
  // `(X as T)` where X has no parentheses of its own: the only form the R4 definitions use
  for (;;) {
    const next = out.replace(/\(([^()]+?)\s+as\s+([A-Za-z]+)\)/, '$1.ofType($2)');
    if (next === out) return out;
    out = next;
  }
}

function rootOf(part: string): string {
  return /^[A-Za-z]+/.exec(part)?.[0] ?? '';
}

/**
 * A composite component's expression relative to the composite's own expression: the component
 * parameter's expression with each part's longest matching context stripped (for
 * `Observation | Observation.component`, `Observation.component.code` becomes `code`). The
 * composite's `component.expression` is the fallback when no part lines up, e.g. `%resource.x`.
 */
function componentExpression(context: string, definition: string | undefined, given: string): string {
  const contexts = splitUnion(context).sort((a, b) => b.length - a.length);
  const relative = new Set<string>();
  for (const part of definition === undefined ? [] : splitUnion(definition)) {
    const ctx = contexts.find((c) => part.startsWith(`${c}.`));
    if (ctx === undefined) return rewriteAs(given);
    relative.add(part.slice(ctx.length + 1));
  }
  return relative.size > 0 ? [...relative].join(' | ') : rewriteAs(given);
}
