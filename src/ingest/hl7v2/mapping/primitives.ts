import { ucumCanonical, ucumSystem } from '../../../search/ucum.js';
import { Hl7Error } from '../hl7-error.js';
import { convertDtm, type ZoneContext } from './date-time.js';
import type { VocabularyEntry } from './model.js';
import type { Source } from './source-value.js';

/**
 * The data types whose mapping is a conversion rather than a table of component rows: texts,
 * numbers, dates and times, and the few values the IG builds from several parts (SN, the
 * reference range of OBX-7, the unit of OBX-6). Composite data types (CX, XPN, CWE…) are data
 * in `mappings/hl7v2/datatypes/`.
 */

export interface PrimitiveContext {
  zone: ZoneContext;
  vocabulary(name: string): ReadonlyMap<string, VocabularyEntry>;
  /** Reads another value of the same segment (e.g. OBX-6 for OBX-7's units). */
  sibling(path: string): Source[];
}

/** A value for an element whose name depends on its type (`value[x]`): the suffix and value. */
export interface Choice {
  choice: string;
  value: unknown;
}

export type Primitive = (source: Source, ctx: PrimitiveContext, args: Record<string, string>) => unknown;

const numberPattern = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

/** NM → a FHIR decimal (as a JSON number); 102 when it is not a number. */
export function decimal(text: string): number {
  const t = text.trim();
  if (!numberPattern.test(t)) throw new Hl7Error(102, `'${t.slice(0, 40)}' is not a number (NM)`);
  return Number(t);
}

const text: Primitive = (s) => s.text('');

const date =
  (precision: 'date' | 'dateTime' | 'instant'): Primitive =>
  (s, ctx) => {
    const v = s.text('');
    return v === undefined ? undefined : convertDtm(v, precision, ctx.zone);
  };

/** TM `HH[MM[SS[.S]]]` → FHIR time `hh:mm:ss`. */
const time: Primitive = (s) => {
  const v = s.text('');
  if (v === undefined) return undefined;
  const m = /^(\d{2})(\d{2})?(\d{2})?(?:\.\d+)?(?:[+-]\d{4})?$/.exec(v.trim());
  if (!m) throw new Hl7Error(102, `'${v.slice(0, 40)}' is not an HL7 time (HHMMSS)`);
  return `${m[1]}:${m[2] ?? '00'}:${m[3] ?? '00'}`;
};

/** OBX-6 (CWE) → the unit part of a Quantity: `unit`, and UCUM `system`/`code` where it maps. */
export function unitOf(source: Source, ctx: PrimitiveContext): Record<string, string> | undefined {
  const code = source.text('1');
  const label = source.text('2') ?? code;
  if (code === undefined && label === undefined) return undefined;
  const out: Record<string, string> = {};
  if (label !== undefined) out.unit = label;
  const system = source.text('3');
  let ucum: string | undefined;
  if (code !== undefined && (system === 'UCUM' || system === 'ANSI+')) ucum = code;
  else if (code !== undefined) {
    const mapped = ctx.vocabulary('units').get(code)?.target;
    if (mapped) ucum = mapped;
    else if (ucumCanonical(code, 1, 1, 1) !== undefined) ucum = code;
  }
  if (ucum !== undefined) {
    out.system = ucumSystem;
    out.code = ucum;
  }
  return out;
}

const unit: Primitive = (s, ctx) => unitOf(s, ctx);

function quantity(value: number, units: Record<string, string> | undefined): Record<string, unknown> {
  return { value, ...units };
}

function siblingUnits(
  ctx: PrimitiveContext,
  args: Record<string, string>,
): Record<string, string> | undefined {
  const at = args.units;
  const source = at ? ctx.sibling(at)[0] : undefined;
  return source ? unitOf(source, ctx) : undefined;
}

/**
 * SN (structured numeric, IG OBX-5 rows for SN): `<>` → text; `n1 - n2` → valueRange; `n1 : n2`
 * or `/` → valueRatio; comparator + number → valueQuantity with `comparator`; else text.
 */
const structuredNumeric: Primitive = (s, ctx, args) => {
  const comparator = s.text('1');
  const n1 = s.text('2');
  const separator = s.text('3');
  const n2 = s.text('4');
  const units = siblingUnits(ctx, args);
  const asText = (): Choice => ({
    choice: 'String',
    value: [comparator, n1, separator, n2, units?.unit].filter((p) => p !== undefined).join(' '),
  });
  if (n1 === undefined && n2 === undefined) return undefined;
  if (comparator === '<>' || separator === '+') return asText();
  if (separator === ':' || separator === '/') {
    if (n1 === undefined || n2 === undefined) return asText();
    return {
      choice: 'Ratio',
      value: { numerator: { value: decimal(n1) }, denominator: { value: decimal(n2) } },
    };
  }
  if (separator === '-') {
    if (n1 === undefined || n2 === undefined) return asText();
    return {
      choice: 'Range',
      value: { low: quantity(decimal(n1), units), high: quantity(decimal(n2), units) },
    };
  }
  if (separator !== undefined || n1 === undefined) return asText();
  const q: Record<string, unknown> = quantity(decimal(n1), units);
  if (comparator !== undefined && comparator !== '=') {
    if (!['<', '<=', '>', '>='].includes(comparator)) return asText();
    q.comparator = comparator;
  }
  return { choice: 'Quantity', value: q };
};

/**
 * OBX-7 reference range (ST) → Observation.referenceRange: `3.5-5.0` → low and high, `<5` or
 * `<=5` → high, `>2` or `>=2` → low, each in OBX-6's units; anything else → text.
 */
const referenceRange: Primitive = (s, ctx, args) => {
  const v = s.text('');
  if (v === undefined) return undefined;
  const units = siblingUnits(ctx, args);
  const n = '([+-]?(?:\\d+\\.?\\d*|\\.\\d+))';
  const range = new RegExp(`^\\s*${n}\\s*(?:-|–|\\.\\.|to)\\s*${n}\\s*$`).exec(v);
  if (range)
    return {
      low: quantity(decimal(range[1] ?? ''), units),
      high: quantity(decimal(range[2] ?? ''), units),
      text: v,
    };
  const bound = new RegExp(`^\\s*(<=?|>=?)\\s*${n}\\s*$`).exec(v);
  if (bound) {
    const q = quantity(decimal(bound[2] ?? ''), units);
    return bound[1]?.startsWith('<') ? { high: q, text: v } : { low: q, text: v };
  }
  return { text: v };
};

/** NM with OBX-6's units → a Quantity. */
const numericQuantity: Primitive = (s, ctx, args) => {
  const v = s.text('');
  return v === undefined ? undefined : quantity(decimal(v), siblingUnits(ctx, args));
};

/** NR (low^high) → a Range. */
const numericRange: Primitive = (s) => {
  const low = s.text('1');
  const high = s.text('2');
  if (low === undefined && high === undefined) return undefined;
  return {
    ...(low !== undefined ? { low: { value: decimal(low) } } : {}),
    ...(high !== undefined ? { high: { value: decimal(high) } } : {}),
  };
};

/** NM → a FHIR integer (e.g. PID-25 birth order). */
const integer: Primitive = (s) => {
  const v = s.text('');
  if (v === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(v.trim())) throw new Hl7Error(102, `'${v.slice(0, 40)}' is not a whole number`);
  return Number(v);
};

/**
 * HD (or an EI's namespace and universal id) → a FHIR uri for Identifier.system: the universal
 * id as `urn:oid:` (ISO), `urn:uuid:` (UUID) or as written (URI…); undefined when only a local
 * namespace is given (the IG then names the authority as assigner).
 */
export function hdUri(id: string | undefined, type: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const t = (type ?? '').toUpperCase();
  if (t === 'ISO' || /^[0-2](\.\d+)+$/.test(id)) return `urn:oid:${id.replace(/\.$/, '')}`;
  if (t === 'UUID') return `urn:uuid:${id.toLowerCase()}`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(id)) return id;
  return undefined;
}

const hd: Primitive = (s) => hdUri(s.text('2'), s.text('3'));
/** EI (entity id^namespace^universal id^type) → the system of its identifier. */
const eiSystem: Primitive = (s) => hdUri(s.text('3'), s.text('4'));

/** Table 0396 coding system name → FHIR system (IG CWE.3: coding.system). */
const codingSystem: Primitive = (s, ctx) => {
  const v = s.text('');
  if (v === undefined) return undefined;
  const mapped = ctx.vocabulary('coding-system').get(v)?.target;
  if (mapped) return mapped;
  const table = /^HL7(\d{4})$/.exec(v);
  if (table) return `http://terminology.hl7.org/CodeSystem/v2-${table[1]}`;
  const tableHl7 = /^HL7([A-Z0-9]+)$/.exec(v);
  if (tableHl7) return `http://terminology.hl7.org/CodeSystem/v2-${tableHl7[1]}`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return v;
  if (/^[0-2](\.\d+)+$/.test(v)) return `urn:oid:${v}`;
  return `urn:ferry:hl7v2:coding-system:${encodeURIComponent(v)}`;
};

const joined = (parts: (string | undefined)[]): string | undefined => {
  const present = parts.filter((p): p is string => p !== undefined && p.trim() !== '');
  return present.length > 0 ? present.join(' ') : undefined;
};

/**
 * XTN → ContactPoint.value (IG XTN[ContactPoint]): the email (XTN-4), else the unformatted
 * number (XTN-12), else `+country (area) local ext. n` from XTN-5..8, else the v2.3 XTN-1.
 */
const telecom: Primitive = (s) =>
  s.text('4') ??
  s.text('12') ??
  joined([
    s.text('5') && `+${s.text('5') ?? ''}`,
    s.text('6') && `(${s.text('6') ?? ''})`,
    s.text('7'),
    s.text('8') && `ext. ${s.text('8') ?? ''}`,
  ]) ??
  s.text('1');

/** XCN → the person's name as one text: prefix, given names, family name, suffix. */
const personName: Primitive = (s) =>
  joined([s.text('6'), s.text('3'), s.text('4'), s.text('2'), s.text('5')]);

/** PL → the location as one text: point of care, room, bed, facility, building, floor. */
const placeName: Primitive = (s) =>
  joined([s.text('1'), s.text('2'), s.text('3'), s.text('4'), s.text('7'), s.text('8')]);

/** PID-7 with a time of day → the patient-birthTime extension (birthDate keeps the date). */
const birthTime: Primitive = (s, ctx) => {
  const v = s.text('');
  if (v === undefined || !/^\d{10}/.test(v.trim())) return undefined;
  return {
    url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
    valueDateTime: convertDtm(v, 'dateTime', ctx.zone),
  };
};

/** A text (TX, FT, ST: escapes decoded, `\.br\` as a line break) as a plain-text Attachment. */
const textAttachment: Primitive = (s) => {
  const v = s.text('');
  return v === undefined
    ? undefined
    : { contentType: 'text/plain; charset=utf-8', data: Buffer.from(v, 'utf8').toString('base64') };
};

export const primitives: Record<string, Primitive> = {
  TextAttachment: textAttachment,
  BirthTime: birthTime,
  /** A code looked up in a vocabulary that gives a whole Coding (system, code, display). */
  Coding: text,
  Telecom: telecom,
  PersonName: personName,
  PlaceName: placeName,
  ST: text,
  TX: text,
  FT: text,
  ID: text,
  IS: text,
  SI: integer,
  NM: (s) => {
    const v = s.text('');
    return v === undefined ? undefined : decimal(v);
  },
  integer,
  DTM: date('dateTime'),
  TS: date('dateTime'),
  DT: date('date'),
  date: date('date'),
  instant: date('instant'),
  TM: time,
  SN: structuredNumeric,
  NR: numericRange,
  Quantity: numericQuantity,
  Unit: unit,
  ReferenceRange: referenceRange,
  'HD-uri': hd,
  'EI-system': eiSystem,
  CodingSystem: codingSystem,
};

export const primitiveNames: ReadonlySet<string> = new Set(Object.keys(primitives));
