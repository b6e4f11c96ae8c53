import { badRequest, notSupported } from '../errors.js';
import { idPattern } from '../fhir/ids.js';
import { componentDefs, type ParseContext } from './parse-context.js';
import { approximateDateRange, parseDateRange } from './parse-date.js';
import type { FilterValue, Modifier, Prefix, SearchParamDef } from './types.js';

/** What a value is parsed against: the parameter, its modifier and, for references, its targets. */
export interface ValueSpec {
  def: SearchParamDef;
  modifier?: Modifier;
  /** The `:[type]` of a reference parameter. */
  targetType?: string;
  /** Every type the reference parameter may point to (across the types searched); empty = any. */
  targets: string[];
}

/**
 * Splits at each unescaped `separator` (R4 search.html#escaping: `\,` `\$` `\|` `\\`), leaving
 * the escapes in place so the parts can be split again at the next level (`,` then `$` then `|`).
 */
export function splitEscaped(text: string, separator: ',' | '$' | '|'): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Removes R4's escapes; a backslash before any other character is kept as written. */
export const unescapeValue = (text: string): string => text.replace(/\\([\\,$|])/g, '$1');

/** The OR-ed values of one occurrence of a parameter (R4 search.html#combining: `,` is OR). */
export function parseValues(ctx: ParseContext, spec: ValueSpec, raw: string, name: string): FilterValue[] {
  const parts = splitEscaped(raw, ',');
  if (raw === '') {
    throw badRequest(
      `Parameter '${name}' has an empty value: give a value, or use ${name.split('.')[0] ?? name}:missing=true`,
      name,
    );
  }
  if (parts.some((p) => p === '')) {
    throw badRequest(`Parameter '${name}' has an empty value in its comma-separated list '${raw}'`, name);
  }
  const components = spec.def.type === 'composite' ? componentDefs(ctx, spec.def, name) : [];
  return parts.map((part) =>
    spec.def.type === 'composite'
      ? parseComposite(ctx, spec.def, components, part, name)
      : parseValue(ctx, spec, part, name),
  );
}

/** One value, by the parameter's type (R4 search.html#number … #uri). */
function parseValue(ctx: ParseContext, spec: ValueSpec, raw: string, name: string): FilterValue {
  switch (spec.def.type) {
    case 'number': {
      const [prefix, text] = splitPrefix(raw, name);
      return {
        kind: 'number',
        prefix,
        ...decimalOrFail(text, prefix, name, 'a number such as 100 or 1.5e2'),
      };
    }
    case 'date':
      return parseDate(ctx, raw, name);
    case 'quantity':
      return parseQuantity(raw, name);
    case 'string':
      return { kind: 'string', value: unescapeValue(raw) };
    case 'uri':
      return { kind: 'uri', value: unescapeValue(raw) };
    case 'token':
      return parseToken(spec.modifier, raw, name);
    case 'reference':
      return parseReference(ctx, spec, raw, name);
    default:
      throw notSupported(
        `Searching by ${spec.def.code} (a ${spec.def.type} parameter) is not supported`,
        name,
      );
  }
}

const prefixes = new Set<string>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** R4 search.html#prefix: two lower-case letters before a number, date or quantity; eq when absent. */
function splitPrefix(raw: string, name: string): [Prefix, string] {
  const m = /^([a-z]{2})(.*)$/s.exec(raw);
  if (!m) return ['eq', raw];
  const [, prefix = '', rest = ''] = m;
  if (prefixes.has(prefix)) return [prefix as Prefix, rest];
  // two letters before what looks like a value: a mistyped prefix; otherwise not a value at all
  if (/^[-+.0-9]/.test(rest)) {
    throw badRequest(
      `Unknown prefix '${prefix}' in ${name}=${raw}: use one of eq, ne, gt, lt, ge, le, sa, eb, ap`,
      name,
    );
  }
  return ['eq', raw];
}

function parseDate(ctx: ParseContext, raw: string, name: string): FilterValue {
  const [prefix, text] = splitPrefix(raw, name);
  const range = parseDateRange(text);
  if (range === undefined) {
    throw badRequest(
      `${name}=${raw}: '${text}' is not a valid date; use YYYY, YYYY-MM, YYYY-MM-DD or ` +
        'YYYY-MM-DDThh:mm[:ss[.sss]][Z|+hh:mm], with a real month, day and time',
      name,
    );
  }
  const { low, high } = prefix === 'ap' ? approximateDateRange(range, ctx.now) : range;
  return { kind: 'date', prefix, low, high };
}

const decimalPattern = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A decimal with the interval its precision implies (R4 search.html#number): half a unit of the
 * last digit written either side, so `100` → [99.5, 100.5), `100.00` → [99.995, 100.005) and
 * `1e2` → [50, 150) (one significant figure; R4's table says 95–105 for `1e2`, which is the
 * interval of `1.0e2`). Computed on the exact decimal, so the bounds are the nearest doubles.
 */
export function parseDecimal(text: string): { value: number; low: number; high: number } | undefined {
  const m = decimalPattern.exec(text);
  if (!m) return undefined;
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = m;
  if (whole === '' && fraction === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) return undefined;
  const digits = BigInt(whole + fraction) * (sign === '-' ? -1n : 1n);
  const scale = fraction.length - Number(exponent) + 1; // value = digits × 10 × 10^-scale
  const low = Number(`${digits * 10n - 5n}e${-scale}`);
  const high = Number(`${digits * 10n + 5n}e${-scale}`);
  // at the edge of double precision ±0.5 rounds away; keep the range from being empty
  return { value, low: Math.min(low, value), high: high > value ? high : nextUp(value) };
}

/** The next double above n (close enough: one ulp or the smallest subnormal). */
export function nextUp(n: number): number {
  return n + Math.max(Math.abs(n) * Number.EPSILON, Number.MIN_VALUE);
}

/** A decimal, widened for `ap` (R4 recommends 10% of the value), or a 400 saying what was expected. */
function decimalOrFail(
  text: string,
  prefix: Prefix,
  name: string,
  expected: string,
): { value: number; low: number; high: number } {
  const parsed = parseDecimal(text);
  if (parsed === undefined) throw badRequest(`${name}: '${text}' is not ${expected}`, name);
  if (prefix !== 'ap') return parsed;
  const margin = Math.abs(parsed.value) / 10;
  return {
    value: parsed.value,
    low: Math.min(parsed.low, parsed.value - margin),
    high: Math.max(parsed.high, parsed.value + margin),
  };
}

/** R4 search.html#quantity: `[prefix]number`, `[prefix]number|system|code`, `[prefix]number||code`. */
function parseQuantity(raw: string, name: string): FilterValue {
  const [prefix, text] = splitPrefix(raw, name);
  const parts = splitEscaped(text, '|').map(unescapeValue);
  const [number = '', system = '', code = ''] = parts;
  if ((parts.length !== 1 && parts.length !== 3) || (parts.length === 3 && system === '' && code === '')) {
    throw badRequest(
      `${name}=${raw}: a quantity is number, number|system|code or number||code ` +
        '(e.g. 5.4|http://unitsofmeasure.org|mg)',
      name,
    );
  }
  const value: FilterValue = {
    kind: 'quantity',
    prefix,
    ...decimalOrFail(number, prefix, name, 'a number such as 5.4'),
  };
  if (system !== '') value.system = system;
  if (code !== '') value.code = code;
  return value;
}

/** R4 search.html#token: `code`, `system|code`, `|code` (no system), `system|` (any code in it). */
function parseToken(modifier: Modifier | undefined, raw: string, name: string): FilterValue {
  if (modifier === 'text') return { kind: 'token', text: unescapeValue(raw) };
  // :in and :not-in name a ValueSet by its canonical URL
  if (modifier === 'in' || modifier === 'not-in') return { kind: 'uri', value: unescapeValue(raw) };
  const parts = splitEscaped(raw, '|').map(unescapeValue);
  if (modifier === 'of-type') {
    const [typeSystem = '', typeCode = '', value = ''] = parts;
    if (parts.length !== 3 || typeSystem === '' || typeCode === '' || value === '') {
      throw badRequest(
        `${name}=${raw}: :of-type takes system|code|value, all three given ` +
          '(e.g. http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345)',
        name,
      );
    }
    return { kind: 'token', typeSystem, typeCode, code: value };
  }
  const [first = '', second] = parts;
  if (parts.length === 1) return { kind: 'token', code: first };
  if (parts.length > 2 || (first === '' && second === '')) {
    throw badRequest(
      `${name}=${raw}: a token is code, system|code, |code or system| (escape a literal | as \\|)`,
      name,
    );
  }
  const value: FilterValue = { kind: 'token', system: first === '' ? null : first };
  if (second !== undefined && second !== '') value.code = second;
  return value;
}

const schemePattern = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const relativePattern = /^([A-Za-z]+)\/([^/]+)(?:\/_history\/([^/]+))?$/;

/**
 * R4 search.html#reference: `id`, `Type/id`, an absolute URL, a canonical `url|version`, and with
 * `:identifier` an identifier `system|value`. `Type/id/_history/n` searches for `Type/id`: the
 * index keeps no version of a literal reference (extraction drops it), so the version cannot
 * narrow the match. An absolute URL on this server's base is searched as `Type/id`.
 */
function parseReference(ctx: ParseContext, spec: ValueSpec, raw: string, name: string): FilterValue {
  const parts = splitEscaped(raw, '|').map(unescapeValue);
  if (spec.modifier === 'identifier') {
    const [first = '', second] = parts;
    if (parts.length === 1) return { kind: 'reference', identifierValue: first };
    if (parts.length > 2 || second === undefined || second === '') {
      throw badRequest(`${name}=${raw}: :identifier takes value or system|value`, name);
    }
    const value: FilterValue = { kind: 'reference', identifierValue: second };
    if (first !== '') value.identifierSystem = first;
    return value;
  }
  const [written = '', version] = parts;
  let text = written;
  if (parts.length > 2 || version === '') {
    throw badRequest(`${name}=${raw}: a canonical reference is url or url|version`, name);
  }
  if (ctx.baseUrl !== undefined && text.startsWith(`${ctx.baseUrl}/`) && version === undefined) {
    text = text.slice(ctx.baseUrl.length + 1);
  }
  if (schemePattern.test(text)) {
    const value: FilterValue = { kind: 'reference', url: text };
    if (version !== undefined) value.version = version;
    return value;
  }
  if (version !== undefined) {
    throw badRequest(`${name}=${raw}: only a canonical URL can carry |version`, name);
  }
  const relative = relativePattern.exec(text);
  if (relative) {
    const [, type = '', id = '', vid] = relative;
    if (!ctx.isType(type)) throw badRequest(`${name}=${raw}: '${type}' is not a resource type`, name);
    if (!idPattern.test(id) || (vid !== undefined && !idPattern.test(vid))) {
      throw badRequest(`${name}=${raw}: '${id}' is not a valid id (1-64 letters, digits, '-' or '.')`, name);
    }
    if (spec.targetType !== undefined && spec.targetType !== type) {
      throw badRequest(
        `${name}=${raw}: the value names a ${type} but the modifier asks for ${spec.targetType}`,
        name,
      );
    }
    if (spec.targets.length > 0 && !spec.targets.includes(type)) {
      throw badRequest(
        `${name}=${raw}: ${spec.def.code} cannot refer to a ${type}; it refers to ${spec.targets.join(', ')}`,
        name,
      );
    }
    return { kind: 'reference', targetType: type, targetId: id };
  }
  if (!idPattern.test(text)) {
    throw badRequest(`${name}=${raw}: use an id, Type/id or an absolute URL as a reference`, name);
  }
  const value: FilterValue = { kind: 'reference', targetId: text };
  if (spec.targetType !== undefined) value.targetType = spec.targetType;
  return value;
}

/** R4 search.html#composite: the components joined by `$`, each parsed as its own parameter type. */
function parseComposite(
  ctx: ParseContext,
  def: SearchParamDef,
  components: SearchParamDef[],
  raw: string,
  name: string,
): FilterValue {
  const parts = splitEscaped(raw, '$');
  if (parts.length !== components.length || parts.some((p) => p === '')) {
    throw badRequest(
      `${name}=${raw}: ${def.code} takes ${components.length} values joined by $ ` +
        `(${components.map((c) => c.code).join('$')}), e.g. http://loinc.org|8480-6$gt100`,
      name,
    );
  }
  return {
    kind: 'composite',
    components: parts.map((part, i) => {
      const component = components[i] ?? def;
      return parseValue(ctx, { def: component, targets: component.target ?? [] }, part, name);
    }),
  };
}
