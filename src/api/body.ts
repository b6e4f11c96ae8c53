import type { Request } from 'express';
import { badRequest, badStructure } from '../errors.js';
import { assertContentType } from './negotiate.js';

export const fhirJsonTypes = ['application/fhir+json', 'application/json', 'application/json+fhir'];
export const jsonPatchTypes = ['application/json-patch+json'];

/**
 * The parsed JSON body of a request declared as one of `types` (415 otherwise). Malformed JSON
 * is a 400 that says where it broke. The raw bytes were collected, within the size limit, by
 * express.raw in front of the route.
 */
export function jsonBody(req: Request, types: string[]): unknown {
  assertContentType(req, types);
  const raw: unknown = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw badRequest('The request has no body');
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : 'unreadable';
    throw badStructure(`The body is not valid JSON: ${detail.slice(0, 200)}`);
  }
}
