import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4.js';
import { badRequest } from '../errors.js';
import { etag } from '../fhir/ids.js';
import type { HistoryQuery, StoredVersion } from '../store/store.js';
import { forbidden } from '../auth/access.js';
import { checkReadVersion } from './authorize.js';
import { recordAccess } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertId, assertResourceType } from './guards.js';

export const defaultPageSize = 50;
export const maxPageSize = 1000;

/** Query parameters history understands (R4 http.html#history); the others are refused. */
export interface HistoryParams {
  _count?: string;
  _since?: string;
  _cursor?: string;
}

const instantOrDate = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Parses `_count`, `_since` and the paging cursor; a bad value is a 400 naming the parameter. */
export function parseHistoryParams(
  params: Record<string, string | string[] | undefined>,
): Omit<HistoryQuery, 'type' | 'id'> {
  for (const [name, value] of Object.entries(params)) {
    if (Array.isArray(value)) throw badRequest(`Parameter ${name} may appear only once`, name);
    if (!['_count', '_since', '_cursor', '_format', '_pretty'].includes(name)) {
      throw badRequest(`Unknown or unsupported parameter '${name}' for history`, name);
    }
  }
  const query: Omit<HistoryQuery, 'type' | 'id'> = { count: defaultPageSize };
  const count = params._count as string | undefined;
  if (count !== undefined) {
    if (!/^[0-9]{1,6}$/.test(count))
      throw badRequest(`_count must be a non-negative integer, not '${count}'`, '_count');
    query.count = Math.min(Number(count), maxPageSize);
  }
  const since = params._since as string | undefined;
  if (since !== undefined) {
    if (!instantOrDate.test(since) || Number.isNaN(Date.parse(since))) {
      throw badRequest(`_since must be an instant such as 2026-01-31T12:00:00Z, not '${since}'`, '_since');
    }
    query.since = new Date(Date.parse(since)).toISOString();
  }
  const cursor = params._cursor as string | undefined;
  if (cursor !== undefined) {
    if (!/^[0-9a-z]{1,13}$/.test(cursor))
      throw badRequest(`_cursor '${cursor}' is not a paging cursor from this server`, '_cursor');
    query.cursor = cursor;
  }
  return query;
}

function entryOf(ctx: ServiceContext, v: StoredVersion): BundleEntry {
  const entry: BundleEntry = { fullUrl: `${ctx.baseUrl}/${v.type}/${v.id}` };
  if (v.json !== undefined) entry.resource = JSON.parse(v.json) as FhirResource;
  entry.request = v.deleted
    ? { method: 'DELETE', url: `${v.type}/${v.id}` }
    : v.versionId === 1
      ? { method: 'POST', url: v.type }
      : { method: 'PUT', url: `${v.type}/${v.id}` };
  entry.response = {
    status: v.deleted ? '204' : v.versionId === 1 ? '201' : '200',
    etag: etag(v.versionId),
    lastModified: v.lastUpdated,
  };
  return entry;
}

/**
 * A token that sees only part of a type (a patient's compartment, a granular scope) may read the
 * history of a resource it can see, but not the history of the whole type or system.
 */
async function checkHistory(ctx: ServiceContext, scope: { type?: string; id?: string }): Promise<void> {
  const access = ctx.access;
  if (!access) return;
  const type = scope.type ?? '*';
  if (access.allowances(type, 'r') === 'all') return;
  if (scope.type === undefined || scope.id === undefined) {
    throw forbidden(
      `The access token sees only part of ${scope.type ?? 'the data'}; history is available per resource only`,
    );
  }
  const current = await ctx.store.readCurrent(scope.type, scope.id);
  if (current) checkReadVersion(ctx, scope.type, scope.id, current);
}

/** R4 http.html#history at system, type or instance level, newest first, paged by cursor. */
export async function history(
  ctx: ServiceContext,
  scope: { type?: string; id?: string },
  params: Record<string, string | string[] | undefined>,
): Promise<Bundle> {
  if (scope.type !== undefined) assertResourceType(scope.type);
  if (scope.id !== undefined) assertId(scope.id, scope.type ?? 'Resource');
  const query: HistoryQuery = { ...parseHistoryParams(params), ...scope };
  await checkHistory(ctx, scope);
  // as in search: the audit trail's own records appear when AuditEvent is named, not system-wide
  if (scope.type === undefined) query.excludeTypes = ['AuditEvent'];
  const page = await ctx.store.history(query);
  await recordAccess(ctx, {
    interaction:
      scope.id !== undefined
        ? 'history-instance'
        : scope.type !== undefined
          ? 'history-type'
          : 'history-system',
    status: 200,
    ...(scope.type !== undefined
      ? { resource: [scope.type, scope.id].filter((p) => p !== undefined).join('/') }
      : {}),
    ...(scope.type === 'Patient' && scope.id !== undefined ? { patient: `Patient/${scope.id}` } : {}),
  });
  const path = [scope.type, scope.id, '_history'].filter((p) => p !== undefined).join('/');
  const link = (cursor?: string): string => {
    const search = new URLSearchParams();
    search.set('_count', String(query.count));
    if (query.since) search.set('_since', query.since);
    if (cursor) search.set('_cursor', cursor);
    return `${ctx.baseUrl}/${path}?${search.toString()}`;
  };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    link: [{ relation: 'self', url: link(query.cursor) }],
    entry: page.versions.map((v) => entryOf(ctx, v)),
  };
  if (page.next) bundle.link?.push({ relation: 'next', url: link(page.next) });
  if (bundle.entry?.length === 0) delete bundle.entry; // R4 json.html: no empty arrays
  return bundle;
}
