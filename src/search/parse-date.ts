/**
 * Date search values (R4 search.html#date): a date, dateTime or instant at any precision, read as
 * the range of instants it covers, the way extraction reads the values it indexes.
 */

const datePattern =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** An inclusive range of epoch milliseconds. */
export interface InstantRange {
  low: number;
  high: number;
}

/**
 * The first and last millisecond a date search value covers: `2024` is the whole year,
 * `2024-02-29T10:00` one minute, `…T10:00:00.123` one millisecond (digits beyond the third are
 * below what is indexed and are dropped). Undefined when the text is not a valid date.
 *
 * A value without a zone (a date, or a time without one) is read as UTC — as extraction reads the
 * stored values — so both sides of a comparison agree. A `+` in a zone arrives as a space when the
 * client forgot to percent-encode it (`+01:00` → ` 01:00`); that space is read as `+`.
 */
export function parseDateRange(text: string): InstantRange | undefined {
  const m = datePattern.exec(text.replace(/^([^ ]+T[0-9:.]+) (\d{2}:\d{2})$/, '$1+$2'));
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  if (mo === undefined) return { low: utc(year, 0, 1), high: utc(year + 1, 0, 1) - 1 };
  const month = Number(mo) - 1;
  if (month < 0 || month > 11) return undefined;
  if (d === undefined) return { low: utc(year, month, 1), high: utc(year, month + 1, 1) - 1 };
  const day = Number(d);
  if (day < 1 || day > daysIn(year, month)) return undefined;
  if (h === undefined || mi === undefined) {
    return { low: utc(year, month, day), high: utc(year, month, day + 1) - 1 };
  }
  const [hour, minute, second] = [Number(h), Number(mi), Number(s ?? 0)];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offset = zoneOffset(zone);
  if (offset === undefined) return undefined;
  const start = utc(year, month, day, hour, minute, second) - offset;
  if (s === undefined) return { low: start, high: start + 59_999 };
  if (frac === undefined) return { low: start, high: start + 999 };
  const digits = Math.min(frac.length, 3);
  const unit = 10 ** (3 - digits);
  const low = start + Number(frac.slice(0, digits)) * unit;
  return { low, high: low + unit - 1 };
}

/**
 * `ap` on a date (R4 search.html#prefix leaves the width to the server and recommends "10% of
 * the gap between now and the date"): the range widened on both sides by 10% of the distance from
 * `now` to its nearest end (nothing when it contains now).
 */
export function approximateDateRange(range: InstantRange, now: number): InstantRange {
  const gap = now < range.low ? range.low - now : now > range.high ? now - range.high : 0;
  const margin = Math.round(gap / 10);
  return { low: range.low - margin, high: range.high + margin };
}

/** A zone's offset from UTC in ms; 0 without one (UTC); undefined when out of range. */
function zoneOffset(zone: string | undefined): number | undefined {
  if (zone === undefined || zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 14 || minutes > 59) return undefined;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

function daysIn(year: number, month: number): number {
  return new Date(utc(year, month + 1, 1) - 1).getUTCDate();
}

function utc(year: number, month: number, day: number, h = 0, mi = 0, s = 0): number {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read the years 0–99 as 1900–1999
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}
