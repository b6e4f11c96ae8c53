import type { Resource } from 'fhir/r4.js';
import { badRequest, methodNotAllowed, notFound } from '../errors.js';
import { isRestResourceType } from '../fhir/element-tables.js';
import { isValidId } from '../fhir/ids.js';

/** 404 for a type Ferry has no endpoint for (R4 http.html: unknown resource type). */
export function assertResourceType(type: string): void {
  if (!isRestResourceType(type)) throw notFound(`Unknown resource type '${type}'`);
}

/**
 * assertResourceType for a write: AuditEvents are written by Ferry alone and never changed, so
 * every client's create, update, patch or delete of one is a 405 (the audit trail is append-only).
 */
export function assertWritableType(type: string): void {
  assertResourceType(type);
  if (type === 'AuditEvent') {
    throw methodNotAllowed(
      'The audit trail is append-only: AuditEvents are written by Ferry alone and never changed',
    );
  }
}

/** 400 for a logical id that breaks R4 id syntax; the expression names `{type}.id`. */
export function assertId(id: string, type: string): void {
  if (!isValidId(id)) {
    throw badRequest(`Invalid id '${id.slice(0, 80)}': 1-64 letters, digits, '-' or '.'`, `${type}.id`);
  }
}

/** 400 unless the body is a resource of the type the URL names. */
export function assertBodyType(body: unknown, type: string): asserts body is Resource {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object holding a FHIR resource');
  }
  const actual = (body as { resourceType?: unknown }).resourceType;
  if (actual !== type) {
    throw badRequest(
      typeof actual === 'string'
        ? `resourceType '${actual}' does not match the URL's type '${type}'`
        : 'The resource has no resourceType',
      'resourceType',
    );
  }
}
