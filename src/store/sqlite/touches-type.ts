import type { Filter, HasFilter, QueryFilter, SearchQuery } from '../../search/types.js';

/**
 * Whether running a query may read resources of `type`: as what it searches, through a chain
 * or `_has`, or as what an `_include` / `_revinclude` adds (one that names no target type may
 * reach any type).
 */
export function touchesType(query: SearchQuery, type: string): boolean {
  if (query.types.includes(type)) return true;
  if (query.filters.some((f) => filterTouches(f, type))) return true;
  return [...query.include, ...query.revinclude].some(
    (spec) => spec.sourceType === type || spec.targetType === type || spec.targetType === undefined,
  );
}

function filterTouches(filter: QueryFilter | HasFilter, type: string): boolean {
  if ('sourceType' in filter) return filter.sourceType === type || filterTouches(filter.filter, type);
  if (!('param' in filter)) return false; // a compartment: the searched types only
  return chainTouches(filter, type);
}

function chainTouches(filter: Filter, type: string): boolean {
  if (!filter.chain) return false;
  return filter.chain.targetTypes.includes(type) || chainTouches(filter.chain.query, type);
}
