import { compartmentParams } from '../fhir/compartments.js';
import { extractIndexEntries } from '../search/extract.js';
import { searchParameter } from '../search/parameters.js';
import type { IndexEntry, SearchParamDef } from '../search/types.js';

/**
 * The patient whose data a resource is, for the audit record (BALP: the patient entity of an
 * access to patient data): the Patient itself, else the first Patient that one of the type's
 * Patient compartment parameters references (R4 compartmentdefinition-patient.html).
 */

const compartmentDefs = new Map<string, SearchParamDef[]>();

/** The reference parameters that put a resource of `type` in a Patient's compartment. */
function defsOf(type: string): SearchParamDef[] {
  let defs = compartmentDefs.get(type);
  if (!defs) {
    defs = (compartmentParams('Patient', type) ?? [])
      .map((code) => searchParameter(type, code))
      .filter((d): d is SearchParamDef => d !== undefined && d.type === 'reference');
    compartmentDefs.set(type, defs);
  }
  return defs;
}

/**
 * From index entries already extracted (a write's, or the compartment parameters' of a read):
 * `Patient/id`, or undefined. The parameters are tried in the compartment definition's order
 * (`subject` before `performer`), whatever order the entries come in, so that the write and a
 * later read of a resource that references two patients name the same one.
 */
export function patientOfEntries(type: string, id: string, index: readonly IndexEntry[]): string | undefined {
  if (type === 'Patient') return `Patient/${id}`;
  for (const def of defsOf(type)) {
    for (const entry of index) {
      if (entry.kind === 'reference' && entry.targetType === 'Patient' && entry.param === def.code)
        return `Patient/${entry.targetId ?? ''}`;
    }
  }
  return undefined;
}

/** From a stored resource's JSON (a read's): only the compartment parameters are evaluated. */
export function patientOfJson(type: string, id: string, json: string | undefined): string | undefined {
  if (type === 'Patient') return `Patient/${id}`;
  const defs = defsOf(type);
  if (defs.length === 0 || json === undefined) return undefined;
  let resource: { resourceType: string };
  try {
    resource = JSON.parse(json) as { resourceType: string };
  } catch {
    return undefined;
  }
  return patientOfEntries(type, id, extractIndexEntries(resource, defs, { text: false }).entries);
}
