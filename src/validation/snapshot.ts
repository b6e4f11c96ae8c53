import type { ElementDefinition, StructureDefinition } from 'fhir/r4.js';

/**
 * Generates the snapshot of a profile that ships only a differential (R4 profiling.html#snapshot):
 * the base snapshot, with each differential element merged into the element of the same id, data
 * type children unfolded where the differential constrains inside a data type, and slices added as
 * copies of their slice entry. Enough for the profiles in `profiles/`; published profiles ship
 * their own snapshot and are used as they are.
 */
export function generateSnapshot(
  profile: StructureDefinition,
  definition: (url: string) => StructureDefinition | undefined,
): StructureDefinition {
  const base = profile.baseDefinition ? definition(profile.baseDefinition) : undefined;
  const baseElements = base?.snapshot?.element;
  if (!baseElements)
    throw new Error(`${profile.url}: no snapshot for its base ${profile.baseDefinition ?? '(none)'}`);
  const elements: ElementDefinition[] = baseElements.map((e) => {
    const copy = structuredClone(e);
    // name where each inherited invariant comes from, as published snapshots do
    for (const c of copy.constraint ?? []) c.source ??= base.url;
    return copy;
  });
  const byId = new Map(elements.map((e) => [e.id ?? e.path, e]));

  const add = (element: ElementDefinition): ElementDefinition => {
    elements.push(element);
    byId.set(element.id ?? element.path, element);
    return element;
  };

  /** Makes the element with this id exist, unfolding data types and copying slice entries. */
  const ensure = (id: string): ElementDefinition => {
    const found = byId.get(id);
    if (found) return found;
    const dot = id.lastIndexOf('.');
    const last = id.slice(dot + 1);
    const colon = last.indexOf(':');
    if (colon >= 0) {
      const entryId = id.slice(0, dot + 1 + colon);
      const entry = ensure(entryId);
      const { slicing: _slicing, ...copy } = structuredClone(entry);
      const slice = add({ ...copy, id, sliceName: last.slice(colon + 1) });
      // a slice carries the entry's inline children (a BackboneElement's elements)
      for (const child of [...elements]) {
        const childId = child.id ?? child.path;
        if (childId.startsWith(`${entryId}.`) && !childId.slice(entryId.length).includes(':')) {
          add({ ...structuredClone(child), id: `${id}${childId.slice(entryId.length)}` });
        }
      }
      return slice;
    }
    const parent = ensure(id.slice(0, dot));
    const type = parent.type?.[0]?.code;
    const typeElements = type
      ? definition(`http://hl7.org/fhir/StructureDefinition/${type}`)?.snapshot?.element
      : undefined;
    if (!type || !typeElements) throw new Error(`${profile.url}: cannot find element ${id}`);
    for (const child of typeElements.slice(1)) {
      if (child.path.split('.').length !== 2) continue;
      const name = child.path.slice(type.length + 1);
      if (!byId.has(`${parent.id ?? parent.path}.${name}`)) {
        add({
          ...structuredClone(child),
          id: `${parent.id ?? parent.path}.${name}`,
          path: `${parent.path}.${name}`,
        });
      }
    }
    const made = byId.get(id);
    if (!made) throw new Error(`${profile.url}: ${type} has no element ${last}`);
    return made;
  };

  for (const diff of profile.differential?.element ?? []) {
    const target = ensure(diff.id ?? diff.path);
    const { constraint, ...rest } = diff;
    Object.assign(target, rest);
    if (constraint)
      target.constraint = [
        ...(target.constraint ?? []),
        ...constraint.map((c) => ({ ...c, source: c.source ?? profile.url })),
      ];
  }
  return { ...profile, snapshot: { element: elements } };
}
