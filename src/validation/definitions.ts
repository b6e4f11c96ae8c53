import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StructureDefinition } from 'fhir/r4.js';
import { projectRoot, r4DefinitionFile } from '../fhir/definitions-path.js';
import { generateSnapshot } from './snapshot.js';

/**
 * The StructureDefinitions Ferry knows: the R4 base resources and data types, the profiles the
 * R4 specification itself publishes (vital signs…) and its extensions, and every definition in
 * `profiles/` (the profiles Ferry ships and enforces).
 */

/** Where the shipped profiles live; each `.json` file holds a StructureDefinition, a Bundle or an array. */
export const profilesDir = join(projectRoot, 'profiles');

let core: Map<string, StructureDefinition> | undefined;
let extra: Map<string, StructureDefinition> | undefined;
let shipped: Map<string, StructureDefinition> | undefined;

function readDefinitions(path: string): StructureDefinition[] {
  const data = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  const items: unknown[] = Array.isArray(data)
    ? data
    : (data as { resourceType?: string }).resourceType === 'Bundle'
      ? ((data as { entry?: { resource?: unknown }[] }).entry ?? []).map((e) => e.resource)
      : [data];
  return items.filter(
    (r): r is StructureDefinition =>
      (r as { resourceType?: string } | undefined)?.resourceType === 'StructureDefinition',
  );
}

/** The parts of an element definition validation reads; the prose (definition, comment, mapping…) is dropped. */
const elementKeys =
  /^(id|path|min|max|type|contentReference|sliceName|slicing|binding|constraint|fixed.+|pattern.+)$/;

/**
 * A definition without its narrative, differential and element prose: the R4 base definitions
 * take about a third of the memory this way.
 */
function slim(sd: StructureDefinition): StructureDefinition {
  const { text: _text, differential: _differential, mapping: _mapping, snapshot, ...rest } = sd;
  if (!snapshot) return rest;
  const element = snapshot.element.map(
    (e) => Object.fromEntries(Object.entries(e).filter(([k]) => elementKeys.test(k))) as typeof e,
  );
  return { ...rest, snapshot: { element } };
}

function byUrl(definitions: StructureDefinition[], into = new Map<string, StructureDefinition>()) {
  for (const sd of definitions) if (!into.has(sd.url)) into.set(sd.url, sd);
  return into;
}

function coreDefinitions(): Map<string, StructureDefinition> {
  core ??= byUrl(
    [
      ...readDefinitions(r4DefinitionFile('profiles-resources.json')),
      ...readDefinitions(r4DefinitionFile('profiles-types.json')),
    ].map(slim),
  );
  return core;
}

/** Profiles and extensions published with R4 itself; loaded only when one is asked for. */
function specDefinitions(): Map<string, StructureDefinition> {
  extra ??= byUrl(
    [
      ...readDefinitions(r4DefinitionFile('profiles-others.json')),
      ...readDefinitions(r4DefinitionFile('extension-definitions.json')),
    ].map(slim),
  );
  return extra;
}

function listJson(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listJson(path);
    return name.endsWith('.json') ? [path] : [];
  });
}

/** The definitions in `profiles/` (read once). */
export function shippedProfiles(): Map<string, StructureDefinition> {
  if (!shipped) {
    shipped = byUrl(listJson(profilesDir).flatMap(readDefinitions));
    // A profile written as a differential only gets its snapshot here, once.
    for (const [url, sd] of shipped) {
      if (!sd.snapshot && sd.differential) shipped.set(url, generateSnapshot(sd, structureDefinition));
    }
  }
  return shipped;
}

/** `http://…/StructureDefinition/x|5.0.1` → `http://…/StructureDefinition/x`. */
export const canonicalUrl = (url: string): string => url.split('|')[0] ?? url;

/** The definition with this canonical URL, from any of the sources; `undefined` when unknown. */
export function structureDefinition(url: string): StructureDefinition | undefined {
  const key = canonicalUrl(url);
  return coreDefinitions().get(key) ?? shippedProfiles().get(key) ?? specDefinitions().get(key);
}

/** The base definition of an R4 resource or data type (`Observation`, `Quantity`). */
export function baseDefinition(type: string): StructureDefinition | undefined {
  return coreDefinitions().get(`http://hl7.org/fhir/StructureDefinition/${type}`);
}

/** Reads the base definitions and the shipped profiles ahead of the first request. */
export function warmDefinitions(): void {
  coreDefinitions();
  shippedProfiles();
}
