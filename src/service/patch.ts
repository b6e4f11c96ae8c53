import type { Resource } from 'fhir/r4.js';
import jsonpatch from 'fast-json-patch';
import { badRequest, gone, invalid, notFound } from '../errors.js';
import type { ServiceContext } from './context.js';
import { assertId, assertResourceType } from './guards.js';
import { putVersion, type WriteOptions } from './update.js';
import type { WriteResult } from './write-path.js';

const { applyPatch, validate, JsonPatchError } = jsonpatch;

/** 400 unless `body` is an RFC 6902 JSON Patch document. */
function assertJsonPatch(body: unknown): asserts body is jsonpatch.Operation[] {
  if (!Array.isArray(body)) throw badRequest('A JSON Patch document must be a JSON array of operations');
  const error = validate(body as jsonpatch.Operation[]) as jsonpatch.JsonPatchError | undefined;
  if (error)
    throw badRequest(
      `JSON Patch operation ${String(error.index)} is malformed: ${error.message.split('\n')[0] ?? ''}`,
    );
}

/**
 * R4 http.html#patch with JSON Patch (`application/json-patch+json`): applied to the current
 * version, then written through the same path as an update. A failed `test` or a path that does
 * not resolve is a 422; the patch may not change the resource's type or id.
 */
export async function patchResource(
  ctx: ServiceContext,
  type: string,
  id: string,
  body: unknown,
  options: WriteOptions = {},
): Promise<WriteResult> {
  assertResourceType(type);
  assertId(id, type);
  assertJsonPatch(body);
  return putVersion(
    ctx,
    type,
    id,
    (current) => {
      if (!current) throw notFound(`${type}/${id} is not known`);
      if (current.deleted || current.json === undefined) throw gone(`${type}/${id} was deleted`);
      let patched: Resource;
      try {
        patched = applyPatch(JSON.parse(current.json) as Resource, body, true, true, true).newDocument;
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
    },
    options,
  );
}
