import type { Bundle, BundleEntry, FhirResource, OperationOutcome } from 'fhir/r4.js';
import type { AccessFacts } from '../audit/access-audit.js';
import { badRequest, informational, notFound } from '../errors.js';
import { compartmentParams, knownCompartments } from '../fhir/compartments.js';
import { subsetResource, type SummaryMode } from '../fhir/subset.js';
import { restResourceTypes } from '../fhir/element-tables.js';
import { searchParameter, searchParameterByUrl } from '../search/parameters.js';
import { ucumCanonical, ucumSystem } from '../search/ucum.js';
import { parseSearch, type ParsedSearch } from '../search/parse-query.js';
import type { QueryFilter, SearchParamType } from '../search/types.js';
import type { StoredVersion } from '../store/store.js';
import { forbidden, type SearchNarrowing } from '../auth/access.js';
import { expandModifiers } from './expand-modifiers.js';
import { recordAccess } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertId, assertResourceType } from './guards.js';

export interface SearchRequest {
  /** The type searched, or undefined for a system-level search (`_type` then names the types). */
  type?: string;
  /** Query parameters in order, from the URL or a form-encoded `_search` body. */
  params: [string, string][];
  /** `Prefer: handling=strict`: unknown parameters are errors instead of being ignored. */
  strict: boolean;
  /** Compartment search (`/Patient/123/Observation`): only resources in that compartment. */
  compartment?: { type: string; id: string };
}

function entryOf(
  ctx: ServiceContext,
  v: StoredVersion,
  mode: 'match' | 'include',
  summary?: SummaryMode,
  elements?: string[],
): BundleEntry {
  const resource = JSON.parse(v.json ?? '{}') as FhirResource;
  return {
    fullUrl: `${ctx.baseUrl}/${v.type}/${v.id}`,
    resource: (summary !== undefined || elements !== undefined
      ? subsetResource(resource, summary, elements)
      : resource) as FhirResource,
    search: { mode },
  };
}

/** The type of a sort parameter (the same on every searched type, which the parser checked). */
function sortType(types: string[], param: string): SearchParamType | undefined {
  if (param === '_id') return 'token';
  if (param === '_lastUpdated') return 'date';
  return types.map((t) => searchParameter(t, param)?.type).find((t) => t !== undefined);
}

/**
 * Gives UCUM quantity values their base-unit form, so the store compares 5.4 mmol/L with values
 * stored in mol/L (R4 search.html#quantity: a server may canonicalise units).
 */
function canonicalizeQuantities(filters: QueryFilter[]): void {
  for (const f of filters) {
    if ('compartment' in f) continue;
    if ('sourceType' in f) {
      canonicalizeQuantities([f.filter]);
      continue;
    }
    if (f.chain) canonicalizeQuantities([f.chain.query]);
    const values = f.values.flatMap((v) => (v.kind === 'composite' ? v.components : [v]));
    for (const v of values) {
      if (v.kind !== 'quantity' || v.code === undefined) continue;
      if (v.system !== undefined && v.system !== ucumSystem) continue;
      const canonical = ucumCanonical(v.code, v.value, v.low, v.high);
      if (canonical) v.canonical = canonical;
    }
  }
}

/**
 * Parses search parameters for a type (or the system level) into a SearchQuery the store can run:
 * sort keys typed and UCUM quantities in base units. Shared by search and the conditional
 * interactions, so both read a query the same way.
 */
export function parseFor(
  ctx: ServiceContext,
  type: string | undefined,
  params: [string, string][],
  strict: boolean,
): ParsedSearch {
  const parsed = parseSearch({
    types: type !== undefined ? [type] : [],
    params,
    strict,
    lookup: searchParameter,
    lookupByUrl: searchParameterByUrl,
    resourceTypes: restResourceTypes(),
    baseUrl: ctx.baseUrl,
  });
  for (const key of parsed.query.sort) key.type ??= sortType(parsed.query.types, key.param);
  canonicalizeQuantities(parsed.query.filters);
  return parsed;
}

/** The filter of a compartment search (R4 compartmentdefinition.html#search). */
function compartmentFilter(compartment: { type: string; id: string }, type: string | undefined): QueryFilter {
  if (!knownCompartments.has(compartment.type)) throw notFound(`There is no ${compartment.type} compartment`);
  assertId(compartment.id, compartment.type);
  if (type === compartment.type) {
    // the compartment's own resource is in it by identity
    return { param: '_id', type: 'token', values: [{ kind: 'token', code: compartment.id }] };
  }
  const params = type === undefined ? undefined : compartmentParams(compartment.type, type);
  if (!params) throw badRequest(`${type ?? 'This type'} is not in the ${compartment.type} compartment`);
  return { compartment: compartment.type, id: compartment.id, params };
}

/**
 * How the token's scopes narrow a search of one type: added parameters for a granular scope, the
 * patient's compartment for a patient scope (a type outside that compartment is refused).
 */
function narrowSearch(ctx: ServiceContext, request: SearchRequest): SearchNarrowing | undefined {
  if (!ctx.access) return undefined;
  if (request.type === undefined) return undefined; // checkSystemSearch, once `_type` is read
  const narrowing = ctx.access.narrowSearch(request.type, request.params);
  if (
    narrowing?.patient !== undefined &&
    request.type !== 'Patient' &&
    compartmentParams('Patient', request.type) === undefined
  ) {
    throw forbidden(
      `${request.type} is not in the Patient compartment, which is all the access token may see`,
    );
  }
  return narrowing;
}

/** A system-level search reads every type it names (or every type): each must be fully searchable. */
function checkSystemSearch(ctx: ServiceContext, types: string[]): void {
  const access = ctx.access;
  if (!access) return;
  for (const type of types.length > 0 ? types : ['*']) {
    if (access.allowances(type, 's') !== 'all') {
      throw forbidden(`The access token sees only part of ${type}; search it at the type level (/${type}?…)`);
    }
  }
}

/**
 * The audit record of a search (BALP Query): the query as given, and the patient when the search
 * is confined to one (a Patient compartment, or a `patient`/`subject` parameter naming a Patient).
 */
function searchFacts(request: SearchRequest): AccessFacts {
  const query = new URLSearchParams(request.params).toString();
  const path = [request.compartment?.type, request.compartment?.id, request.type].filter(
    (p) => p !== undefined,
  );
  let patient: string | undefined;
  if (request.compartment?.type === 'Patient') patient = `Patient/${request.compartment.id}`;
  for (const [name, value] of request.params) {
    if (patient !== undefined) break;
    if (!['patient', 'subject', 'patient:Patient', 'subject:Patient'].includes(name)) continue;
    const m = /^(?:.*\/)?Patient\/([A-Za-z0-9.-]{1,64})$/.exec(value);
    if (m) patient = `Patient/${m[1]}`;
    else if (name.startsWith('patient') && /^[A-Za-z0-9.-]{1,64}$/.test(value)) patient = `Patient/${value}`;
  }
  return {
    interaction: request.type === undefined ? 'search-system' : 'search-type',
    status: 200,
    query: `${path.join('/')}${query ? `?${query}` : ''}`,
    ...(patient !== undefined ? { patient } : {}),
  };
}

/**
 * R4 search.html: parses the request into a SearchQuery, runs it on the store's index and
 * answers a searchset Bundle with self/first/next links (keyset cursors) and, when parameters
 * were ignored, an OperationOutcome entry saying which and why.
 */
export async function searchResources(ctx: ServiceContext, request: SearchRequest): Promise<Bundle> {
  if (request.type !== undefined) assertResourceType(request.type);
  const narrowing = narrowSearch(ctx, request);
  const params = narrowing ? [...request.params, ...narrowing.params] : request.params;
  const parsed = parseFor(ctx, request.type, params, request.strict);
  const query = parsed.query;
  if (request.type === undefined) checkSystemSearch(ctx, query.types);
  // The audit trail is searched only by name (`/AuditEvent`, `_type=AuditEvent`): a system-level
  // search for "everything" is about the data, and would otherwise mostly list its own records.
  if (request.type === undefined && !request.params.some(([name]) => name === '_type'))
    query.types = query.types.filter((t) => t !== 'AuditEvent');
  query.filters = await expandModifiers(ctx, query.types, query.filters);
  if (request.compartment) query.filters.push(compartmentFilter(request.compartment, request.type));
  if (narrowing?.patient !== undefined) {
    query.filters.push(compartmentFilter({ type: 'Patient', id: narrowing.patient }, request.type));
  }
  const page = await ctx.store.search(query);
  if (ctx.access && page.included.length > 0) {
    const access = ctx.access;
    // included resources are shown only when the token could read each of them on its own
    page.included = page.included.filter(
      (v) =>
        v.json !== undefined && access.canSee(JSON.parse(v.json) as { resourceType: string; id?: string }),
    );
  }
  const path = [request.compartment?.type, request.compartment?.id, request.type]
    .filter((p) => p !== undefined)
    .join('/');
  const link = (cursor?: string): string => {
    const search = new URLSearchParams(parsed.selfParams.filter(([name]) => name !== '_cursor'));
    if (cursor !== undefined) search.set('_cursor', cursor);
    const qs = search.toString();
    return `${ctx.baseUrl}/${path}${qs ? `?${qs}` : ''}`;
  };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    link: [
      { relation: 'self', url: link(query.cursor) },
      { relation: 'first', url: link() },
    ],
    entry: [
      ...page.matches.map((v) => entryOf(ctx, v, 'match', parsed.summary, parsed.elements)),
      ...page.included.map((v) => entryOf(ctx, v, 'include', parsed.summary, parsed.elements)),
    ],
  };
  await recordAccess(ctx, searchFacts(request));
  if (page.total !== undefined) bundle.total = page.total;
  if (bundle.entry?.length === 0) delete bundle.entry; // R4 json.html: no empty arrays
  if (page.next !== undefined) bundle.link?.push({ relation: 'next', url: link(page.next) });
  if (page.previous !== undefined) bundle.link?.push({ relation: 'previous', url: link(page.previous) });
  if (parsed.ignored.length > 0) {
    const outcome: OperationOutcome = informational('Some search parameters were ignored');
    outcome.issue = parsed.ignored.map((i) => ({
      severity: 'warning',
      code: 'not-supported',
      diagnostics: `${i.param}: ${i.reason}`,
      expression: [i.param],
    }));
    bundle.entry?.push({ resource: outcome, search: { mode: 'outcome' } });
  }
  return bundle;
}
