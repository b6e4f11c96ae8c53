import { createRequire } from 'node:module';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { splitUnion } from './parameters.js';

const require = createRequire(import.meta.url);
const path2Type = require('fhirpath/fhir-context/r4/path2Type.json') as Record<string, string | undefined>;
const choicePaths = require('fhirpath/fhir-context/r4/choiceTypePaths.json') as Record<
  string,
  string[] | undefined
>;
const elsewhere = require('fhirpath/fhir-context/r4/pathsDefinedElsewhere.json') as Record<
  string,
  string | undefined
>;
const type2Parent = require('fhirpath/fhir-context/r4/type2Parent.json') as Record<
  string,
  string | undefined
>;

/**
 * A value found by an expression with its FHIR type: a data type name (`CodeableConcept`,
 * `dateTime`, `string`), a resource type, or the element path of a backbone element
 * (`Observation.component`), which is how the R4 model names the type of its children.
 */
export interface Typed {
  value: unknown;
  type: string | null;
}

/** A compiled expression: `node` is the resource, or the element a relative expression starts at. */
export interface CompiledPath {
  evaluate(node: unknown, resource: object): Typed[];
  /** True when every part runs as a direct accessor (no fhirpath). */
  fast: boolean;
  /** The types a fast path yields (null for a choice left open); empty when not known statically. */
  types: (string | null)[];
}

type Step = (items: Typed[], resource: object) => Typed[];

const cache = new Map<string, CompiledPath>();

/**
 * Compiles an expression once. `base` is the type path the expression starts at: a resource type
 * for a parameter's expression (which then starts with that type), or an element path such as
 * `Observation.component` for a composite component's relative expression. Each `|` part that is a
 * simple path (properties, `ofType`, `[n]`, `where(x = 'y')`, `where(resolve() is T)`) becomes a
 * direct accessor; any other part is compiled by fhirpath.js with the R4 model.
 */
export function compilePath(expression: string, base: string): CompiledPath {
  const key = `${base}\u0000${expression}`;
  let compiled = cache.get(key);
  if (!compiled) {
    const parts = splitUnion(expression).map((part) => {
      const absolute = part === base || (part.startsWith(base) && /^[.[]/.test(part.slice(base.length)));
      const relative = base.includes('.') || !absolute;
      return fastPath(part, base, relative) ?? slowPath(part, base, relative);
    });
    const fast = parts.every((p) => p.fast);
    compiled =
      parts.length === 1 && parts[0]
        ? parts[0]
        : {
            fast,
            types: parts.flatMap((p) => p.types),
            evaluate: (node, resource) => parts.flatMap((p) => p.evaluate(node, resource)),
          };
    cache.set(key, compiled);
  }
  return compiled;
}

/** fhirpath.js for what the direct accessors do not cover; typed by `fhirpath.types`. */
function slowPath(part: string, base: string, relative: boolean): CompiledPath {
  const run = fhirpath.compile(relative ? { base, expression: part } : part, r4, {
    resolveInternalTypes: false,
  });
  return {
    fast: false,
    types: [],
    evaluate(node, resource) {
      const raw = run(node, { resource, rootResource: resource }) as unknown[];
      const types = fhirpath.types(raw);
      const values = fhirpath.resolveInternalTypes(raw) as unknown[];
      return values.map((value, i) => ({ value, type: fhirType(types[i], raw[i]) }));
    },
  };
}

function fhirType(type: string | undefined, node: unknown): string | null {
  if (type === undefined) return null;
  if (type === 'FHIR.BackboneElement' || type === 'FHIR.Element') {
    return (node as { path?: string | null }).path ?? null;
  }
  return modelType(type);
}

/** `FHIR.CodeableConcept` → `CodeableConcept`, `System.String` → `string`, and so on. */
function modelType(type: string): string {
  if (type.startsWith('FHIR.')) return type.slice(5);
  if (type.startsWith('System.')) {
    const name = type.slice(7);
    return name === 'DateTime' ? 'dateTime' : name.charAt(0).toLowerCase() + name.slice(1);
  }
  return type;
}

const stepPattern =
  /^(?:\.ofType\(([A-Za-z]+)\)|\.where\(resolve\(\) is ([A-Za-z]+)\)|\.where\(([A-Za-z]+)\s*=\s*'([^'\\]*)'\)|\[(\d+)\]|\.([A-Za-z][A-Za-z0-9_]*)(?![A-Za-z0-9_(]))/;

/** A direct accessor for a simple path, or undefined when the part needs fhirpath. */
function fastPath(part: string, base: string, relative: boolean): CompiledPath | undefined {
  let rest = relative ? `.${part}` : part.slice(base.length);
  let type: string | null = base;
  let choice: { options: [string, string][] } | undefined;
  const steps: Step[] = [];
  while (rest.length > 0) {
    const m = stepPattern.exec(rest);
    if (!m) return undefined;
    rest = rest.slice(m[0].length);
    const [, ofType, resolveIs, whereName, whereValue, index, name] = m;
    if (ofType !== undefined) {
      if (choice) {
        // FHIRPath ofType keeps subtypes too: `source.ofType(uri)` also selects `sourceCanonical`
        const options = choice.options.filter(([, t]) => isA(t, ofType));
        const [first] = options;
        if (!first) return undefined;
        steps.push(options.length === 1 ? property(first[0], first[1]) : choiceStep(options));
        type = options.length === 1 ? first[1] : null;
        choice = undefined;
      } else if (type === null || !isA(type, ofType)) return undefined;
      continue;
    }
    if (choice) {
      steps.push(choiceStep(choice.options));
      choice = undefined;
      type = null;
    }
    if (name !== undefined) {
      if (type === null) return undefined;
      const child = childOf(type, name);
      if (!child) return undefined;
      if ('options' in child) choice = { options: child.options };
      else {
        steps.push(property(name, child.type));
        type = child.type;
      }
    } else if (resolveIs !== undefined) steps.push(resolvesTo(resolveIs));
    else if (whereName !== undefined) steps.push(whereEquals(whereName, whereValue ?? ''));
    else if (index !== undefined) steps.push(at(Number(index)));
  }
  if (choice) {
    steps.push(choiceStep(choice.options));
    type = null;
  }
  return {
    fast: true,
    types: [type],
    evaluate(node, resource) {
      let items: Typed[] = [{ value: node, type: base }];
      for (const step of steps) {
        if (items.length === 0) return items;
        items = step(items, resource);
      }
      return items;
    },
  };
}

type Child = { type: string } | { options: [string, string][] };

/** The element `name` of a type (or backbone path), looked up in the R4 model, up the type tree. */
function childOf(type: string, name: string): Child | undefined {
  for (let t: string | undefined = type; t !== undefined; t = type2Parent[t]) {
    const path = `${t}.${name}`;
    const options = choicePaths[path];
    if (options) {
      return {
        options: options.map((o): [string, string] => [
          `${name}${o}`,
          modelType(path2Type[`${path}${o}`] ?? lowerFirst(o)),
        ]),
      };
    }
    const target = path2Type[path];
    if (target !== undefined) {
      const isBackbone = target === 'BackboneElement' || target === 'Element';
      return { type: isBackbone ? (elsewhere[path] ?? path) : modelType(target) };
    }
    if (elsewhere[path] !== undefined) return { type: elsewhere[path] };
  }
  return undefined;
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);
const sameType = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function isA(type: string, wanted: string): boolean {
  for (let t: string | undefined = type; t !== undefined; t = type2Parent[t])
    if (sameType(t, wanted)) return true;
  return false;
}

function property(name: string, type: string): Step {
  const isResource = type === 'Resource';
  return (items) => {
    const out: Typed[] = [];
    for (const item of items) {
      const v = item.value;
      if (v === null || typeof v !== 'object') continue;
      const child = (v as Record<string, unknown>)[name];
      if (child === undefined || child === null) continue;
      if (Array.isArray(child)) {
        for (const c of child as unknown[])
          if (c !== null) out.push({ value: c, type: isResource ? resourceType(c) : type });
      } else out.push({ value: child, type: isResource ? resourceType(child) : type });
    }
    return out;
  };
}

function resourceType(value: unknown): string | null {
  const t = (value as { resourceType?: unknown }).resourceType;
  return typeof t === 'string' ? t : null;
}

function choiceStep(options: [string, string][]): Step {
  const steps = options.map(([key, type]) => property(key, type));
  return (items, resource) => steps.flatMap((s) => s(items, resource));
}

function at(index: number): Step {
  return (items) => {
    const item = items[index];
    return item ? [item] : [];
  };
}

function whereEquals(name: string, value: string): Step {
  return (items) => items.filter((i) => (i.value as Record<string, unknown> | null)?.[name] === value);
}

/**
 * `where(resolve() is T)` without resolving (fhirpath.js 5 resolves asynchronously): a literal
 * reference whose type segment is T, a `#id` reference to a contained T, or a reference with no
 * `reference` but `type` T (so `patient:identifier=…` finds identifier-only references).
 */
function resolvesTo(type: string): Step {
  return (items, resource) =>
    items.filter((item) => {
      const ref = item.value as { reference?: unknown; type?: unknown } | null;
      if (ref === null || typeof ref !== 'object') return false;
      const r = ref.reference;
      if (typeof r !== 'string') return ref.type === type;
      if (r.startsWith('#')) {
        const contained = (resource as { contained?: { id?: string; resourceType?: string }[] }).contained;
        return contained?.some((c) => c.id === r.slice(1) && c.resourceType === type) ?? false;
      }
      return referenceType(r) === type;
    });
}

/** The type segment of a literal reference (`Patient/1`, `http://x/fhir/Patient/1/_history/2`). */
export function referenceType(reference: string): string | undefined {
  const path = reference.split(/[?|#]/, 1)[0] ?? '';
  const segments = path.replace(/\/_history\/[^/]*$/, '').split('/');
  return segments.length >= 2 ? segments[segments.length - 2] : undefined;
}
