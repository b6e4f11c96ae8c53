import type { Resource } from 'fhir/r4.js';
import { notFound } from '../errors.js';
import type { StoredVersion } from '../store/store.js';
import type { ServiceContext } from './context.js';

/**
 * The service's questions to the request's access (SMART scopes, patient compartment), in terms
 * of stored versions. Without `ctx.access` (the CLI, internal callers) everything is allowed.
 */

const body = (version: StoredVersion): Resource | undefined =>
  version.json === undefined ? undefined : (JSON.parse(version.json) as Resource);

/** 403 before the store is asked when the token cannot read the type at all. */
export function checkReadType(ctx: ServiceContext, type: string): void {
  ctx.access?.allowances(type, 'r');
}

/**
 * A version the token may not see is answered as unknown (404), and so is a deletion it cannot
 * tell apart from one it may not see: nothing reveals another patient's records.
 */
export function checkReadVersion(
  ctx: ServiceContext,
  type: string,
  id: string,
  version: StoredVersion,
): void {
  const access = ctx.access;
  if (!access || access.unrestricted(type, 'r')) return;
  const resource = body(version);
  if (!resource || !access.canSee(resource)) throw notFound(`${type}/${id} is not known`);
}

/** A create (no live current version) needs `c`, an update or patch `u`; both must stay in reach. */
export function checkWrite(
  ctx: ServiceContext,
  type: string,
  current: StoredVersion | undefined,
  next: Resource,
): void {
  const access = ctx.access;
  if (!access) return;
  const live = current && !current.deleted ? current : undefined;
  const permission = live ? 'u' : 'c';
  if (access.unrestricted(type, permission)) return;
  access.assertCanWrite(type, permission, next, live && body(live));
}

/** A delete needs `d`, on a resource the token can see. */
export function checkDelete(ctx: ServiceContext, type: string, current: StoredVersion): void {
  const access = ctx.access;
  if (!access || access.unrestricted(type, 'd')) return;
  access.assertCanWrite(type, 'd', undefined, body(current));
}
