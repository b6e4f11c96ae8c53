import { ucumCanonical, ucumSystem } from '../../search/ucum.js';
import { formatOffset, zoneOffsetMinutes } from '../hl7v2/mapping/date-time.js';
import type { VocabularyEntry } from '../hl7v2/mapping/model.js';
import type { Transform, ValueType } from './model.js';

/**
 * Turns one CSV cell into a FHIR value: text clean-ups, then a conversion by type (dates with
 * explicit formats and a time zone, numbers with an optional decimal comma, booleans, UCUM units).
 * Pure; a value that cannot be converted throws a CellError saying why, for the row's report.
 */

export class CellError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CellError';
  }
}

const show = (v: string): string => `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;

export function applyTransforms(value: string, list: readonly Transform[]): string {
  let v = value;
  for (const t of list) {
    switch (t) {
      case 'trim':
        v = v.trim();
        break;
      case 'upper':
        v = v.toUpperCase();
        break;
      case 'lower':
        v = v.toLowerCase();
        break;
      case 'title':
        v = v
          .toLowerCase()
          .replace(/(^|[\s'-])(\p{L})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
        break;
      case 'collapse':
        v = v.replace(/\s+/g, ' ').trim();
        break;
      case 'digits':
        v = v.replace(/\D+/g, '');
        break;
    }
  }
  return v;
}

const decimalPattern = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

/** A decimal as written (`3.5`, or `3,5` and `1.234,5` with a decimal comma) → its JSON number. */
export function parseDecimal(text: string, decimalComma: boolean): number {
  let t = text.replace(/\s/g, '');
  if (decimalComma) t = t.replace(/\./g, '').replace(',', '.');
  if (!decimalPattern.test(t)) throw new CellError(`${show(text)} is not a number`);
  const n = Number(t);
  if (!Number.isFinite(n)) throw new CellError(`${show(text)} is not a finite number`);
  return n;
}

function parseInteger(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new CellError(`${show(text)} is not a whole number`);
  const n = Number(text);
  if (n > 2147483647 || n < -2147483648)
    throw new CellError(`${show(text)} is out of the FHIR integer range`);
  return n;
}

const booleans: Record<string, boolean> = {
  true: true,
  false: false,
  yes: true,
  no: false,
  y: true,
  n: false,
  '1': true,
  '0': false,
  t: true,
  f: false,
};

function parseBoolean(text: string): boolean {
  const b = booleans[text.toLowerCase()];
  if (b === undefined) throw new CellError(`${show(text)} is not true/false, yes/no or 1/0`);
  return b;
}

/** A date/time read by a format: the parts it carried. */
interface DateParts {
  y: number;
  mo?: number;
  d?: number;
  h?: number;
  mi?: number;
  s?: number;
  frac?: string;
  /** Offset in minutes when the value carried one. */
  offset?: number;
}

type Compiled = (text: string) => DateParts | undefined;

const tokens: [string, string, keyof DateParts | 'offsetText' | 'yy'][] = [
  ['YYYY', '(\\d{4})', 'y'],
  ['%Y', '(\\d{4})', 'y'],
  ['YY', '(\\d{2})', 'yy'],
  ['%y', '(\\d{2})', 'yy'],
  ['MM', '(\\d{2})', 'mo'],
  ['%m', '(\\d{1,2})', 'mo'],
  ['M', '(\\d{1,2})', 'mo'],
  ['DD', '(\\d{2})', 'd'],
  ['%d', '(\\d{1,2})', 'd'],
  ['D', '(\\d{1,2})', 'd'],
  ['HH', '(\\d{2})', 'h'],
  ['%H', '(\\d{1,2})', 'h'],
  ['H', '(\\d{1,2})', 'h'],
  ['mm', '(\\d{2})', 'mi'],
  ['%M', '(\\d{2})', 'mi'],
  ['ss', '(\\d{2})', 's'],
  ['%S', '(\\d{2})', 's'],
  ['SSS', '(\\d{1,9})', 'frac'],
  ['%f', '(\\d{1,9})', 'frac'],
  ['Z', '(Z|[+-]\\d{2}:?\\d{2})', 'offsetText'],
  ['%z', '(Z|[+-]\\d{2}:?\\d{2})', 'offsetText'],
];

const isoDateTime =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$/;

function offsetMinutes(text: string): number {
  if (text === 'Z') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  const digits = text.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
}

const compiledFormats = new Map<string, Compiled>();

/** Compiles a format (`DD/MM/YYYY HH:mm`, `%d.%m.%Y`, or `ISO`) into a reader. */
export function compileFormat(format: string): Compiled {
  const hit = compiledFormats.get(format);
  if (hit) return hit;
  let compiled: Compiled;
  if (format === 'ISO') {
    compiled = (text) => {
      const m = isoDateTime.exec(text);
      if (!m) return undefined;
      const [, y, mo, d, h, mi, s, frac, off] = m;
      return {
        y: Number(y),
        ...(mo !== undefined ? { mo: Number(mo) } : {}),
        ...(d !== undefined ? { d: Number(d) } : {}),
        ...(h !== undefined ? { h: Number(h), mi: Number(mi) } : {}),
        ...(s !== undefined ? { s: Number(s) } : {}),
        ...(frac !== undefined ? { frac } : {}),
        ...(off !== undefined ? { offset: offsetMinutes(off) } : {}),
      };
    };
  } else {
    let pattern = '';
    const slots: (typeof tokens)[number][2][] = [];
    for (let i = 0; i < format.length;) {
      const token = tokens.find(([t]) => format.startsWith(t, i));
      if (token) {
        pattern += token[1];
        slots.push(token[2]);
        i += token[0].length;
      } else {
        pattern += (format[i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        i++;
      }
    }
    if (!slots.includes('y') && !slots.includes('yy'))
      throw new Error(`the date format '${format}' has no year (YYYY)`);
    const regex = new RegExp(`^${pattern}$`);
    compiled = (text) => {
      const m = regex.exec(text);
      if (!m) return undefined;
      const parts: DateParts = { y: 0 };
      slots.forEach((slot, n) => {
        const v = m[n + 1] ?? '';
        if (slot === 'offsetText') parts.offset = offsetMinutes(v);
        else if (slot === 'yy')
          parts.y = 2000 + Number(v) > new Date().getUTCFullYear() + 10 ? 1900 + Number(v) : 2000 + Number(v);
        else if (slot === 'frac') parts.frac = v;
        else parts[slot] = Number(v);
      });
      return parts;
    };
  }
  compiledFormats.set(format, compiled);
  return compiled;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function checkParts(p: DateParts, text: string): void {
  if (p.mo !== undefined && (p.mo < 1 || p.mo > 12))
    throw new CellError(`${show(text)} has no month ${p.mo}`);
  if (p.d !== undefined) {
    const last = new Date(Date.UTC(p.y, p.mo ?? 1, 0)).getUTCDate();
    if (p.d < 1 || p.d > last) throw new CellError(`${show(text)} is not a calendar date`);
  }
  if ((p.h ?? 0) > 23 || (p.mi ?? 0) > 59 || (p.s ?? 0) > 59)
    throw new CellError(`${show(text)} is not a time of day`);
}

/** A date/time cell by the first of `formats` that reads it, as FHIR date, dateTime or instant. */
export function parseDate(
  text: string,
  formats: readonly string[],
  precision: 'date' | 'dateTime' | 'instant',
  timezone: string,
): string {
  let parts: DateParts | undefined;
  for (const f of formats) {
    parts = compileFormat(f)(text);
    if (parts) break;
  }
  if (!parts) throw new CellError(`${show(text)} does not match the date format ${formats.join(' or ')}`);
  checkParts(parts, text);
  const date = [String(parts.y).padStart(4, '0'), parts.mo, parts.mo !== undefined ? parts.d : undefined]
    .filter((p) => p !== undefined)
    .map((p, i) => (i === 0 ? p : pad(p as number)))
    .join('-');
  if (precision === 'date') return date;
  if (parts.h === undefined) {
    if (precision === 'dateTime') return date;
    if (parts.d === undefined) throw new CellError(`${show(text)} is not a full date, as an instant needs`);
  }
  if (parts.d === undefined || parts.mo === undefined)
    throw new CellError(`${show(text)} has a time but no full date`);
  const h = parts.h ?? 0;
  const mi = parts.mi ?? 0;
  const offset = parts.offset ?? zoneOffsetMinutes(timezone, parts.y, parts.mo, parts.d, h, mi);
  const frac = parts.frac ? `.${parts.frac}` : '';
  return `${date}T${pad(h)}:${pad(mi)}:${pad(parts.s ?? 0)}${frac}${formatOffset(offset)}`;
}

function parseTime(text: string, formats: readonly string[] | undefined): string {
  const m = /^(\d{1,2}):?(\d{2})(?::?(\d{2}))?$/.exec(text);
  if (!m || formats?.some((f) => f !== 'ISO' && !f.includes('H')))
    throw new CellError(`${show(text)} is not a time (HH:mm[:ss])`);
  const [, h = '', mi = '', s] = m;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)
    throw new CellError(`${show(text)} is not a time of day`);
  return `${pad(Number(h))}:${mi}:${s ?? '00'}`;
}

/** A unit as written → `unit`, and UCUM `system`/`code` when it is UCUM or maps to UCUM. */
export function parseUnit(
  text: string,
  units: ReadonlyMap<string, VocabularyEntry> | undefined,
): Record<string, string> {
  const out: Record<string, string> = { unit: text };
  const mapped = units?.get(text)?.target;
  const ucum = mapped ?? (ucumCanonical(text, 1, 1, 1) !== undefined ? text : undefined);
  if (ucum !== undefined) {
    out.system = ucumSystem;
    out.code = ucum;
  }
  return out;
}

export interface ConvertOptions {
  type: ValueType;
  formats?: readonly string[];
  timezone: string;
  decimalComma: boolean;
  /** The `units` vocabulary, for the `unit` type. */
  units?: ReadonlyMap<string, VocabularyEntry>;
}

/** Converts one cleaned, non-empty cell. */
export function convertCell(text: string, options: ConvertOptions): unknown {
  switch (options.type) {
    case 'string':
      return text;
    case 'code':
      if (/\s{2,}|^\s|\s$/.test(text)) throw new CellError(`${show(text)} is not a code (stray spaces)`);
      return text;
    case 'integer':
      return parseInteger(text);
    case 'decimal':
      return parseDecimal(text, options.decimalComma);
    case 'boolean':
      return parseBoolean(text);
    case 'date':
    case 'dateTime':
    case 'instant':
      return parseDate(text, options.formats ?? ['ISO'], options.type, options.timezone);
    case 'time':
      return parseTime(text, options.formats);
    case 'unit':
      return parseUnit(text, options.units);
  }
}
