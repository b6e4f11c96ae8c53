import { badRequest } from '../errors.js';
import { summaryModes, type SummaryMode } from '../fhir/subset.js';
import { defsOnAll, representative, type ParseContext } from './parse-context.js';
import type { IncludeSpec, SearchQuery, SortKey } from './types.js';

/** Page size when `_count` is absent. */
export const defaultCount = 20;
/** Largest page; a larger `_count` is lowered to it (R4 search.html#count lets the server cap it). */
export const maxCount = 1000;

/** `_count`: a non-negative integer, capped at maxCount; 0 asks for the total only. */
export function parseCount(value: string): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw badRequest(
      `_count must be a non-negative integer (0 for the total only), not '${value}'`,
      '_count',
    );
  }
  return Math.min(Number(value), maxCount);
}

/** `_total` (R4 search.html#total). */
export function parseTotal(value: string): SearchQuery['total'] {
  if (value === 'none' || value === 'estimate' || value === 'accurate') return value;
  throw badRequest(`_total must be none, estimate or accurate, not '${value}'`, '_total');
}

/** `_summary` (R4 search.html#summary). */
export function parseSummary(value: string): SummaryMode {
  const mode = summaryModes.find((m) => m === value);
  if (mode === undefined) {
    throw badRequest(`_summary must be one of ${summaryModes.join(', ')}, not '${value}'`, '_summary');
  }
  return mode;
}

/** `_elements` (R4 search.html#elements): a comma list of top-level element names. */
export function parseElements(value: string): string[] {
  const names = value.split(',');
  const bad = names.find((n) => !/^[a-z][A-Za-z0-9]*$/.test(n));
  if (bad !== undefined) {
    throw badRequest(
      `_elements takes a comma list of top-level element names such as identifier,name; '${bad}' is not one`,
      '_elements',
    );
  }
  return [...new Set(names)];
}

/** `_cursor`: the opaque keyset cursor of a `next` link, passed through to the store. */
export function parseCursor(value: string): string {
  if (!/^[0-9A-Za-z_-]{1,200}$/.test(value)) {
    throw badRequest(`_cursor '${value.slice(0, 80)}' is not a paging cursor from this server`, '_cursor');
  }
  return value;
}

/** `_type` (R4 search.html#_type): the types a system-level search covers. */
export function parseTypes(ctx: ParseContext, value: string): string[] {
  const types = value.split(',');
  const bad = types.find((t) => !ctx.isType(t));
  if (bad !== undefined) {
    throw badRequest(
      `_type: '${bad}' is not a resource type (give a comma list such as Patient,Practitioner)`,
      '_type',
    );
  }
  return [...new Set(types)];
}

/** `_sort` (R4 search.html#sort): a comma list of parameters, `-` before one for descending. */
export function parseSort(ctx: ParseContext, types: string[], value: string): SortKey[] {
  return value.split(',').map((item) => {
    const descending = item.startsWith('-');
    const code = descending ? item.slice(1) : item;
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(code)) {
      throw badRequest(
        `_sort takes a comma list of search parameters, each optionally preceded by - (e.g. -date,name); '${item}' is not one`,
        '_sort',
      );
    }
    const defs = defsOnAll(ctx, types, code);
    if (defs === undefined) {
      throw badRequest(`_sort: ${code} is not a search parameter of ${typesLabel(types)}`, '_sort');
    }
    const def = representative(defs, '_sort');
    if (def.type === 'composite' || def.type === 'special') {
      throw badRequest(`_sort: cannot sort by ${code}, a ${def.type} parameter`, '_sort');
    }
    return { param: code, descending, type: def.type };
  });
}

/**
 * `_include` and `_revinclude` (R4 search.html#include): `Type:param`, `Type:param:Target`,
 * `Type:*` and, for `_include`, `*` (every reference of the searched types); `:iterate` (and R4's
 * older name `:recurse`) follows them from included resources too. Without `:iterate` an include
 * that can never apply to the matches is a 400 rather than silently doing nothing.
 */
export function parseInclude(ctx: ParseContext, types: string[], name: string, value: string): IncludeSpec[] {
  const [code = '', modifier, ...extra] = name.split(':');
  const reverse = code === '_revinclude';
  if (extra.length > 0 || (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse')) {
    throw badRequest(`${name}: the only modifier of ${code} is :iterate`, name);
  }
  const iterate = modifier !== undefined;
  const example = reverse ? 'Provenance:target' : 'Observation:subject:Patient';
  if (value === '*') {
    if (reverse || types.length === 0) {
      throw badRequest(
        `${name}=*: name the source type, as Type:* (e.g. ${reverse ? 'Provenance:*' : 'Observation:*'})`,
        name,
      );
    }
    return types.map((sourceType) => ({ sourceType, param: '*', iterate }));
  }
  if (value.includes(',')) throw badRequest(`${name} takes one value; repeat ${code} for each`, name);
  const [sourceType = '', param = '', targetType, ...more] = value.split(':');
  if (sourceType === '' || param === '' || targetType === '' || more.length > 0) {
    throw badRequest(
      `${name}=${value}: use Type:parameter, Type:parameter:TargetType or Type:* (e.g. ${example})`,
      name,
    );
  }
  for (const t of [sourceType, targetType]) {
    if (t !== undefined && !ctx.isType(t))
      throw badRequest(`${name}=${value}: '${t}' is not a resource type`, name);
  }
  let targets: string[] = [];
  if (param !== '*') {
    const def = ctx.lookup(sourceType, param);
    if (def?.type !== 'reference') {
      throw badRequest(`${name}=${value}: ${param} is not a reference parameter of ${sourceType}`, name);
    }
    targets = def.target ?? [];
    if (targetType !== undefined && targets.length > 0 && !targets.includes(targetType)) {
      throw badRequest(`${name}=${value}: ${sourceType}.${param} never refers to a ${targetType}`, name);
    }
  }
  if (!iterate && types.length > 0) {
    if (!reverse && !types.includes(sourceType)) {
      throw badRequest(
        `${name}=${value}: ${sourceType} is not the type searched (${typesLabel(types)}); to add resources that ` +
          `refer to the matches use _revinclude, to follow included resources add :iterate`,
        name,
      );
    }
    const reachable = targetType !== undefined ? [targetType] : targets;
    if (reverse && reachable.length > 0 && !types.some((t) => reachable.includes(t))) {
      throw badRequest(
        `${name}=${value}: ${sourceType}.${param} refers to ${reachable.join(', ')}, never to ${typesLabel(types)}`,
        name,
      );
    }
  }
  const spec: IncludeSpec = { sourceType, param, iterate };
  if (targetType !== undefined) spec.targetType = targetType;
  return [spec];
}

/** The types searched, for messages. */
export function typesLabel(types: string[]): string {
  if (types.length === 0) return 'a system-level search without _type (name the types with _type)';
  return types.length <= 3 ? types.join(', ') : `all of the ${types.length} types searched`;
}
