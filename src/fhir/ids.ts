import { randomUUID } from 'node:crypto';

/** R4 datatypes.html#id: 1–64 characters of letters, digits, "-" and ".". */
export const idPattern = /^[A-Za-z0-9\-.]{1,64}$/;

export const isValidId = (id: string): boolean => idPattern.test(id);

/** A new server-assigned logical id. */
export const newId = (): string => randomUUID();

/** Weak ETag for a version (R4 http.html#versioning): `W/"3"`. */
export const etag = (versionId: number): string => `W/"${versionId}"`;

/**
 * Reads a version id from an If-Match / If-None-Match value: `W/"3"`, `"3"` or `3`.
 * Returns undefined when the header does not name a version.
 */
export function parseETag(header: string): number | undefined {
  const m = /^\s*(?:W\/)?"?([0-9]+)"?\s*$/.exec(header);
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
