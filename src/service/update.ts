import type { Resource } from 'fhir/r4.js';
import { badRequest, preconditionFailed } from '../errors.js';
import type { StoredVersion } from '../store/store.js';
import type { ValidationLevel } from '../validation/validate.js';
import type { ServiceContext } from './context.js';
import { assertBodyType, assertId, assertResourceType } from './guards.js';
import { assertValid, commit, sameContent, versionWrite, withRetry, type WriteResult } from './write-path.js';

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
 */
export async function putVersion(
  ctx: ServiceContext,
  type: string,
  id: string,
  next: (current: StoredVersion | undefined) => Resource,
  options: WriteOptions,
): Promise<WriteResult> {
  return withRetry(async () => {
    const current = await ctx.store.readCurrent(type, id);
    checkIfMatch(current, options.ifMatch);
    const resource = next(current);
    assertValid(resource, { policy: ctx.validation, level: options.validation });
    if (current && sameContent(current, resource)) {
      return {
        version: current,
        created: false,
        unchanged: true,
      };
    }
    const write = versionWrite(ctx, type, id, current, ctx.now().toISOString(), resource);
    await commit(ctx, [write], options.ifMatch !== undefined);
    return {
      version: write,
      created: !current || current.deleted,
    };
  });
}

/** R4 http.html#update: the body's id must equal the URL's id. */
export async function updateResource(
  ctx: ServiceContext,
  type: string,
  id: string,
  body: unknown,
  options: WriteOptions = {},
): Promise<WriteResult> {
  assertResourceType(type);
  assertId(id, type);
  assertBodyType(body, type);
  if (body.id === undefined) throw badRequest('The resource must carry the id given in the URL', 'id');
  if (body.id !== id)
    throw badRequest(`The resource id '${body.id}' does not match the URL id '${id}'`, 'id');
  return putVersion(ctx, type, id, () => body, options);
}
