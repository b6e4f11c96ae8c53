import type { Parameters, Resource } from 'fhir/r4.js';
import jsonpatch from 'fast-json-patch';
import { badRequest, gone, invalid, notFound } from '../errors.js';
import type { StoredVersion } from '../store/store.js';
import type { ServiceContext } from './context.js';
import { applyFhirPathPatch, isFhirPathPatch } from './fhirpath-patch.js';
import { assertId, assertWritableType } from './guards.js';
import { putVersion, type WriteOptions } from './update.js';
import type { WriteResult } from './write-path.js';

const { applyPatch, validate, JsonPatchError } = jsonpatch;

/** 400 unless `body` is an RFC 6902 JSON Patch document (or a FHIRPath Patch Parameters). */
function assertJsonPatch(body: unknown): asserts body is jsonpatch.Operation[] {
  if (!Array.isArray(body))
    throw badRequest(
      'A patch must be a JSON Patch array of operations or a FHIRPath Patch Parameters resource',
    );
  const error = validate(body as jsonpatch.Operation[]) as jsonpatch.JsonPatchError | undefined;
  if (error)
    throw badRequest(
      `JSON Patch operation ${String(error.index)} is malformed: ${error.message.split('\n')[0] ?? ''}`,
    );
}

/** The resource a patch makes of the current version: JSON Patch or FHIRPath Patch. */
function applyPatchBody(resource: Resource, body: jsonpatch.Operation[] | Parameters): Resource {
  if (isFhirPathPatch(body)) return applyFhirPathPatch(resource, body);
  try {
    return applyPatch(resource, body, true, true, true).newDocument;
  } catch (error) {
    if (error instanceof JsonPatchError) {
      throw invalid([
        {
          severity: 'error',
          code: 'processing',
          diagnostics: `JSON Patch operation ${String(error.index)} failed: ${error.message.split('\n')[0] ?? ''}`,
        },
      ]);
    }
    throw error;
  }
}

/**
 * Checks a patch body (400 when malformed) and answers the function that turns the current
 * version into the patched resource, for putVersion or a transaction entry.
 */
export function patchTransform(
  type: string,
  id: string,
  body: unknown,
): (current: StoredVersion | undefined) => Resource {
  if (!isFhirPathPatch(body)) assertJsonPatch(body);
  return (current) => {
    if (!current) throw notFound(`${type}/${id} is not known`);
    if (current.deleted || current.json === undefined) throw gone(`${type}/${id} was deleted`);
    const patched = applyPatchBody(JSON.parse(current.json) as Resource, body);
    if (patched.resourceType !== type)
      throw invalid([
        {
          severity: 'error',
          code: 'invariant',
          diagnostics: 'A patch may not change resourceType',
          expression: ['resourceType'],
        },
      ]);
    if (patched.id !== id)
      throw invalid([
        {
          severity: 'error',
          code: 'invariant',
          diagnostics: 'A patch may not change id',
          expression: ['id'],
        },
      ]);
    return patched;
  };
}

/**
 * R4 http.html#patch, with JSON Patch (`application/json-patch+json`) or FHIRPath Patch (a
 * Parameters resource, R4 fhirpatch.html): applied to the current version, then written through
 * the same path as an update. A failed `test` or a path that does not resolve is a 422; the
 * patch may not change the resource's type or id.
 */
export async function patchResource(
  ctx: ServiceContext,
  type: string,
  id: string,
  body: unknown,
  options: WriteOptions = {},
): Promise<WriteResult> {
  assertWritableType(type);
  assertId(id, type);
  return putVersion(ctx, type, id, patchTransform(type, id, body), options, 'patch');
}
