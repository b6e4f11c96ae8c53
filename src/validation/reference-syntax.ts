/**
 * Makes the Reference.reference syntax check (R4 references.html#literal): a relative `Type/id`
 * with an optional `/_history/vid`, a local `#id`, or an absolute URI (URL, urn:uuid:, urn:oid:).
 * Serialised into the generated validators, so it must stay self-contained.
 */
export function makeReferenceCheck(resourceTypes: string[]): (value: string) => boolean {
  const known = new Set(resourceTypes);
  return function isValidReference(value: string): boolean {
    if (value.startsWith('#')) return /^#[A-Za-z0-9\-.]{0,64}$/.test(value);
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(value)) return true;
    const m = /^([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(value);
    return m !== null && known.has(m[1] ?? '');
  };
}
