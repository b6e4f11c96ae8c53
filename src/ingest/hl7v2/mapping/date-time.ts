import { Hl7Error } from '../hl7-error.js';

/**
 * HL7 DTM (`YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`) to FHIR date, dateTime and instant
 * (IG DTM[dateTime]: "must convert v2 date time format to FHIR date time format"). FHIR wants a
 * time zone whenever a time is given: the value's own offset, else MSH-7's offset, else the
 * configured zone (FERRY_HL7_TIMEZONE, an IANA name such as Europe/Berlin; UTC by default).
 */

const dtm = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,4}))?)?([+-]\d{4})?$/;

/** Where a DTM value's missing offset comes from. */
export interface ZoneContext {
  /** MSH-7's offset (`+0100`), when MSH-7 carries one. */
  messageOffset?: string;
  /** IANA zone used when neither the value nor MSH-7 carries an offset. */
  timezone: string;
}

/** The offset part of a DTM (`+0100`), if any. */
export function offsetOf(value: string | undefined): string | undefined {
  return value ? dtm.exec(value.trim())?.[8] : undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: building one costs far more than using it. */
function formatterOf(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(timezone, f);
  }
  return f;
}

const offsets = new Map<string, number>();

/** The offset in minutes that zone `timezone` has at a local wall-clock time (memoised). */
export function zoneOffsetMinutes(
  timezone: string,
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
): number {
  const key = `${timezone}|${y}|${mo}|${d}|${h}|${mi}`;
  let minutes = offsets.get(key);
  if (minutes === undefined) {
    // a feed's times cluster, so few distinct keys; the bound keeps a long run from growing it
    if (offsets.size >= 50_000) offsets.clear();
    minutes = computeOffset(timezone, y, mo, d, h, mi);
    offsets.set(key, minutes);
  }
  return minutes;
}

function computeOffset(timezone: string, y: number, mo: number, d: number, h: number, mi: number): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  const offsetAt = (t: number): number => {
    const parts = formatterOf(timezone).formatToParts(new Date(t));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
    return (Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute')) - t) / 60000;
  };
  const first = offsetAt(asUtc);
  return offsetAt(asUtc - first * 60000);
}

const pad = (n: number, width = 2): string => String(Math.abs(n)).padStart(width, '0');

export function formatOffset(minutes: number): string {
  if (minutes === 0) return 'Z';
  const sign = minutes < 0 ? '-' : '+';
  return `${sign}${pad(Math.trunc(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

/** Checks that an IANA zone name is known (for the configuration). */
export function isKnownZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

export type DatePrecision = 'date' | 'dateTime' | 'instant';

/**
 * Converts a DTM to a FHIR date (truncating any time), dateTime (keeping the precision sent,
 * seconds added when minutes are given) or instant (every missing part filled with zeros).
 */
export function convertDtm(value: string, precision: DatePrecision, zone: ZoneContext): string {
  const m = dtm.exec(value.trim());
  if (!m) throw new Hl7Error(102, `'${value.slice(0, 40)}' is not an HL7 date/time (YYYYMMDDHHMMSS[+ZZZZ])`);
  const [, y = '', mo, d, h, mi, s, frac, off] = m;
  const month = Number(mo ?? '01');
  const day = Number(d ?? '01');
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(Number(y), month, 0)).getUTCDate())
    throw new Hl7Error(102, `'${value.slice(0, 40)}' is not a calendar date`);
  if (Number(h ?? 0) > 23 || Number(mi ?? 0) > 59 || Number(s ?? 0) > 59)
    throw new Hl7Error(102, `'${value.slice(0, 40)}' is not a time of day`);
  if (precision === 'date' || (precision === 'dateTime' && h === undefined)) {
    return [y, mo, d].filter((p) => p !== undefined).join('-');
  }
  const hh = h ?? '00';
  const mm = mi ?? '00';
  const ss = s ?? '00';
  const fraction = frac ? `.${frac}` : '';
  let minutes: number;
  const explicit = off ?? zone.messageOffset;
  if (explicit) {
    const sign = explicit.startsWith('-') ? -1 : 1;
    minutes = sign * (Number(explicit.slice(1, 3)) * 60 + Number(explicit.slice(3, 5)));
  } else {
    minutes = zoneOffsetMinutes(zone.timezone, Number(y), month, day, Number(hh), Number(mm));
  }
  return `${y}-${pad(month)}-${pad(day)}T${hh}:${mm}:${ss}${fraction}${formatOffset(minutes)}`;
}
