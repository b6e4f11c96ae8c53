import type { Request } from 'express';
import { notAcceptable, unsupportedMediaType } from '../errors.js';

const jsonTypes = new Set(['application/fhir+json', 'application/json', 'json', 'application/json+fhir']);
const xmlTypes = new Set([
  'application/fhir+xml',
  'application/xml',
  'xml',
  'text/xml',
  'application/xml+fhir',
]);

/**
 * R4 http.html#mime-type: picks the response media type from `_format` (which wins) or Accept.
 * Ferry speaks JSON only; XML asks are answered 406 with a clear reason.
 */
export function responseMediaType(req: Request): string {
  const format = typeof req.query._format === 'string' ? req.query._format.split(';')[0]?.trim() : undefined;
  if (format !== undefined) {
    if (jsonTypes.has(format))
      return format === 'application/json' ? 'application/json' : 'application/fhir+json';
    if (xmlTypes.has(format))
      throw notAcceptable('This server speaks FHIR JSON only; _format=xml is not supported');
    throw notAcceptable(`_format '${format}' is not supported; use json`);
  }
  const accept = req.headers.accept;
  if (!accept) return 'application/fhir+json';
  const types = accept.split(',').map((t) => t.split(';')[0]?.trim().toLowerCase() ?? '');
  if (
    types.some(
      (t) =>
        t === 'application/fhir+json' ||
        t === '*/*' ||
        t === 'application/*' ||
        t === 'application/json+fhir',
    )
  ) {
    return 'application/fhir+json';
  }
  if (types.includes('application/json')) return 'application/json';
  if (types.some((t) => xmlTypes.has(t)))
    throw notAcceptable('This server speaks FHIR JSON only; XML is not supported');
  throw notAcceptable(`None of the media types in Accept can be served; use application/fhir+json`);
}

/** 415 unless the request body is declared as one of `allowed`. */
export function assertContentType(req: Request, allowed: string[]): void {
  const declared = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!allowed.includes(declared)) {
    throw unsupportedMediaType(
      declared === ''
        ? `A Content-Type is required: ${allowed.join(' or ')}`
        : `Content-Type '${declared}' is not supported here; use ${allowed.join(' or ')}`,
    );
  }
}

/** `_pretty=true` asks for indented JSON. */
export const wantsPretty = (req: Request): boolean => req.query._pretty === 'true';
