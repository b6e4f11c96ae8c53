import { badRequest, notSupported } from '../errors.js';
import type { SummaryMode } from '../fhir/subset.js';
import type { ParamLookup, ParamUrlLookup, ParseContext } from './parse-context.js';
import { parseFilter } from './parse-filter.js';
import {
  defaultCount,
  parseCount,
  parseCursor,
  parseElements,
  parseInclude,
  parseSort,
  parseSummary,
  parseTotal,
  parseTypes,
  typesLabel,
} from './parse-result.js';
import type { Filter, SearchQuery } from './types.js';
import { splitEscaped } from './parse-value.js';

export type { ParamLookup, ParamUrlLookup } from './parse-context.js';
export { defaultCount, maxCount } from './parse-result.js';

/** A search request's parameters and what the parser needs to know to read them. */
export interface SearchInput {
  /** The type searched (type level), or none for a system-level search (then `_type` names them). */
  types: string[];
  /** The parameters in order, from the query string or a form body; a repeated name is AND. */
  params: [string, string][];
  /** `Prefer: handling=strict` (R4 search.html#errors): unknown parameters are 400s, not ignored. */
  strict: boolean;
  /** A type's parameter by code: `searchParameter` from parameters.ts. */
  lookup: ParamLookup;
  /**
   * A type's parameter by canonical URL (`searchParameterByUrl`), for composite components.
   * Without it a component is found from its URL's tail by code (true of every R4 composite).
   */
  lookupByUrl?: ParamUrlLookup;
  /**
   * Every resource type (`resourceTypes()`): what a system-level search without `_type` covers,
   * and what `_type`, `_include`, `:[type]` and `Type/id` are checked against. Without it a
   * system-level search needs `_type`, and a type is known when it has an `_id` parameter.
   */
  resourceTypes?: Iterable<string>;
  /** This server's base URL: a reference written as an absolute URL on it is searched as `Type/id`. */
  baseUrl?: string;
  /** Epoch ms taken as now, for `ap` on dates (defaults to the clock). */
  now?: number;
}

/** A parsed search: the query for the store, and what the response needs besides. */
export interface ParsedSearch {
  query: SearchQuery;
  /** Parameters not applied (unknown or unsupported), to report in an OperationOutcome. */
  ignored: { param: string; reason: string }[];
  /** The parameters applied, as given (`_count` as applied), in order: for the `self` link. */
  selfParams: [string, string][];
  summary?: SummaryMode;
  elements?: string[];
}

/** Result parameters that may appear once and take no modifier (R4 search.html#return). */
const singleResultParams = new Set([
  '_sort',
  '_count',
  '_total',
  '_summary',
  '_elements',
  '_type',
  '_cursor',
]);
/** Accepted and not filters: they shape the response, not the matches. */
const formatParams = new Set(['_format', '_pretty']);

/** Known parameters Ferry does not implement: ignored and reported (400 under strict handling). */
const unsupported: Record<string, string> = {
  _list: 'search by List membership (_list) is not supported',
  _query: 'named queries (_query) are not supported',
  _filter: 'the _filter expression language is not supported',
  _contained: 'searching contained resources (_contained) is not supported',
  _containedType: 'searching contained resources (_containedType) is not supported',
};

/**
 * Parses a search request into a SearchQuery (R4 search.html): filters with their modifiers,
 * prefixes, chains and `_has`; `_sort`, `_count`, `_total`, `_include`, `_revinclude`, `_type`,
 * the paging cursor; and `_summary` / `_elements` for the response. Unknown and unsupported
 * parameters are ignored and listed (R4 search.html#errors), or refused when `strict`; every
 * malformed parameter is a 400 whose expression names the parameter as given.
 */
export function parseSearch(input: SearchInput): ParsedSearch {
  const known = input.resourceTypes === undefined ? undefined : new Set(input.resourceTypes);
  const ctx: ParseContext = {
    lookup: input.lookup,
    isType: (type) => (known ? known.has(type) : input.lookup(type, '_id') !== undefined),
    now: input.now ?? Date.now(),
  };
  if (input.lookupByUrl) ctx.lookupByUrl = input.lookupByUrl;
  if (input.baseUrl !== undefined) ctx.baseUrl = input.baseUrl.replace(/\/+$/, '');

  const seen = new Set<string>();
  for (const [name] of input.params) {
    const code = name.split(/[:.]/)[0] ?? name;
    if (!singleResultParams.has(code) && !formatParams.has(code)) continue;
    if (name !== code) throw badRequest(`${code} takes no modifier`, name);
    if (seen.has(name)) throw badRequest(`${name} may appear only once`, name);
    seen.add(name);
  }
  const types = searchedTypes(ctx, input, known);

  const query: SearchQuery = {
    types,
    filters: [],
    sort: [],
    count: defaultCount,
    // counting every match of a large result costs more than the page; estimate by default
    total: 'estimate',
    include: [],
    revinclude: [],
  };
  const parsed: ParsedSearch = { query, ignored: [], selfParams: [] };
  const ignore = (param: string, reason: string): void => {
    if (input.strict) throw notSupported(`${reason} (Prefer: handling=strict)`, param);
    parsed.ignored.push({ param, reason });
  };

  for (const [name, value] of input.params) {
    const code = name.split(/[:.]/)[0] ?? name;
    let applied = value;
    if (name === '') {
      ignore(name, 'a parameter without a name');
      continue;
    } else if (unsupported[code] !== undefined) {
      ignore(name, unsupported[code]);
      continue;
    } else if (code === '_type' || formatParams.has(code)) {
      // _type was read above; _format and _pretty shape the response only
    } else if (code === '_count') {
      query.count = parseCount(value);
      applied = String(query.count);
    } else if (code === '_sort') {
      query.sort = parseSort(ctx, types, value);
    } else if (code === '_total') {
      query.total = parseTotal(value);
    } else if (code === '_summary') {
      parsed.summary = parseSummary(value);
    } else if (code === '_elements') {
      parsed.elements = parseElements(value);
    } else if (code === '_cursor') {
      query.cursor = parseCursor(value);
    } else if (code === '_text' || code === '_content') {
      query.filters.push(parseFullText(name, code, value));
    } else if (code === '_include' || code === '_revinclude') {
      query[code === '_include' ? 'include' : 'revinclude'].push(...parseInclude(ctx, types, name, value));
    } else {
      const filter = parseFilter(ctx, types, name, value);
      if (filter === undefined) {
        if (input.strict) {
          throw badRequest(
            `Unknown search parameter '${code}' for ${typesLabel(types)} (Prefer: handling=strict)`,
            name,
          );
        }
        parsed.ignored.push({ param: name, reason: `unknown search parameter for ${typesLabel(types)}` });
        continue;
      }
      query.filters.push(filter);
    }
    parsed.selfParams.push([name, applied]);
  }
  if (parsed.summary === 'count') {
    // R4 search.html#summary: count "returns a count of the matching resources", no entries
    query.count = 0;
    query.total = 'accurate';
  }
  return parsed;
}

/**
 * `_text` (narrative) and `_content` (whole resource) full-text search (R4 search.html#text):
 * every word of a value must occur; commas OR values.
 */
function parseFullText(name: string, code: '_text' | '_content', value: string): Filter {
  if (name !== code) throw badRequest(`${code} takes no modifier`, name);
  const values = splitEscaped(value, ',').map((v) => v.trim());
  if (values.some((v) => !/[\p{L}\p{N}]/u.test(v)))
    throw badRequest(`${name} needs words to search for`, name);
  return { param: code, type: 'special', values: values.map((v) => ({ kind: 'text', value: v })) };
}

/** The types searched: the URL's type, else `_type`, else every type known. */
function searchedTypes(ctx: ParseContext, input: SearchInput, known: Set<string> | undefined): string[] {
  const value = input.params.find(([name]) => name === '_type')?.[1];
  if (value === undefined) return input.types.length > 0 ? [...input.types] : [...(known ?? [])];
  const named = parseTypes(ctx, value);
  if (input.types.length === 0) return named;
  // a type-level search may repeat its own type in _type, nothing else
  const other = named.find((t) => !input.types.includes(t));
  if (other !== undefined) {
    throw badRequest(
      `_type is for system-level search; this search is on ${input.types.join(', ')} only`,
      '_type',
    );
  }
  return [...input.types];
}
