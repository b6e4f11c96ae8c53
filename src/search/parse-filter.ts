import { badRequest, notSupported } from '../errors.js';
import { defsOnAll, defsOnAny, representative, targetsOf, type ParseContext } from './parse-context.js';
import { parseValues, type ValueSpec } from './parse-value.js';
import type { Filter, HasFilter, Modifier, SearchParamType } from './types.js';

/** The modifiers each parameter type accepts besides `:missing` (R4 search.html#modifiers). */
const modifiersOf: Record<SearchParamType, readonly Modifier[]> = {
  string: ['exact', 'contains'],
  token: ['text', 'not', 'above', 'below', 'in', 'not-in', 'of-type'],
  // and `:[type]`; :above/:below search a hierarchy of resources (R4 search.html#reference)
  reference: ['identifier', 'above', 'below'],
  uri: ['above', 'below'],
  number: [],
  date: [],
  quantity: [],
  composite: [],
  special: [],
};

/**
 * One search parameter of the query string as a filter on `types`: `code[:modifier]=value`, a
 * chain `ref[:Type].code…=value` (R4 search.html#chaining) or `_has:Type:ref:code…=value`
 * (#has). Undefined when `types` do not all define the parameter (the caller ignores it or,
 * under strict handling, refuses it); every other mistake is a 400 naming `name`.
 */
export function parseFilter(
  ctx: ParseContext,
  types: string[],
  name: string,
  value: string,
): Filter | HasFilter | undefined {
  if (name === '_has' || name.startsWith('_has:')) {
    return parseHas(ctx, types, name.slice('_has:'.length), value, name);
  }
  return parseParam(ctx, types, name, value, name, 'all')?.filter;
}

/**
 * `code[:modifier][.chain]` on `types`. At the top level (`all`) every type must define the code
 * (R4 search.html#_type: parameters common to the types); in a chain (`any`) the targets that
 * define it are kept and the others dropped, and none is a 400.
 */
function parseParam(
  ctx: ParseContext,
  types: string[],
  text: string,
  value: string,
  name: string,
  mode: 'all' | 'any',
): { filter: Filter; types: string[] } | undefined {
  const dot = text.indexOf('.');
  const head = dot < 0 ? text : text.slice(0, dot);
  const rest = dot < 0 ? undefined : text.slice(dot + 1);
  const [code = '', modifier, ...extra] = head.split(':');
  if (code === '') throw badRequest(`'${name}' has an empty parameter name in it`, name);
  if (extra.length > 0) {
    throw badRequest(`'${name}': ${code} takes one modifier, not ${extra.length + 1}`, name);
  }
  const defs = mode === 'all' ? defsOnAll(ctx, types, code) : defsOnAny(ctx, types, code);
  if (defs === undefined || defs.length === 0) {
    if (mode === 'all') return undefined;
    throw badRequest(`'${name}': none of ${types.join(', ')} has a search parameter '${code}'`, name);
  }
  const def = representative(defs, name);
  const found = types.filter((t) => ctx.lookup(t, code) !== undefined);
  if (def.type === 'special') {
    throw notSupported(`'${name}': searching by ${code}, a special parameter, is not supported`, name);
  }
  const filter: Filter = { param: code, type: def.type, values: [] };
  const targets = targetsOf(defs);

  if (rest !== undefined) {
    if (def.type !== 'reference') {
      throw badRequest(`'${name}': ${code} is a ${def.type} parameter; only references can be chained`, name);
    }
    if (rest.startsWith('_has:')) throw badRequest(`'${name}': _has cannot follow a chain`, name);
    let chainTypes = targets;
    if (modifier !== undefined) {
      if (!isTypeModifier(modifier)) {
        throw badRequest(`'${name}': only a resource type (${code}:Patient.…) may precede a chain`, name);
      }
      assertTarget(ctx, code, targets, modifier, name);
      filter.modifier = 'type';
      filter.targetType = modifier;
      chainTypes = [modifier];
    } else if (chainTypes.length === 0) {
      throw badRequest(
        `'${name}': ${code} declares no target types; name one, as ${code}:Type.${rest}`,
        name,
      );
    }
    const inner = parseParam(ctx, chainTypes, rest, value, name, 'any');
    if (inner === undefined) throw new Error('a chain is always parsed with mode any');
    filter.chain = { targetTypes: inner.types, query: inner.filter };
    // any reference at all: the chain says which targets match
    filter.values = [{ kind: 'reference' }];
    return { filter, types: found };
  }

  if (modifier === 'missing') {
    filter.modifier = 'missing';
    if (value !== 'true' && value !== 'false') {
      throw badRequest(`'${name}' takes true or false, not '${value}'`, name);
    }
    filter.values = [{ kind: 'missing', missing: value === 'true' }];
    return { filter, types: found };
  }
  let targetType: string | undefined;
  if (modifier !== undefined && def.type === 'reference' && isTypeModifier(modifier)) {
    assertTarget(ctx, code, targets, modifier, name);
    filter.modifier = 'type';
    filter.targetType = targetType = modifier;
  } else if (modifier !== undefined) {
    const allowed = modifiersOf[def.type];
    if (!allowed.includes(modifier as Modifier)) {
      const valid = [...allowed, 'missing', ...(def.type === 'reference' ? ['[type]'] : [])];
      throw badRequest(
        `'${name}': the modifier :${modifier} is not supported on ${code} (a ${def.type} parameter); ` +
          `use ${valid.map((m) => `:${m}`).join(', ')}`,
        name,
      );
    }
    filter.modifier = modifier as Modifier;
  }
  const spec: ValueSpec = { def, targets };
  if (filter.modifier !== undefined) spec.modifier = filter.modifier;
  if (targetType !== undefined) spec.targetType = targetType;
  filter.values = parseValues(ctx, spec, value, name);
  return { filter, types: found };
}

/** `_has:Observation:subject:code=…` and nested `_has:…:_has:…` (R4 search.html#has). */
function parseHas(ctx: ParseContext, types: string[], text: string, value: string, name: string): HasFilter {
  const [sourceType = '', referenceParam = '', ...restParts] = text.split(':');
  const rest = restParts.join(':');
  if (sourceType === '' || referenceParam === '' || rest === '') {
    throw badRequest(
      `'${name}': use _has:Type:reference:parameter=value, e.g. _has:Observation:subject:code=1234-5`,
      name,
    );
  }
  if (!ctx.isType(sourceType)) throw badRequest(`'${name}': '${sourceType}' is not a resource type`, name);
  const ref = ctx.lookup(sourceType, referenceParam);
  if (ref?.type !== 'reference') {
    throw badRequest(`'${name}': ${referenceParam} is not a reference parameter of ${sourceType}`, name);
  }
  const targets = ref.target ?? [];
  if (types.length > 0 && targets.length > 0 && !types.some((t) => targets.includes(t))) {
    throw badRequest(
      `'${name}': ${sourceType}.${referenceParam} refers to ${targets.join(', ')}, never to ${types.join(' or ')}`,
      name,
    );
  }
  const filter = rest.startsWith('_has:')
    ? parseHas(ctx, [sourceType], rest.slice('_has:'.length), value, name)
    : parseParam(ctx, [sourceType], rest, value, name, 'all')?.filter;
  if (filter === undefined) {
    const code = rest.split(/[:.]/)[0] ?? rest;
    throw badRequest(`'${name}': ${sourceType} has no search parameter '${code}'`, name);
  }
  return { sourceType, referenceParam, filter };
}

/** Modifiers are lower-case words; a resource type is capitalised (`subject:Patient`). */
const isTypeModifier = (modifier: string): boolean => /^[A-Z][A-Za-z]*$/.test(modifier);

function assertTarget(ctx: ParseContext, code: string, targets: string[], type: string, name: string): void {
  if (!ctx.isType(type)) throw badRequest(`'${name}': '${type}' is not a resource type`, name);
  if (targets.length > 0 && !targets.includes(type)) {
    throw badRequest(
      `'${name}': ${code} cannot refer to a ${type}; it refers to ${targets.join(', ')}`,
      name,
    );
  }
}
