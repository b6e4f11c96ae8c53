import { auditEvents, recordAccess, versionFacts } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertId, assertWritableType } from './guards.js';
import { checkIfMatch, type WriteOptions } from './update.js';
import { commit, versionWrite, withRetry, type WriteResult } from './write-path.js';

/**
 * R4 http.html#delete: writes a tombstone version. Deleting a resource that is unknown or
 * already deleted succeeds and writes nothing (the spec makes delete idempotent).
 */
export async function deleteResource(
  ctx: ServiceContext,
  type: string,
  id: string,
  options: WriteOptions = {},
): Promise<WriteResult | undefined> {
  assertWritableType(type);
  assertId(id, type);
  return withRetry(async () => {
    const current = await ctx.store.readCurrent(type, id);
    checkIfMatch(current, options.ifMatch);
    if (!current || current.deleted) {
      await recordAccess(ctx, { interaction: 'delete', status: 200, resource: `${type}/${id}` });
      return undefined;
    }
    const write = versionWrite(ctx, type, id, current, ctx.now().toISOString());
    const audit = auditEvents(ctx, [versionFacts('delete', write, 200, current)]);
    await commit(ctx, [write], options.ifMatch !== undefined, [], audit);
    return { version: write, created: false };
  });
}
