import { createRequire } from 'node:module';
import type { ValueSet } from 'fhir/r4.js';
import { badRequest, notSupported } from '../errors.js';
import type { Filter, FilterValue, QueryFilter } from '../search/types.js';
import {
  expandValueSet,
  expandValueSetResource,
  subsumedCodes,
  subsumingCodes,
  type ExpandedCode,
} from '../terminology/valuesets.js';
import { extractIndexEntries } from '../search/extract.js';
import { searchParameter, searchParameters } from '../search/parameters.js';
import type { ServiceContext } from './context.js';

const require = createRequire(import.meta.url);
const path2Type = require('fhirpath/fhir-context/r4/path2Type.json') as Record<string, string | undefined>;

/**
 * True when a token parameter of every searched type indexes `code` elements (Observation.status):
 * those are stored without a system (it is implied by the element), so expanded codes must
 * match on the code alone.
 */
function indexesPlainCodes(types: string[], param: string): boolean {
  return types.every((type) => {
    const expression = searchParameter(type, param)?.expression;
    return (
      expression !== undefined && expression.split('|').every((part) => path2Type[part.trim()] === 'code')
    );
  });
}

/** Most codes one `:in`, `:not-in`, `:below` or `:above` may stand for in a query. */
export const maxExpandedCodes = 1000;

type TokenValue = Extract<FilterValue, { kind: 'token' }>;

/**
 * The ValueSet a canonical URL names: one shipped with the R4 definitions, else one stored in
 * Ferry (its newest match by `url`, `|version` honoured); undefined when neither has it.
 */
async function valueSetCodes(ctx: ServiceContext, canonical: string): Promise<ExpandedCode[] | undefined> {
  const shipped = expandValueSet(canonical);
  if (shipped) return [...shipped.codes.values()];
  const [url = '', version] = canonical.split('|');
  const page = await ctx.store.search({
    types: ['ValueSet'],
    filters: [
      { param: 'url', type: 'uri', values: [{ kind: 'uri', value: url }] },
      ...(version === undefined
        ? []
        : [
            { param: 'version', type: 'token' as const, values: [{ kind: 'token' as const, code: version }] },
          ]),
    ],
    sort: [{ param: '_lastUpdated', descending: true, type: 'date' }],
    count: 1,
    total: 'none',
    include: [],
    revinclude: [],
  });
  const stored = page.matches[0]?.json;
  if (stored === undefined) return undefined;
  const expansion = expandValueSetResource(JSON.parse(stored) as ValueSet);
  return expansion ? [...expansion.codes.values()] : undefined;
}

/** The codes one value of a `:below`/`:above` filter stands for (system|code required). */
function hierarchyCodes(f: Filter, v: FilterValue): TokenValue[] {
  const name = `${f.param}:${f.modifier ?? ''}`;
  if (v.kind !== 'token' || typeof v.system !== 'string' || v.code === undefined) {
    throw badRequest(
      `${name} takes system|code, e.g. http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB`,
      name,
    );
  }
  const codes = f.modifier === 'below' ? subsumedCodes(v.system, v.code) : subsumingCodes(v.system, v.code);
  if (codes === undefined) {
    throw notSupported(
      `${name}: Ferry has no hierarchy for ${v.system.slice(0, 120)} (only the code systems shipped with FHIR R4)`,
      name,
    );
  }
  const system = v.system;
  return codes.map((code) => ({ kind: 'token', system, code }));
}

/** Most resources a reference `:below`/`:above` hierarchy may hold, and how deep it is followed. */
const maxHierarchy = 1000;
const maxDepth = 20;

type ReferenceValue = Extract<FilterValue, { kind: 'reference' }>;

/**
 * The reference parameter that makes `type` a hierarchy (R4 search.html#reference, "searching
 * hierarchies": a circular reference such as Location.partof); 400 when it has none or several.
 */
function hierarchyParam(type: string, name: string): string {
  const circular = [...searchParameters(type).values()].filter(
    (def) => def.type === 'reference' && def.base === type && (def.target ?? []).includes(type),
  );
  const [only, another] = circular;
  if (!only || another) {
    throw notSupported(`${name}: ${type} has no single part-of reference to search a hierarchy by`, name);
  }
  return only.code;
}

/** The ids below `id` in its hierarchy (itself included), level by level through the index. */
async function below(
  ctx: ServiceContext,
  type: string,
  param: string,
  id: string,
  name: string,
): Promise<string[]> {
  const found = new Set([id]);
  let frontier = [id];
  for (let depth = 0; frontier.length > 0 && depth < maxDepth; depth++) {
    const page = await ctx.store.search({
      types: [type],
      filters: [
        {
          param,
          type: 'reference',
          values: frontier.map((target) => ({
            kind: 'reference' as const,
            targetType: type,
            targetId: target,
          })),
        },
      ],
      sort: [],
      count: maxHierarchy + 1,
      total: 'none',
      include: [],
      revinclude: [],
    });
    frontier = page.matches.map((m) => m.id).filter((child) => !found.has(child));
    for (const child of frontier) found.add(child);
    if (found.size > maxHierarchy)
      throw badRequest(
        `${name}: the hierarchy below ${type}/${id} holds more than ${maxHierarchy} resources`,
        name,
      );
  }
  return [...found];
}

/** The ids above `id` in its hierarchy (itself included), following its part-of references up. */
async function above(ctx: ServiceContext, type: string, param: string, id: string): Promise<string[]> {
  const def = searchParameter(type, param);
  const found = [id];
  for (let i = 0; i < found.length && i < maxDepth; i++) {
    const current = await ctx.store.readCurrent(type, found[i] ?? '');
    if (!current?.json || current.deleted || !def) continue;
    for (const entry of extractIndexEntries(JSON.parse(current.json) as { resourceType: string }, [def])
      .entries) {
      if (
        entry.kind === 'reference' &&
        entry.targetType === type &&
        entry.targetId &&
        !found.includes(entry.targetId)
      )
        found.push(entry.targetId);
    }
  }
  return found;
}

/** A reference filter's values with `:below`/`:above` turned into the hierarchy they stand for. */
async function expandHierarchy(ctx: ServiceContext, types: string[], f: Filter): Promise<Filter> {
  const name = `${f.param}:${f.modifier ?? ''}`;
  // a bare id names a resource of the parameter's only target type
  const targets = new Set(types.flatMap((t) => searchParameter(t, f.param)?.target ?? []));
  const onlyTarget = targets.size === 1 ? [...targets][0] : undefined;
  const values: ReferenceValue[] = [];
  for (const v of f.values) {
    const type = v.kind === 'reference' ? (v.targetType ?? onlyTarget) : undefined;
    if (v.kind !== 'reference' || v.url !== undefined || v.targetId === undefined || type === undefined) {
      throw notSupported(
        `${name} takes Type/id (a resource in a part-of hierarchy), not a canonical URL`,
        name,
      );
    }
    const param = hierarchyParam(type, name);
    const ids =
      f.modifier === 'below'
        ? await below(ctx, type, param, v.targetId, name)
        : await above(ctx, type, param, v.targetId);
    for (const id of ids) values.push({ kind: 'reference', targetType: type, targetId: id });
  }
  return { param: f.param, type: 'reference', values };
}

/** A filter's values turned into the explicit codes they stand for, or the filter as it was. */
async function expandFilter(ctx: ServiceContext, types: string[], f: Filter): Promise<Filter | undefined> {
  if (f.chain) {
    const query = (await expandFilter(ctx, f.chain.targetTypes, f.chain.query)) ?? always;
    return { ...f, chain: { ...f.chain, query } };
  }
  if (f.type === 'reference' && (f.modifier === 'below' || f.modifier === 'above'))
    return expandHierarchy(ctx, types, f);
  if (f.type !== 'token') return f;
  const name = `${f.param}:${f.modifier ?? ''}`;
  let codes: TokenValue[];
  if (f.modifier === 'in' || f.modifier === 'not-in') {
    codes = [];
    for (const v of f.values) {
      const canonical = v.kind === 'uri' ? v.value : '';
      const members = await valueSetCodes(ctx, canonical);
      if (!members) {
        throw notSupported(
          `${name}: the ValueSet ${canonical.slice(0, 120)} is not known, or draws on a code system Ferry does not have`,
          name,
        );
      }
      for (const m of members) codes.push({ kind: 'token', system: m.system, code: m.code });
    }
  } else if (f.modifier === 'below' || f.modifier === 'above') {
    codes = f.values.flatMap((v) => hierarchyCodes(f, v));
  } else {
    return f;
  }
  if (indexesPlainCodes(types, f.param)) {
    const plain = new Map(codes.map((c) => [c.code, { kind: 'token' as const, code: c.code ?? '' }]));
    codes = [...plain.values()];
  }
  if (codes.length > maxExpandedCodes) {
    throw badRequest(
      `${name} stands for ${codes.length} codes; at most ${maxExpandedCodes} can be searched`,
      name,
    );
  }
  if (f.modifier === 'not-in') {
    // nothing to exclude: every resource matches, so the filter drops out
    if (codes.length === 0) return undefined;
    return { param: f.param, type: 'token', modifier: 'not', values: codes };
  }
  return codes.length === 0 ? never : { param: f.param, type: 'token', values: codes };
}

/** A filter no resource matches (an empty ValueSet). */
const never: Filter = { param: '_id', type: 'token', values: [] };
/** A filter every resource matches (`:not-in` an empty ValueSet, where a filter must stay). */
const always: Filter = {
  param: '_id',
  type: 'token',
  modifier: 'not',
  values: [{ kind: 'token', code: '' }],
};

/**
 * Replaces the modifiers that stand for a set of values by those values, so stores only ever see
 * plain filters: on tokens `:in`, `:not-in` (R4 search.html#token: a ValueSet, shipped or stored),
 * `:below` and `:above` (subsumption in a shipped CodeSystem); on references `:below` and `:above`
 * (a part-of hierarchy, R4 search.html#reference). Chains and `_has` included.
 */
export async function expandModifiers(
  ctx: ServiceContext,
  types: string[],
  filters: QueryFilter[],
): Promise<QueryFilter[]> {
  const out: QueryFilter[] = [];
  for (const f of filters) {
    if ('compartment' in f) {
      out.push(f);
    } else if ('sourceType' in f) {
      const [inner] = await expandModifiers(ctx, [f.sourceType], [f.filter]);
      out.push({ ...f, filter: (inner as Filter | undefined) ?? always });
    } else {
      const expanded = await expandFilter(ctx, types, f);
      if (expanded) out.push(expanded);
    }
  }
  return out;
}
