import { randomUUID } from 'node:crypto';

/** R4 datatypes.html#id: 1–64 characters of letters, digits, "-" and ".". */
export const idPattern = /^[A-Za-z0-9\-.]{1,64}$/;

export const isValidId = (id: string): boolean => idPattern.test(id);

let lastMs = 0;
let counter = 0;

/**
 * A new server-assigned logical id: a time-ordered UUID (RFC 9562 version 7: 48 bits of Unix
 * milliseconds, a 12-bit counter that keeps ids made in the same millisecond in order, 62 random
 * bits). Ids made one after another sort one after another, so a store's key indexes grow at
 * their end instead of taking every new resource (and every AuditEvent) to a random page.
 */
export function newId(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    ms = lastMs; // the clock stood still or went back: stay in order
    if (++counter > 0xfff) {
      ms = ++lastMs; // 4096 ids in one millisecond: borrow the next one (RFC 9562 §6.2)
      counter = 0;
    }
  } else {
    lastMs = ms;
    counter = 0;
  }
  const time = ms.toString(16).padStart(12, '0');
  const random = randomUUID(); // version 4: its variant bits and 62 random bits are kept
  return `${time.slice(0, 8)}-${time.slice(8)}-7${counter.toString(16).padStart(3, '0')}${random.slice(18)}`;
}

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
