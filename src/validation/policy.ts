import { warmTerminology } from '../terminology/valuesets.js';
import { compiledBase, compiledStructure } from './compile-structure.js';
import { shippedProfiles, warmDefinitions } from './definitions.js';
import type { ValidationPolicy } from './validate.js';

/**
 * The configured profiles must exist and constrain the type they are enforced on; the answer is
 * the one line to print when one does not, else undefined.
 */
export function checkPolicy(policy: ValidationPolicy): string | undefined {
  for (const [type, urls] of Object.entries(policy.enforce)) {
    if (!compiledBase(type)) return `${type} is not an R4 resource type`;
    for (const url of urls) {
      const profile = compiledStructure(url);
      if (!profile) return `${url} is not a profile this server knows (see profiles/)`;
      if (profile.type !== type) return `${url} constrains ${profile.type}, not ${type}`;
    }
  }
  return undefined;
}

/** Loads definitions and terminology and compiles the enforced profiles before the first request. */
export function warmProfiles(policy: ValidationPolicy): void {
  warmDefinitions();
  warmTerminology();
  for (const [type, urls] of Object.entries(policy.enforce)) {
    compiledBase(type);
    for (const url of urls) compiledStructure(url);
  }
}

/** The profiles shipped in `profiles/`, by the resource type they constrain (extensions left out). */
export function profilesByType(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const sd of shippedProfiles().values()) {
    if (sd.kind === 'resource' && sd.derivation === 'constraint') (out[sd.type] ??= []).push(sd.url);
  }
  return out;
}
