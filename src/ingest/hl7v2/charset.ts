import { Hl7Error } from './hl7-error.js';

/**
 * Bytes to text by the character set a message declares (HL7 v2.5.1 2.14.9.18, table 0211).
 *
 * The rule: a charset given by the transport (HTTP Content-Type) wins; else MSH-18's first
 * repetition, read from the raw bytes (MSH is ASCII): `ASCII` and no MSH-18 both mean "UTF-8,
 * or latin1 when the bytes are not valid UTF-8" (ASCII is a subset of both, and senders that
 * leave MSH-18 empty send either); `8859/1` is latin1; `8859/2`…`8859/15` the other ISO 8859
 * parts; `UNICODE UTF-8` is UTF-8 (invalid bytes become U+FFFD). Any other value is refused with
 * 103 at MSH-18, so the sender learns why instead of getting mangled names stored.
 */
export interface DecodedText {
  text: string;
  /** The WHATWG encoding label used, e.g. `utf-8`, `latin1`. */
  charset: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const FIELD_18 = 18;

/** MSH-18 (first repetition) read from the bytes of the first line, `undefined` when empty. */
export function declaredCharset(bytes: Buffer): string | undefined {
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  start = bytes.indexOf('MSH', start, 'latin1');
  if (start < 0 || start + 3 >= bytes.length) return undefined;
  const sep = bytes[start + 3] ?? 0x7c;
  let end = start;
  while (end < bytes.length && bytes[end] !== 0x0d && bytes[end] !== 0x0a) end++;
  const fields = bytes.toString('latin1', start, end).split(String.fromCharCode(sep));
  // split index n-1 holds MSH-n (MSH-1 is the separator itself)
  const raw = fields[FIELD_18 - 1];
  const repetition = fields[1]?.charAt(1) ?? '~';
  const value = raw?.split(repetition)[0]?.trim();
  return value ? value : undefined;
}

/** The WHATWG label for a table 0211 value, or `undefined` when Ferry does not support it. */
export function charsetLabel(value: string): string | undefined {
  const v = value.trim().toUpperCase();
  if (v === 'ASCII') return 'ascii';
  if (v === 'UNICODE UTF-8' || v === 'UTF-8') return 'utf-8';
  if (v === '8859/1') return 'latin1';
  const part = /^8859\/([2-9]|1[0-5])$/.exec(v)?.[1];
  if (part && part !== '12') return `iso-8859-${part}`;
  return undefined;
}

function utf8OrLatin1(bytes: Buffer): DecodedText {
  try {
    return { text: strictUtf8.decode(bytes), charset: 'utf-8' };
  } catch {
    return { text: bytes.toString('latin1'), charset: 'latin1' };
  }
}

/**
 * Decodes message bytes. `transportCharset` (e.g. from Content-Type) wins over MSH-18. Throws
 * Hl7Error 103 at MSH-18 for a character set Ferry cannot decode.
 */
export function decodeHl7(bytes: Buffer, transportCharset?: string): DecodedText {
  if (transportCharset) {
    const label = transportCharset.trim().toLowerCase();
    try {
      return { text: new TextDecoder(label).decode(bytes), charset: label };
    } catch {
      throw new Hl7Error(103, `charset '${transportCharset}' is not supported`, {});
    }
  }
  const declared = declaredCharset(bytes);
  if (declared === undefined) return utf8OrLatin1(bytes);
  const label = charsetLabel(declared);
  if (label === undefined) {
    throw new Hl7Error(103, `MSH-18 character set '${declared}' is not supported`, {
      segment: 'MSH',
      sequence: 1,
      field: FIELD_18,
    });
  }
  if (label === 'ascii') return utf8OrLatin1(bytes);
  if (label === 'latin1') return { text: bytes.toString('latin1'), charset: label };
  return { text: new TextDecoder(label).decode(bytes), charset: label };
}
