import type { Resource } from 'fhir/r4.js';
import { elementTables } from './element-tables.js';

/** R4 search.html#summary values; `count` only makes sense for searches. */
export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';
export const summaryModes: readonly SummaryMode[] = ['true', 'text', 'data', 'count', 'false'];

const subsettedTag = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

/** Elements a subset always keeps (R4 search.html#elements: id, meta and mandatory elements). */
function alwaysKept(type: string): Set<string> {
  return new Set(['resourceType', 'id', 'meta', ...(elementTables().mandatory[type] ?? [])]);
}

function pick(resource: Resource, keep: (name: string) => boolean): Resource {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    // a primitive's extensions (`_birthDate`) travel with the primitive (`birthDate`)
    const name = key.startsWith('_') ? key.slice(1) : key;
    if (keep(name)) out[key] = value;
  }
  return markSubsetted(out as unknown as Resource);
}

function markSubsetted(resource: Resource): Resource {
  const meta = { ...resource.meta };
  meta.tag = [...(meta.tag ?? []).filter((t) => t.code !== subsettedTag.code), subsettedTag];
  return { ...resource, meta };
}

/**
 * Applies `_summary` and `_elements` to one resource (R4 search.html#summary and #elements).
 * Returns the resource itself when nothing is removed.
 */
export function subsetResource(resource: Resource, summary?: SummaryMode, elements?: string[]): Resource {
  const type = resource.resourceType;
  if (elements && elements.length > 0) {
    const kept = alwaysKept(type);
    for (const e of elements) kept.add(e);
    return pick(resource, (name) => kept.has(name));
  }
  switch (summary) {
    case 'true': {
      const kept = alwaysKept(type);
      for (const e of elementTables().summary[type] ?? []) kept.add(e);
      return pick(resource, (name) => kept.has(name));
    }
    case 'text': {
      const kept = alwaysKept(type);
      kept.add('text');
      return pick(resource, (name) => kept.has(name));
    }
    case 'data':
      return pick(resource, (name) => name !== 'text');
    default:
      return resource;
  }
}
