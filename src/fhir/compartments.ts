import { readFileSync } from 'node:fs';
import { r4DefinitionFile } from './definitions-path.js';

interface CompartmentDefinitionLite {
  code: string;
  resource: { code: string; param?: string[] }[];
}

let patient: Map<string, string[]> | undefined;

/**
 * The reference parameters that put a resource of `type` in a compartment, from the official
 * CompartmentDefinition (R4 compartmentdefinition-patient.html). Undefined when the type is not
 * in the compartment. Ferry knows the Patient compartment.
 */
export function compartmentParams(compartment: string, type: string): string[] | undefined {
  if (compartment !== 'Patient') return undefined;
  patient ??= new Map(
    (
      JSON.parse(
        readFileSync(r4DefinitionFile('compartmentdefinition-patient.json'), 'utf8'),
      ) as CompartmentDefinitionLite
    ).resource
      .filter((r) => (r.param?.length ?? 0) > 0)
      .map((r) => [r.code, r.param ?? []]),
  );
  return patient.get(type);
}

/** Compartment types Ferry can search in. */
export const knownCompartments: ReadonlySet<string> = new Set(['Patient']);
