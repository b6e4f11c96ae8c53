import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { ElementDefinitionConstraint } from 'fhir/r4.js';

/**
 * FHIRPath invariants (ElementDefinition.constraint, R4 conformance-rules.html#constraints),
 * compiled once with fhirpath.js and the R4 model so that choice types and `is`/`as` work.
 */

/** A compiled invariant. `run` answers true (holds), false (broken) or undefined (not evaluable). */
export interface Invariant {
  key: string;
  severity: 'error' | 'warning';
  human: string;
  expression: string;
  /** Evaluates on one instance of the element; `base` is the element's path in the R4 model. */
  run(node: unknown, base: string | undefined, resource: unknown, root: unknown): boolean | Error;
}

/**
 * Invariants Ferry does not evaluate with fhirpath, and why. Each is either checked elsewhere or
 * needs something fhirpath.js or a gateway without outside terminology cannot give.
 */
export const skippedInvariants: Readonly<Record<string, string>> = {
  'ele-1':
    'checked directly: no element may be empty or hold only an id (validate-resource.ts and the profile walk)',
  'txt-1': 'needs htmlChecks(); the narrative XHTML is not checked',
  'txt-2': 'needs htmlChecks(); the narrative XHTML is not checked',
  'sdf-0': "a StructureDefinition's names are not checked",
  'eld-16': 'its regular expression is not valid in JavaScript (an escaped @ under the u flag)',
  'eld-19': 'its regular expression is not valid in JavaScript (an escaped quote under the u flag)',
  'eld-20': 'its regular expression is not valid in JavaScript (an unescaped ] under the u flag)',
};

/**
 * Functions fhirpath.js 5 lacks (or cannot run synchronously). An invariant that calls one is
 * skipped, never failed: `conformsTo`, `memberOf`, `htmlChecks`, `resolve` (asynchronous).
 */
const unsupported =
  /\b(htmlChecks|conformsTo|memberOf|resolve|checkModifiers|hasTemplateIdOf|comparable)\s*\(/;

/**
 * R4 invariants whose expression says less than their text: que-7 tests `answer is Boolean`, the
 * FHIRPath System type, where the text and every R4 example mean the FHIR `boolean`.
 */
const corrected: Readonly<Record<string, string>> = {
  'que-7': "operator = 'exists' implies (answer is boolean)",
};

/**
 * R4 expressions that fhirpath.js 5 cannot evaluate as written; each is rewritten to what the
 * specification means. `(X as T)` throws on several items in fhirpath.js, `X.ofType(T)` does not.
 */
function rewrite(key: string, expression: string): string {
  return (corrected[key] ?? expression)
    .replace(/\((\w+(?:\.\w+)*) as (\w+)\)/g, '$1.ofType($2)')
    .replace(/\.as\((\w+)\)/g, '.ofType($1)');
}

/** Elements that must be present for an invariant to say anything; when absent it holds trivially. */
const preconditions: Readonly<Record<string, string>> = {
  'dom-2': 'contained',
  'dom-3': 'contained',
  'dom-4': 'contained',
  'dom-5': 'contained',
};

type Node = Record<string, unknown>;

/** Whether an element is present: as a value, as `_name` (extensions only) or as a choice `nameType`. */
function has(node: Node, name: string): boolean {
  if (node[name] !== undefined || node[`_${name}`] !== undefined) return true;
  for (const key in node) {
    if (node[key] === undefined) continue;
    const plain = key.startsWith('_') ? key.slice(1) : key;
    if (plain.length > name.length && plain.startsWith(name) && /^[A-Z]/.test(plain.charAt(name.length)))
      return true;
  }
  return false;
}

/**
 * Direct answers for the invariants that run on nearly every resource, keyed by their exact R4
 * expression: each returns what fhirpath would, or undefined to let fhirpath decide. Running
 * fhirpath.js costs tens of microseconds per call; these cost nothing. Tested against fhirpath
 * over the official examples (constraints.test.ts).
 */
export const shortcuts: Readonly<Record<string, (node: Node) => boolean | undefined>> = {
  'text.`div`.exists()': (n) =>
    typeof n.text === 'object' && n.text !== null && (n.text as Node).div !== undefined,
  'extension.exists() != value.exists()': (n) => has(n, 'extension') !== has(n, 'value'),
  'code.empty() or system.exists()': (n) => !has(n, 'code') || has(n, 'system'),
  'comparator.empty()': (n) => !has(n, 'comparator'),
  'dataAbsentReason.empty() or value.empty()': (n) => !has(n, 'dataAbsentReason') || !has(n, 'value'),
  'low.exists() or high.exists() or text.exists()': (n) => has(n, 'low') || has(n, 'high') || has(n, 'text'),
  'data.empty() or contentType.exists()': (n) => !has(n, 'data') || has(n, 'contentType'),
  "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))":
    (n) => (typeof n.reference === 'string' && n.reference.startsWith('#') ? undefined : true),
  'start.hasValue().not() or end.hasValue().not() or (start <= end)': (n) =>
    n.start === undefined || n.end === undefined ? true : undefined,
};

/** `X.empty() or …` holds whenever X is absent: no need to ask fhirpath then. */
function guardOf(expression: string): string | undefined {
  return /^\(?(\w+)\.empty\(\) or /.exec(expression)?.[1];
}

type Compiled = (data: unknown, vars: Record<string, unknown>) => unknown[];
const byBase = new Map<string, Compiled>();

function compiled(expression: string, base: string | undefined): Compiled {
  const key = `${base ?? ''}\u0000${expression}`;
  let fn = byBase.get(key);
  if (!fn) {
    const path = base ? { base, expression } : expression;
    // trace() in R4 invariants (dom-3, ref-1) would otherwise write to stdout, where the log goes
    fn = fhirpath.compile(path, r4, { traceFn: () => undefined }) as Compiled;
    byBase.set(key, fn);
  }
  return fn;
}

/** Compiles one constraint; `undefined` when it is skipped (see skippedInvariants and unsupported). */
export function compileInvariant(constraint: ElementDefinitionConstraint): Invariant | undefined {
  const { key, expression } = constraint;
  if (!expression || key in skippedInvariants || unsupported.test(expression)) return undefined;
  const text = rewrite(key, expression);
  const precondition = preconditions[key];
  const shortcut = shortcuts[expression];
  const guard = guardOf(expression);
  try {
    fhirpath.parse(text);
  } catch {
    return undefined;
  }
  return {
    key,
    severity: constraint.severity === 'warning' ? 'warning' : 'error',
    human: constraint.human,
    expression,
    run(node, base, resource, root) {
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
        const n = node as Node;
        if (precondition !== undefined && n[precondition] === undefined) return true;
        if (guard !== undefined && !has(n, guard)) return true;
        const direct = shortcut?.(n);
        if (direct !== undefined) return direct;
      }
      try {
        const result = compiled(text, base)(node, { resource, rootResource: root });
        // R4 fhirpath.html#boolean-evaluation: an empty result does not break the rule
        return result.length === 0 || result[0] !== false;
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    },
  };
}
