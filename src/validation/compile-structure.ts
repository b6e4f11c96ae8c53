import type { ElementDefinition, ElementDefinitionConstraint, StructureDefinition } from 'fhir/r4.js';
import { compileInvariant, type Invariant } from './constraints.js';
import { baseDefinition, canonicalUrl, structureDefinition } from './definitions.js';

/**
 * A StructureDefinition's snapshot compiled into a tree of element rules (R4
 * elementdefinition.html, profiling.html), once per definition and cached: the walk in
 * check-structure.ts then needs no lookups by path.
 */

export interface TypeRule {
  code: string;
  /** The JSON name suffix of a choice element of this type (`Quantity`, `DateTime`). */
  suffix: string;
  profiles: string[];
}

export interface Discriminator {
  type: 'value' | 'pattern' | 'type' | 'profile' | 'exists';
  path: string;
}

export interface ElementRule {
  id: string;
  path: string;
  /** The JSON name (`value` for `value[x]`). */
  name: string;
  choice: boolean;
  min: number;
  max: number;
  types: TypeRule[];
  /** `#Questionnaire.item`: the children are those of another element. */
  contentReference?: string;
  children: ElementRule[];
  sliceName?: string;
  slicing?: { discriminators: Discriminator[]; rules: 'open' | 'closed' | 'openAtEnd' };
  slices: ElementRule[];
  fixed?: { value: unknown };
  pattern?: { value: unknown };
  binding?: { strength: 'required' | 'extensible'; valueSet: string };
  invariants: Invariant[];
}

export interface CompiledStructure {
  url: string;
  /** The type it constrains (`Observation`, `Extension`). */
  type: string;
  /** True for the R4 base definition of a type (then the walk descends into data types). */
  base: boolean;
  root: ElementRule;
  byId: Map<string, ElementRule>;
}

/** R4 datatypes.html: types whose name starts lower-case are primitives (and the FHIRPath System types). */
export const isPrimitive = (code: string): boolean => /^[a-z]/.test(code) || code.startsWith('http://');

const ucFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function valueOf(element: ElementDefinition, prefix: 'fixed' | 'pattern'): { value: unknown } | undefined {
  for (const [k, v] of Object.entries(element))
    if (k.startsWith(prefix) && k.length > prefix.length) return { value: v };
  return undefined;
}

/**
 * In a profile, the invariants its snapshot copies from the R4 base definitions (constraint.source
 * names the base type) are left out: the walk against the base definition evaluates them already.
 */
function ownInvariant(constraint: ElementDefinitionConstraint, profile: boolean): boolean {
  if (!profile) return true;
  const m = /^http:\/\/hl7\.org\/fhir\/StructureDefinition\/([A-Z][A-Za-z]+)$/.exec(constraint.source ?? '');
  return !(m?.[1] && baseDefinition(m[1]));
}

function compileElement(element: ElementDefinition, profile: boolean): ElementRule {
  const last = element.path.slice(element.path.lastIndexOf('.') + 1);
  const choice = last.endsWith('[x]');
  const binding = element.binding;
  const rule: ElementRule = {
    id: element.id ?? element.path,
    path: element.path,
    name: choice ? last.slice(0, -3) : last,
    choice,
    min: element.min ?? 0,
    max: element.max === undefined || element.max === '*' ? Infinity : Number(element.max),
    types: (element.type ?? []).map((t) => ({
      code: t.code,
      suffix: ucFirst(t.code),
      profiles: (t.profile ?? []).map(canonicalUrl),
    })),
    children: [],
    slices: [],
    invariants: (element.constraint ?? [])
      .filter((c) => ownInvariant(c, profile))
      .flatMap((c) => compileInvariant(c) ?? []),
  };
  if (element.contentReference) rule.contentReference = element.contentReference.replace(/^.*#/, '');
  if (element.sliceName) rule.sliceName = element.sliceName;
  if (element.slicing) {
    rule.slicing = {
      discriminators: (element.slicing.discriminator ?? []).map((d) => ({ type: d.type, path: d.path })),
      rules: element.slicing.rules,
    };
  }
  const fixed = valueOf(element, 'fixed');
  if (fixed) rule.fixed = fixed;
  const pattern = valueOf(element, 'pattern');
  if (pattern) rule.pattern = pattern;
  if (binding?.valueSet && (binding.strength === 'required' || binding.strength === 'extensible')) {
    rule.binding = { strength: binding.strength, valueSet: binding.valueSet };
  }
  return rule;
}

/** The id of an element's parent: `Observation.component:systolic.code` → `Observation.component:systolic`. */
function parentId(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}

/** In a profile, a binding the base definition has as well is left to the walk against the base. */
function dropInheritedBindings(type: string, rules: Map<string, ElementRule>): void {
  const base = compiledBase(type);
  if (!base) return;
  for (const rule of rules.values()) {
    const inherited = base.byId.get(rule.path)?.binding;
    if (
      rule.binding &&
      inherited?.strength === rule.binding.strength &&
      canonicalUrl(inherited.valueSet) === canonicalUrl(rule.binding.valueSet)
    ) {
      delete rule.binding;
    }
  }
}

/** Compiles one definition (it must have a snapshot); compiledStructure caches these by URL. */
export function compileStructure(sd: StructureDefinition): CompiledStructure {
  const elements = sd.snapshot?.element ?? [];
  if (elements.length === 0) throw new Error(`${sd.url} has no snapshot`);
  const byId = new Map<string, ElementRule>();
  let root: ElementRule | undefined;
  const profile = sd.derivation === 'constraint';
  for (const element of elements) {
    const rule = compileElement(element, profile);
    byId.set(rule.id, rule);
    if (!root) {
      root = rule;
      continue;
    }
    const lastSegment = rule.id.slice(rule.id.lastIndexOf('.') + 1);
    const colon = lastSegment.indexOf(':');
    if (colon >= 0) {
      // A slice: `Observation.category:VSCat` belongs to `Observation.category`.
      const entry = byId.get(rule.id.slice(0, rule.id.length - lastSegment.length + colon));
      entry?.slices.push(rule);
      continue;
    }
    byId.get(parentId(rule.id))?.children.push(rule);
  }
  if (!root) throw new Error(`${sd.url} has no root element`);
  if (profile) dropInheritedBindings(sd.type, byId);
  return {
    url: sd.url,
    type: sd.type,
    base: sd.derivation !== 'constraint',
    root,
    byId,
  };
}

const cache = new Map<string, CompiledStructure | undefined>();

/** The compiled definition with this canonical URL, or `undefined` when Ferry does not know it. */
export function compiledStructure(url: string): CompiledStructure | undefined {
  const key = canonicalUrl(url);
  if (!cache.has(key)) {
    const sd = structureDefinition(key);
    cache.set(key, sd?.snapshot ? compileStructure(sd) : undefined);
  }
  return cache.get(key);
}

/** The compiled R4 base definition of a resource or data type. */
export function compiledBase(type: string): CompiledStructure | undefined {
  const sd = baseDefinition(type);
  return sd ? compiledStructure(sd.url) : undefined;
}
