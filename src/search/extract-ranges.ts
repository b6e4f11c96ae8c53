import type { Money, Period, Quantity, Range, Timing } from 'fhir/r4.js';
import type { DateEntry, NumberEntry, QuantityEntry } from './types.js';
import { ucumCanonical, ucumSystem } from './ucum.js';

/** Open ends of a Period (the limits of a JS Date, which the stores can hold as integers). */
export const openLow = -8_640_000_000_000_000;
export const openHigh = 8_640_000_000_000_000;

const datePattern =
  /^(-?\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instants a date, dateTime or instant covers, by its precision (R4 search.html#date):
 * `2020` is the whole year, `2020-03-04T10:00:00+01:00` one second. Without a zone (a date, or a
 * dateTime that breaks the rule that times carry one) the value is read as UTC. Epoch ms, inclusive.
 */
export function dateRange(value: string): [number, number] | undefined {
  const m = datePattern.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  if (mo === undefined) return [utc(year, 0, 1), utc(year + 1, 0, 1) - 1];
  const month = Number(mo) - 1;
  if (month < 0 || month > 11) return undefined;
  if (d === undefined) return [utc(year, month, 1), utc(year, month + 1, 1) - 1];
  const day = Number(d);
  if (day < 1 || day > 31) return undefined;
  if (h === undefined || mi === undefined) return [utc(year, month, day), utc(year, month, day + 1) - 1];
  let offset = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  const start = utc(year, month, day, Number(h), Number(mi), Number(s ?? 0)) - offset;
  if (s === undefined) return [start, start + 59_999];
  if (frac === undefined) return [start, start + 999];
  const digits = Math.min(frac.length, 3);
  const unit = 10 ** (3 - digits);
  const low = start + Number(frac.slice(0, digits)) * unit;
  return [low, low + unit - 1];
}

function utc(year: number, month: number, day: number, h = 0, mi = 0, s = 0): number {
  const t = Date.UTC(year, month, day, h, mi, s);
  if (year >= 0 && year < 100) {
    // Date.UTC reads years 0–99 as 1900–1999
    const date = new Date(t);
    date.setUTCFullYear(year, month, day);
    return date.getTime();
  }
  return t;
}

/** Date entries of a date-typed value: a primitive, a Period (open ends) or a Timing's outer limits. */
export function dateEntries(param: string, value: unknown, type: string | null): DateEntry[] {
  if (typeof value === 'string') {
    const range = dateRange(value);
    return range ? [{ kind: 'date', param, low: range[0], high: range[1] }] : [];
  }
  if (value === null || typeof value !== 'object') return [];
  if (type === 'Period' || (type === null && ('start' in value || 'end' in value))) {
    const range = periodRange(value);
    return range ? [{ kind: 'date', param, low: range[0], high: range[1] }] : [];
  }
  if (type === 'Timing') {
    // R4 search.html#date: for a Timing "only the outer limits matter"
    const timing = value as Timing;
    const ranges = (timing.event ?? []).map(dateRange);
    const bounds = timing.repeat?.boundsPeriod;
    if (bounds) ranges.push(periodRange(bounds));
    const found = ranges.filter((r) => r !== undefined);
    if (found.length === 0) return [];
    return [
      {
        kind: 'date',
        param,
        low: Math.min(...found.map((r) => r[0])),
        high: Math.max(...found.map((r) => r[1])),
      },
    ];
  }
  return [];
}

function periodRange(period: Period): [number, number] | undefined {
  const start = period.start === undefined ? undefined : dateRange(period.start);
  const end = period.end === undefined ? undefined : dateRange(period.end);
  if (!start && !end) return undefined;
  return [start?.[0] ?? openLow, end?.[1] ?? openHigh];
}

/**
 * The interval a decimal's precision implies (R4 search.html#number: 100 → [99.5, 100.5),
 * 1.50 → [1.495, 1.505)). JSON.parse has dropped trailing zeros by now, so the precision is that
 * of the number's shortest form: 100.0 is read as 100.
 */
export function numberRange(n: number): [number, number] {
  const s = String(Math.abs(n));
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  const decimals = (mantissa.split('.')[1]?.length ?? 0) - (e < 0 ? 0 : Number(s.slice(e + 1)));
  const half = 0.5 * 10 ** -decimals;
  const fix = (x: number): number => (decimals >= 0 && decimals < 99 ? Number(x.toFixed(decimals + 1)) : x);
  return [fix(n - half), fix(n + half)];
}

const numericTypes = new Set(['integer', 'decimal', 'positiveInt', 'unsignedInt', 'integer64']);

/** Number entries of a number-typed value (a Quantity or Range contributes its value). */
export function numberEntries(param: string, value: unknown, type: string | null): NumberEntry[] {
  if (typeof value === 'number' && (type === null || numericTypes.has(type))) {
    const [low, high] = numberRange(value);
    return [{ kind: 'number', param, value, low, high }];
  }
  return quantityEntries(param, value, type).map((q) => ({
    kind: 'number',
    param,
    value: q.value,
    low: q.low,
    high: q.high,
  }));
}

const quantityTypes = new Set([
  'Quantity',
  'Age',
  'Count',
  'Distance',
  'Duration',
  'SimpleQuantity',
  'MoneyQuantity',
]);

/**
 * Quantity entries of a Quantity (and its profiles Age, Duration…), Money or Range, read from
 * the elements directly: fhirpath.js 5 refuses a Quantity that has a `comparator`. A comparator
 * opens that side of the interval (`<5` covers everything below 5).
 */
export function quantityEntries(param: string, value: unknown, type: string | null): QuantityEntry[] {
  if (value === null || typeof value !== 'object') return [];
  if (type === 'Range' || (type === null && ('low' in value || 'high' in value))) {
    const entry = rangeEntry(param, value);
    return entry ? [entry] : [];
  }
  if (type === 'Money') {
    const money = value as Money;
    if (typeof money.value !== 'number') return [];
    const [low, high] = numberRange(money.value);
    const currency = money.currency ?? null;
    return [
      {
        kind: 'quantity',
        param,
        value: money.value,
        low,
        high,
        system: currency === null ? null : 'urn:iso:std:iso:4217',
        code: currency,
        unit: null,
      },
    ];
  }
  if (type !== null && !quantityTypes.has(type)) return [];
  const q = value as Quantity;
  if (typeof q.value !== 'number') return [];
  const [low, high] = numberRange(q.value);
  const entry = quantity(param, q, q.value, low, high);
  if (q.comparator === '<' || q.comparator === '<=') open(entry, 'low');
  if (q.comparator === '>' || q.comparator === '>=') open(entry, 'high');
  return [entry];
}

function quantity(param: string, q: Quantity, value: number, low: number, high: number): QuantityEntry {
  const entry: QuantityEntry = {
    kind: 'quantity',
    param,
    value,
    low,
    high,
    system: q.system ?? null,
    code: q.code ?? null,
    unit: q.unit ?? null,
  };
  if (q.system === ucumSystem && q.code !== undefined) {
    const canonical = ucumCanonical(q.code, value, low, high);
    if (canonical) entry.canonical = canonical;
  }
  return entry;
}

function open(entry: QuantityEntry, side: 'low' | 'high'): void {
  const limit = side === 'low' ? -Number.MAX_VALUE : Number.MAX_VALUE;
  entry[side] = limit;
  if (entry.canonical) entry.canonical[side] = limit;
}

/** A Range as one quantity: its value the low end (or the high end when there is no low). */
function rangeEntry(param: string, range: Range): QuantityEntry | undefined {
  const lowValue = range.low?.value;
  const highValue = range.high?.value;
  const units = range.low ?? range.high;
  const value = lowValue ?? highValue;
  if (value === undefined || units === undefined) return undefined;
  const low = lowValue === undefined ? -Number.MAX_VALUE : numberRange(lowValue)[0];
  const high = highValue === undefined ? Number.MAX_VALUE : numberRange(highValue)[1];
  const entry = quantity(
    param,
    units,
    value,
    lowValue === undefined ? value : low,
    highValue === undefined ? value : high,
  );
  if (lowValue === undefined) open(entry, 'low');
  if (highValue === undefined) open(entry, 'high');
  return entry;
}
