/**
 * R4 elementdefinition-definitions.html#ElementDefinition.fixed_x_: a fixed value must be matched
 * exactly (no extra elements, arrays of the same length in the same order); a pattern only needs
 * each element it names to be present with that value, and each pattern array entry to be matched
 * by some instance entry (#ElementDefinition.pattern_x_).
 */

/** Exact match for `fixed[x]`. */
export function matchesFixed(fixed: unknown, value: unknown): boolean {
  if (fixed === value) return true;
  if (Array.isArray(fixed)) {
    return (
      Array.isArray(value) &&
      fixed.length === value.length &&
      fixed.every((f, i) => matchesFixed(f, value[i]))
    );
  }
  if (fixed !== null && typeof fixed === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const f = fixed as Record<string, unknown>;
    const v = value as Record<string, unknown>;
    const keys = Object.keys(f);
    return keys.length === Object.keys(v).length && keys.every((k) => matchesFixed(f[k], v[k]));
  }
  return false;
}

/** Containment match for `pattern[x]`. */
export function matchesPattern(pattern: unknown, value: unknown): boolean {
  if (pattern === value) return true;
  if (Array.isArray(pattern)) {
    const values = Array.isArray(value) ? value : [value];
    return pattern.every((p) => values.some((v) => matchesPattern(p, v)));
  }
  if (pattern !== null && typeof pattern === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const v = value as Record<string, unknown>;
    return Object.entries(pattern).every(([k, p]) => matchesPattern(p, v[k]));
  }
  return false;
}

/** A short JSON rendering of a value for a diagnostic. */
export function shortJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
