import type { Resource } from 'fhir/r4.js';
import { badRequest, preconditionFailed } from '../errors.js';
import type { StoredVersion } from '../store/store.js';
import type { ValidationLevel } from '../validation/validate.js';
import { auditEvents, recordAccess, versionFacts } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertBodyType, assertId, assertWritableType } from './guards.js';
import { commit, prepareVersion, withRetry, type WriteResult } from './write-path.js';

export interface WriteOptions {
  /** The version the client expects to replace (If-Match). */
  ifMatch?: number;
  /** Overrides the configured validation level for this write (a trusted feed, a restore). */
  validation?: ValidationLevel;
}

/** 412 when If-Match names another version than the current one (R4 http.html#concurrency). */
export function checkIfMatch(current: StoredVersion | undefined, ifMatch: number | undefined): void {
  if (ifMatch === undefined) return;
  if (!current || current.deleted)
    throw preconditionFailed(`If-Match: version ${ifMatch} is not current (no current version)`);
  if (current.versionId !== ifMatch) {
    throw preconditionFailed(`If-Match: version ${ifMatch} is not current (current is ${current.versionId})`);
  }
}

/**
 * Writes `resource` as the next version of type/id, or as its first (update-as-create, R4
 * http.html#upsert). Content equal to the current version writes nothing and returns it.
 * `interaction` names the access in the audit trail.
 */
export async function putVersion(
  ctx: ServiceContext,
  type: string,
  id: string,
  next: (current: StoredVersion | undefined) => Resource,
  options: WriteOptions,
  interaction: 'update' | 'patch' = 'update',
): Promise<WriteResult> {
  return withRetry(async () => {
    const current = await ctx.store.readCurrent(type, id);
    checkIfMatch(current, options.ifMatch);
    const prepared = prepareVersion(
      ctx,
      type,
      id,
      current,
      next(current),
      ctx.now().toISOString(),
      options.validation,
    );
    const { result } = prepared;
    const facts = versionFacts(interaction, result.version, result.created ? 201 : 200);
    if (prepared.write)
      await commit(ctx, [prepared.write], options.ifMatch !== undefined, [], auditEvents(ctx, [facts]));
    else await recordAccess(ctx, facts);
    return result;
  });
}

/** R4 http.html#update: the body's id must equal the URL's id. */
export function assertUpdateBody(type: string, id: string, body: unknown): asserts body is Resource {
  assertWritableType(type);
  assertId(id, type);
  assertBodyType(body, type);
  if (body.id === undefined) throw badRequest('The resource must carry the id given in the URL', 'id');
  if (body.id !== id)
    throw badRequest(`The resource id '${body.id}' does not match the URL id '${id}'`, 'id');
}

/** R4 http.html#update (and update-as-create). */
export async function updateResource(
  ctx: ServiceContext,
  type: string,
  id: string,
  body: unknown,
  options: WriteOptions = {},
): Promise<WriteResult> {
  assertUpdateBody(type, id, body);
  return putVersion(ctx, type, id, () => body, options);
}
