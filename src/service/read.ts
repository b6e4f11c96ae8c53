import { gone, notFound } from '../errors.js';
import type { StoredVersion } from '../store/store.js';
import { checkReadType, checkReadVersion } from './authorize.js';
import { recordAccess, versionFacts } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertId, assertResourceType } from './guards.js';

/** R4 http.html#read: the current version; 404 when unknown, 410 when deleted. */
export async function readResource(ctx: ServiceContext, type: string, id: string): Promise<StoredVersion> {
  assertResourceType(type);
  assertId(id, type);
  checkReadType(ctx, type);
  const current = await ctx.store.readCurrent(type, id);
  if (!current) throw notFound(`${type}/${id} is not known`);
  checkReadVersion(ctx, type, id, current);
  if (current.deleted) throw gone(`${type}/${id} was deleted (version ${current.versionId})`);
  // the facts (the patient is read off the JSON) only when there is a trail to write them to
  if (ctx.audit) await recordAccess(ctx, versionFacts('read', current, 200));
  return current;
}

/** R4 http.html#vread: one version; 404 when unknown, 410 when that version is a delete. */
export async function vreadResource(
  ctx: ServiceContext,
  type: string,
  id: string,
  versionId: string,
): Promise<StoredVersion> {
  assertResourceType(type);
  assertId(id, type);
  checkReadType(ctx, type);
  const n = /^[1-9][0-9]{0,15}$/.test(versionId) ? Number(versionId) : undefined;
  const version = n === undefined ? undefined : await ctx.store.readVersion(type, id, n);
  if (!version) throw notFound(`${type}/${id} has no version '${versionId.slice(0, 20)}'`);
  checkReadVersion(ctx, type, id, version);
  if (version.deleted) throw gone(`${type}/${id} version ${versionId} is a deletion`);
  if (ctx.audit) await recordAccess(ctx, versionFacts('vread', version, 200));
  return version;
}
