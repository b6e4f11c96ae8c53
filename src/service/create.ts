import { newId } from '../fhir/ids.js';
import { auditEvents, versionFacts } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertBodyType, assertWritableType } from './guards.js';
import { commit, prepareVersion, type WriteResult } from './write-path.js';
import type { Resource } from 'fhir/r4.js';
import type { ValidationLevel } from '../validation/validate.js';

/**
 * R4 http.html#create: the server assigns the id (an id in the body is ignored, as the spec
 * allows) and the first version.
 */
export async function createResource(
  ctx: ServiceContext,
  type: string,
  body: unknown,
  options: { validation?: ValidationLevel } = {},
): Promise<WriteResult> {
  assertWritableType(type);
  assertBodyType(body, type);
  const id = newId();
  const resource: Resource = { ...body, id };
  const { write, result } = prepareVersion(
    ctx,
    type,
    id,
    undefined,
    resource,
    ctx.now().toISOString(),
    options.validation,
  );
  if (write) await commit(ctx, [write], false, [], auditEvents(ctx, [versionFacts('create', write, 201)]));
  return result;
}
