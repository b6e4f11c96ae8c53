/** SQL fragments the search compiler is built from: parameters, ranges, comparisons. */
import type { Filter, IndexEntry, ReferenceEntry, SearchParamType } from '../../search/types.js';
import { maxInstant, minInstant } from './index-writer.js';

/** SQL with its positional parameters. */
export interface Sql {
  text: string;
  params: unknown[];
}

export const sql = (text: string, ...params: unknown[]): Sql => ({ text, params });
export const never: Sql = sql('0');
export const always: Sql = sql('1');
/** Parts ANDed or ORed; no parts is what holds for every row (AND) or for none (OR). */
export const join = (parts: Sql[], separator: ' AND ' | ' OR '): Sql =>
  parts.length === 0
    ? separator === ' AND '
      ? always
      : never
    : { text: parts.map((p) => `(${p.text})`).join(separator), params: parts.flatMap((p) => p.params) };

/** The index table of each parameter type. */
export const tableOf: Partial<Record<SearchParamType, string>> = {
  token: 'idx_token',
  string: 'idx_string',
  date: 'idx_date',
  number: 'idx_number',
  quantity: 'idx_quantity',
  reference: 'idx_reference',
  uri: 'idx_uri',
};

/**
 * Whether a parameter type's entries of a resource type are kept in shared sets (schema.ts
 * idx_facet): the token and string entries of AuditEvents, which an audit trail repeats.
 */
export const faceted = (resourceType: string, kind: string): boolean =>
  resourceType === 'AuditEvent' && (kind === 'token' || kind === 'string');

/**
 * Whether one entry goes to the shared set: a faceted kind, or an AuditEvent's reference that
 * names no resource, only an identifier (the client of agent.who, the source's observer). Those
 * are as repeated as the tokens; a reference to a resource stays with the event, where searches
 * by target, chains, compartments and _include find it in rid order.
 */
export const sharedEntry = (resourceType: string, e: IndexEntry): boolean =>
  faceted(resourceType, e.kind) ||
  (resourceType === 'AuditEvent' && e.kind === 'reference' && identifierOnly(e));

const identifierOnly = (e: ReferenceEntry): boolean =>
  e.targetId === null && e.url === null && e.identifierValue !== null;

/**
 * Whether a filter may match rows of a shared set: one on a faceted kind, or on an AuditEvent
 * reference by :identifier or :missing (the only reference searches an identifier-only entry
 * answers).
 */
export const facetedFilter = (resourceType: string, f: Pick<Filter, 'type' | 'modifier'>): boolean =>
  faceted(resourceType, f.type) ||
  (resourceType === 'AuditEvent' &&
    f.type === 'reference' &&
    (f.modifier === 'identifier' || f.modifier === 'missing'));

/** Upper bound for a prefix range on a TEXT column (U+10FFFF sorts after every other character). */
export const prefixEnd = (prefix: string): string => `${prefix}\u{10FFFF}`;
export const clamp = (ms: number): number => Math.max(minInstant, Math.min(maxInstant, ms));

/**
 * A stored range [low, high] against a search range [vlow, vhigh] (R4 search.html#prefix). Each
 * form is a bounded range on one indexed column. For ge/le the spec also excludes a stored range
 * that starts before and ends inside the searched one; we include it (the usual reading, and
 * what keeps the predicate on one index), which only matters for Periods.
 */
export function rangePredicate(prefix: string, low: string, high: string, vlow: number, vhigh: number): Sql {
  switch (prefix) {
    case 'eq':
      return sql(`${low} >= ? AND ${low} <= ? AND ${high} <= ?`, vlow, vhigh, vhigh);
    case 'ne':
      return sql(`${low} < ? OR ${high} > ?`, vlow, vhigh);
    case 'gt':
      return sql(`${high} > ?`, vhigh);
    case 'lt':
      return sql(`${low} < ?`, vlow);
    case 'ge':
      return sql(`${high} >= ?`, vlow);
    case 'le':
      return sql(`${low} <= ?`, vhigh);
    case 'sa':
      return sql(`${low} > ?`, vhigh);
    case 'eb':
      return sql(`${high} < ?`, vlow);
    default: // ap: the parser widened the value; any overlap matches
      return sql(`${low} <= ? AND ${high} >= ?`, vhigh, vlow);
  }
}

/** A stored number against a search value and the interval its precision implies. */
export function valuePredicate(
  prefix: string,
  column: string,
  value: number,
  low: number,
  high: number,
): Sql {
  switch (prefix) {
    case 'eq':
      return sql(`${column} >= ? AND ${column} < ?`, low, high);
    case 'ne':
      return sql(`${column} < ? OR ${column} >= ?`, low, high);
    case 'gt':
    case 'sa':
      return sql(`${column} > ?`, value);
    case 'lt':
    case 'eb':
      return sql(`${column} < ?`, value);
    case 'ge':
      return sql(`${column} >= ?`, value);
    case 'le':
      return sql(`${column} <= ?`, value);
    default:
      return sql(`${column} >= ? AND ${column} <= ?`, low, high);
  }
}
