import type { Issue } from '../errors.js';
import { valueSetContains } from '../terminology/valuesets.js';

/**
 * R4 terminologies.html#strength: a `required` binding is an error when no code is in the
 * ValueSet, an `extensible` one a warning. A ValueSet Ferry cannot expand (it draws on LOINC,
 * SNOMED CT, UCUM…) is not enforced: nothing can be concluded without that terminology.
 */

interface Coded {
  system?: string;
  code: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function codingOf(v: unknown): Coded | undefined {
  if (!isObject(v) || typeof v.code !== 'string') return undefined;
  return { system: typeof v.system === 'string' ? v.system : undefined, code: v.code };
}

/** The codes a value of a bindable type carries; undefined for types a binding does not apply to. */
function codesOf(type: string, value: unknown): Coded[] | undefined {
  switch (type) {
    case 'code':
    case 'string':
    case 'uri':
      return typeof value === 'string' ? [{ code: value }] : [];
    case 'Coding':
    case 'Quantity': {
      const c = codingOf(value);
      return c ? [c] : [];
    }
    case 'CodeableConcept': {
      const codings = isObject(value) && Array.isArray(value.coding) ? (value.coding as unknown[]) : [];
      return codings.flatMap((c) => codingOf(c) ?? []);
    }
    default:
      return undefined;
  }
}

/** Adds an issue when a coded value is outside its bound ValueSet. */
export function checkBinding(
  binding: { strength: 'required' | 'extensible'; valueSet: string },
  type: string,
  value: unknown,
  at: string,
  walk: { issues: Issue[]; profile?: string },
): void {
  const codes = codesOf(type, value);
  // A CodeableConcept with text only says nothing the terminology could refuse.
  if (!codes || codes.length === 0) return;
  const results = codes.map((c) => valueSetContains(binding.valueSet, c.system, c.code));
  if (results.some((r) => r !== false)) return;
  const shown = codes.map((c) => (c.system ? `${c.system}|${c.code}` : c.code)).join(', ');
  const required = binding.strength === 'required';
  walk.issues.push({
    severity: required ? 'error' : 'warning',
    code: 'code-invalid',
    diagnostics:
      `${shown} is not in the ${binding.strength} ValueSet ${binding.valueSet}` +
      (walk.profile ? ` (profile ${walk.profile})` : ''),
    expression: [at],
  });
}
