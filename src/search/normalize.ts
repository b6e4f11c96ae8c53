/**
 * The normal form of a string for search (R4 search.html#string: "case-insensitive and
 * accent-insensitive"): accents removed (NFD, combining marks dropped), lower-cased, whitespace
 * collapsed. Extraction and matching must use this same function.
 */
export function normalizeString(value: string): string {
  return value
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}
