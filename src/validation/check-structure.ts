import type { Issue } from '../errors.js';
import { checkBinding } from './check-binding.js';
import {
  compiledBase,
  compiledStructure,
  isPrimitive,
  type CompiledStructure,
  type ElementRule,
} from './compile-structure.js';
import { matchesFixed, matchesPattern, shortJson } from './match-value.js';

/**
 * Walks an instance against a compiled StructureDefinition (R4 profiling.html, validation.html):
 * cardinality, types of choice elements, fixed[x] and pattern[x], slicing, bindings and
 * invariants. Against an R4 base definition it also descends into every data type, so that the
 * invariants of Quantity, Period, Extension… apply wherever those types occur.
 */

/** The state of one walk: the resource for %resource, the container for %rootResource. */
export interface Walk {
  resource: unknown;
  root: unknown;
  issues: Issue[];
  /** The profile being checked, named in diagnostics (undefined for the base definitions). */
  profile?: string;
}

/** One value of an element in an instance. */
interface Item {
  value: unknown;
  /** The JSON property it came from (`valueQuantity`). */
  key: string;
  index?: number;
  /** Its type code, known for choice elements and embedded resources. */
  type?: string;
}

const from = (walk: Walk): string => (walk.profile ? ` (profile ${walk.profile})` : '');

function push(walk: Walk, severity: Issue['severity'], code: Issue['code'], text: string, at: string): void {
  walk.issues.push({ severity, code, diagnostics: text + from(walk), expression: [at] });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The values of a (non-choice or choice) element in its parent object. */
function itemsOf(rule: ElementRule, parent: Record<string, unknown>, baseTypes?: Set<string>): Item[] {
  const items: Item[] = [];
  const add = (key: string, raw: unknown, type?: string): void => {
    if (Array.isArray(raw)) raw.forEach((value: unknown, index) => items.push({ value, key, index, type }));
    else items.push({ value: raw, key, type });
  };
  if (!rule.choice) {
    const raw = parent[rule.name];
    if (raw !== undefined) add(rule.name, raw, rule.types.length === 1 ? rule.types[0]?.code : undefined);
    else if (parent[`_${rule.name}`] !== undefined) add(rule.name, parent[`_${rule.name}`]);
    return items;
  }
  for (const key of Object.keys(parent)) {
    if (key.length <= rule.name.length || !key.startsWith(rule.name)) continue;
    const suffix = key.slice(rule.name.length);
    if (!/^[A-Z]/.test(suffix)) continue;
    const type = rule.types.find((t) => t.suffix === suffix)?.code;
    const known =
      type ?? [...(baseTypes ?? [])].find((t) => t.charAt(0).toUpperCase() + t.slice(1) === suffix);
    if (known !== undefined && parent[key] !== undefined) add(key, parent[key], known);
  }
  for (const key of Object.keys(parent)) {
    if (!key.startsWith(`_${rule.name}`)) continue;
    const plain = key.slice(1);
    if (parent[plain] === undefined && items.every((i) => i.key !== plain)) {
      const suffix = plain.slice(rule.name.length);
      const type = rule.types.find((t) => t.suffix === suffix)?.code;
      if (type) add(plain, parent[key], type);
    }
  }
  return items;
}

const expressionOf = (parentExpr: string, item: Item): string =>
  `${parentExpr}.${item.key}${item.index === undefined ? '' : `[${item.index}]`}`;

/** The element's path in the R4 model (for fhirpath), with a choice element's type made concrete. */
function modelPath(rule: ElementRule, item: Item): string {
  if (!rule.choice || !item.type) return rule.path;
  return `${rule.path.slice(0, -3)}${item.type.charAt(0).toUpperCase()}${item.type.slice(1)}`;
}

function runInvariants(
  rule: ElementRule,
  item: Item,
  base: string | undefined,
  at: string,
  walk: Walk,
  skip?: Set<string>,
): void {
  for (const inv of rule.invariants) {
    if (skip?.has(inv.key)) continue;
    const result = inv.run(item.value, base, walk.resource, walk.root);
    if (result === true) continue;
    if (result === false) {
      push(walk, inv.severity, 'invariant', `${inv.key}: ${inv.human}`, at);
    } else {
      push(
        walk,
        'information',
        'informational',
        `${inv.key} could not be evaluated: ${result.message.split('\n')[0] ?? ''}`,
        at,
      );
    }
  }
}

/** Checks one value of an element: its own rules, then its children. */
function checkItem(
  structure: CompiledStructure,
  rule: ElementRule,
  item: Item,
  at: string,
  walk: Walk,
  skip?: Set<string>,
): void {
  const value = item.value;
  if (value === null || value === undefined) return;
  if (rule.fixed && !matchesFixed(rule.fixed.value, value)) {
    push(
      walk,
      'error',
      'value',
      `Value ${shortJson(value)} must be exactly ${shortJson(rule.fixed.value)}`,
      at,
    );
  }
  if (rule.pattern && !matchesPattern(rule.pattern.value, value)) {
    push(
      walk,
      'error',
      'value',
      `Value ${shortJson(value)} does not match the pattern ${shortJson(rule.pattern.value)}`,
      at,
    );
  }
  const type = item.type ?? rule.types[0]?.code;
  if (rule.binding && type && !(structure.base && type === 'code')) {
    // Base `code` elements with a required binding are enums in the generated schema already.
    checkBinding(rule.binding, type, value, at, walk);
  }
  const isResource = isObject(value) && typeof value.resourceType === 'string';
  runInvariants(
    rule,
    item,
    rule === structure.root && isResource ? undefined : modelPath(rule, item),
    at,
    walk,
    skip,
  );
  if (!isObject(value)) return;

  if (structure.base && rule !== structure.root && Object.keys(value).every((k) => k === 'id')) {
    push(walk, 'error', 'invariant', 'ele-1: All FHIR elements must have a @value or children', at);
  }
  const typeRule = rule.types.find((t) => t.code === type);
  if (type === 'Resource' || (rule !== structure.root && isResource)) {
    // an embedded resource is checked once, by the walk against the base definitions
    if (structure.base && typeof value.resourceType === 'string') {
      checkResourceNode(value, at, { ...walk, resource: value, profile: undefined });
    }
    return;
  }
  const inline =
    rule.children.length > 0
      ? rule
      : rule.contentReference
        ? structure.byId.get(rule.contentReference)
        : undefined;
  if (inline && inline !== structure.root) {
    checkChildren(structure, inline, value, at, walk);
  } else if (
    structure.base &&
    rule !== structure.root &&
    type &&
    !isPrimitive(type) &&
    type !== 'BackboneElement' &&
    type !== 'Element'
  ) {
    const dataType = compiledBase(type);
    // the element's own copy of a type invariant (ext-1 on every `extension`) already ran
    if (dataType) checkNode(dataType, value, at, walk, type, new Set(rule.invariants.map((i) => i.key)));
  }
  for (const url of typeRule?.profiles ?? []) {
    if (url === `http://hl7.org/fhir/StructureDefinition/${type ?? ''}`) continue;
    const profile = compiledStructure(url);
    if (profile) checkNode(profile, value, at, { ...walk, profile: url }, profile.type);
  }
}

/** Checks every child element of `rule` in the object `node`. */
function checkChildren(
  structure: CompiledStructure,
  rule: ElementRule,
  node: Record<string, unknown>,
  at: string,
  walk: Walk,
): void {
  for (const child of rule.children) checkElement(structure, child, node, at, walk);
}

function baseChoiceTypes(structure: CompiledStructure, rule: ElementRule): Set<string> | undefined {
  if (!rule.choice || structure.base) return undefined;
  const base = compiledBase(structure.type)?.byId.get(rule.path);
  return base ? new Set(base.types.map((t) => t.code)) : undefined;
}

/** Cardinality, types, then each value, then slices. */
function checkElement(
  structure: CompiledStructure,
  rule: ElementRule,
  parent: Record<string, unknown>,
  at: string,
  walk: Walk,
): void {
  const items = itemsOf(rule, parent, baseChoiceTypes(structure, rule));
  const where = `${at}.${rule.choice ? `${rule.name}[x]` : rule.name}`;
  if (!structure.base) {
    // The generated schema already enforces the base definitions' cardinality and choice types.
    if (items.length < rule.min) {
      push(
        walk,
        'error',
        'required',
        `${rule.path} needs at least ${rule.min} (found ${items.length})`,
        items[0] ? expressionOf(at, items[0]) : where.replace('[x]', ''),
      );
    }
    if (items.length > rule.max) {
      push(
        walk,
        'error',
        'structure',
        `${rule.path} allows at most ${rule.max} (found ${items.length})`,
        items[rule.max] ? expressionOf(at, items[rule.max] as Item) : where,
      );
    }
    for (const item of items) {
      if (rule.choice && !rule.types.some((t) => t.code === item.type)) {
        push(
          walk,
          'error',
          'structure',
          `${rule.path} may not be of type ${item.type ?? '?'}; allowed: ${rule.types.map((t) => t.code).join(', ')}`,
          expressionOf(at, item),
        );
      }
    }
  }
  for (const item of items) checkItem(structure, rule, item, expressionOf(at, item), walk);
  if (structure.base) checkPrimitiveExtensions(rule, parent, items, at, walk);
  if (rule.slicing && rule.slices.length > 0) checkSlices(structure, rule, items, at, walk);
}

/**
 * R4 json.html#primitive: the id and extensions of a primitive sit in `_name` beside it. They are
 * checked as an Element, so that ext-1 and the other Extension rules reach them too.
 */
function checkPrimitiveExtensions(
  rule: ElementRule,
  parent: Record<string, unknown>,
  items: Item[],
  at: string,
  walk: Walk,
): void {
  const keys = new Set(items.filter((i) => i.type !== undefined && isPrimitive(i.type)).map((i) => i.key));
  if (!rule.choice && rule.types.length === 1 && isPrimitive(rule.types[0]?.code ?? '')) keys.add(rule.name);
  for (const key of keys) {
    const raw = parent[`_${key}`];
    // with no value beside it, itemsOf already took `_name` as the element's values
    if (raw === undefined || parent[key] === undefined) continue;
    const element = compiledBase('Element');
    if (!element) return;
    const list: unknown[] = Array.isArray(raw) ? raw : [raw];
    list.forEach((value, index) => {
      if (!isObject(value)) return;
      const item: Item = Array.isArray(raw) ? { value, key, index } : { value, key };
      checkNode(element, value, expressionOf(at, item), walk, 'Element');
    });
  }
}

type Match = boolean | undefined;

/** The instance values at a discriminator path below a value (arrays flattened). */
function valuesAt(value: unknown, segments: string[]): { value: unknown; type?: string }[] {
  let current: { value: unknown; type?: string }[] = [{ value }];
  for (const segment of segments) {
    const next: { value: unknown; type?: string }[] = [];
    const name = segment.replace(/\[x]$/, '');
    for (const { value: v } of current) {
      if (!isObject(v)) continue;
      for (const [key, raw] of Object.entries(v)) {
        const choiceType =
          segment.endsWith('[x]') && key.startsWith(name) && /^[A-Z]/.test(key.slice(name.length));
        if (key !== name && !choiceType) continue;
        const type = choiceType ? key.slice(name.length) : undefined;
        for (const x of Array.isArray(raw) ? (raw as unknown[]) : [raw]) next.push({ value: x, type });
      }
    }
    current = next;
  }
  return current;
}

/** The rule a discriminator path names inside a slice. */
function ruleAt(slice: ElementRule, segments: string[]): ElementRule | undefined {
  let rule: ElementRule | undefined = slice;
  for (const segment of segments) {
    const name = segment.replace(/\[x]$/, '');
    rule = rule.children.find((c) => c.name === name);
    if (!rule) return undefined;
  }
  return rule;
}

/** Whether an item belongs to a slice (R4 profiling.html#discriminator); undefined when Ferry cannot tell. */
function sliceMatch(entry: ElementRule, slice: ElementRule, item: Item, walk: Walk): Match {
  for (const d of entry.slicing?.discriminators ?? []) {
    if (/[()]/.test(d.path)) return undefined;
    const segments = d.path === '$this' ? [] : d.path.split('.');
    const target = ruleAt(slice, segments);
    const values =
      segments.length === 0 ? [{ value: item.value, type: item.type }] : valuesAt(item.value, segments);
    let ok: Match;
    switch (d.type) {
      case 'value':
      case 'pattern': {
        let spec = target?.fixed ?? target?.pattern;
        const exact = target?.fixed !== undefined && d.type === 'value';
        if (!spec && d.path === 'url') {
          const profile = slice.types.find((t) => t.code === 'Extension')?.profiles[0];
          if (profile) spec = { value: profile };
        }
        if (!spec) return undefined;
        const wanted = spec.value;
        ok = values.some((v) => (exact ? matchesFixed(wanted, v.value) : matchesPattern(wanted, v.value)));
        break;
      }
      case 'exists':
        if (!target) return undefined;
        if (target.min >= 1) ok = values.length > 0;
        else if (target.max === 0) ok = values.length === 0;
        else return undefined;
        break;
      case 'type': {
        const wanted = (target ?? slice).types.map((t) => t.code);
        if (wanted.length === 0) return undefined;
        ok = values.some((v) => {
          const actual =
            v.type ??
            (segments.length === 0 ? item.type : undefined) ??
            (isObject(v.value) ? (v.value.resourceType as string | undefined) : undefined);
          return actual !== undefined && wanted.some((w) => w.toLowerCase() === actual.toLowerCase());
        });
        break;
      }
      case 'profile': {
        const urls = (target ?? slice).types.flatMap((t) => t.profiles);
        const profiles = urls.flatMap((u) => compiledStructure(u) ?? []);
        if (profiles.length === 0 || profiles.length !== urls.length) return undefined;
        ok = values.some((v) =>
          profiles.some((p) => {
            const scratch: Walk = { ...walk, issues: [] };
            checkNode(p, v.value, '', scratch, p.type);
            return !scratch.issues.some((i) => i.severity === 'error');
          }),
        );
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

/** Assigns each item to a slice, checks each slice's cardinality and rules, and closed slicing. */
function checkSlices(
  structure: CompiledStructure,
  entry: ElementRule,
  items: Item[],
  at: string,
  walk: Walk,
): void {
  const counts = new Map<ElementRule, number>();
  const undecidable = new Set<ElementRule>();
  const entryKeys = new Set(entry.invariants.map((i) => i.key));
  items.forEach((item) => {
    let matched = false;
    for (const slice of entry.slices) {
      const m = sliceMatch(entry, slice, item, walk);
      if (m === undefined) undecidable.add(slice);
      if (!m) continue;
      matched = true;
      counts.set(slice, (counts.get(slice) ?? 0) + 1);
      checkItem(structure, slice, item, expressionOf(at, item), walk, entryKeys);
      break;
    }
    if (!matched && entry.slicing?.rules === 'closed' && undecidable.size === 0) {
      push(
        walk,
        'error',
        'structure',
        `${entry.path} is closed to values outside its slices (${entry.slices.map((s) => s.sliceName).join(', ')})`,
        expressionOf(at, item),
      );
    }
  });
  for (const slice of entry.slices) {
    if (undecidable.has(slice)) continue;
    const n = counts.get(slice) ?? 0;
    const where = `${at}.${entry.name}`;
    if (n < slice.min)
      push(
        walk,
        'error',
        'required',
        `Slice '${slice.sliceName ?? ''}' of ${entry.path} needs at least ${slice.min} (found ${n})`,
        where,
      );
    if (n > slice.max)
      push(
        walk,
        'error',
        'structure',
        `Slice '${slice.sliceName ?? ''}' of ${entry.path} allows at most ${slice.max} (found ${n})`,
        where,
      );
  }
}

/** Checks a value against a whole compiled definition: its root rules, then its elements. */
export function checkNode(
  structure: CompiledStructure,
  value: unknown,
  at: string,
  walk: Walk,
  type?: string,
  skip?: Set<string>,
): void {
  checkItem(structure, structure.root, { value, key: '', type }, at, walk, skip);
  if (isObject(value)) checkChildren(structure, structure.root, value, at, walk);
}

/** Checks an embedded or top-level resource against its R4 base definition. */
export function checkResourceNode(resource: Record<string, unknown>, at: string, walk: Walk): void {
  const structure = compiledBase(String(resource.resourceType));
  if (structure) checkNode(structure, resource, at, walk);
}
