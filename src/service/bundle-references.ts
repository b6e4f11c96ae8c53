/**
 * References inside the resources of a transaction (R4 http.html#trules): every
 * `Reference.reference` at any depth — nested elements, extensions, contained resources — and
 * the links of the narrative.
 */

type Visit = (holder: { reference: string }) => void;

function walk(value: unknown, visit: Visit): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const object = value as Record<string, unknown>;
  if (typeof object.reference === 'string') visit(object as { reference: string });
  for (const key in object) {
    const child = object[key];
    if (child !== null && typeof child === 'object') walk(child, visit);
  }
}

/** Every reference string in a resource. */
export function referencesIn(resource: object): string[] {
  const found: string[] = [];
  walk(resource, (holder) => found.push(holder.reference));
  return found;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replaces, in place, references found in `targets` by their new value (`Patient/123`), in
 * Reference elements and in the narrative's `href`/`src` attributes.
 */
export function rewriteReferences(resource: object, targets: Map<string, string>): void {
  if (targets.size === 0) return;
  walk(resource, (holder) => {
    const target = targets.get(holder.reference);
    if (target !== undefined) holder.reference = target;
  });
  const text = (resource as { text?: { div?: unknown } }).text;
  if (typeof text?.div === 'string' && /\b(?:href|src)\s*=/.test(text.div)) {
    let div = text.div;
    for (const [from, to] of targets) {
      if (!div.includes(from)) continue;
      div = div.replace(
        new RegExp(`(\\b(?:href|src)\\s*=\\s*["'])${escapeRegExp(from)}(["'])`, 'g'),
        `$1${to}$2`,
      );
    }
    text.div = div;
  }
}

/** A conditional reference (R4 http.html#trules): `Patient?identifier=…`. */
export function conditionalReference(
  reference: string,
): { type: string; criteria: [string, string][] } | undefined {
  const m = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(reference);
  if (!m?.[1] || m[2] === undefined) return undefined;
  return { type: m[1], criteria: [...new URLSearchParams(m[2])] };
}
