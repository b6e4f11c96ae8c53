import { defaultEncoding, readEncoding, type Hl7Encoding } from './encoding.js';
import { Hl7Error } from './hl7-error.js';
import { Hl7Message, Hl7Segment } from './message.js';

/**
 * The HL7 v2 ER7 parser: text in, Hl7Message out, no I/O (HL7 v2.5.1 chapter 2, 2.5-2.7).
 * Segments end at CR, LF or CRLF (the standard says CR; files and many senders use the others);
 * a leading byte-order mark and blank lines are dropped.
 */

const segmentId = /^[A-Z][A-Z0-9]{2}$/;

/** Splits text into its non-empty segment lines, dropping a leading BOM. */
export function segmentLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.split(/\r\n|\r|\n/).filter((line) => line.trim() !== '');
}

function fieldsOf(line: string, encoding: Hl7Encoding): string[] {
  const name = line.slice(0, 3);
  if (name === 'MSH' || name === 'FHS' || name === 'BHS') {
    // MSH-1 is the field separator itself, so field n sits at split index n-1
    return [name, encoding.field, ...line.slice(4).split(encoding.field)];
  }
  return line.split(encoding.field);
}

/**
 * Parses one message. Throws Hl7Error with a table 0357 code and the location: 100 when the
 * first segment is not MSH or a segment id is malformed, 102 for unusable encoding characters,
 * 101 when MSH-9, MSH-10 or MSH-12 is missing, 203 when MSH-12 is not a 2.x version.
 */
export function parseMessage(text: string): Hl7Message {
  const lines = segmentLines(text);
  const first = lines[0];
  if (first === undefined) throw new Hl7Error(100, 'the message is empty', {});
  if (!first.startsWith('MSH')) {
    throw new Hl7Error(100, 'the message does not start with an MSH segment', {
      segment: first.slice(0, 3),
      sequence: 1,
    });
  }
  const encoding = readEncoding(first);
  const segments = lines.map((line, i) => {
    const name = line.slice(0, 3);
    const sequence = i + 1;
    if (!segmentId.test(name) || (line.length > 3 && line.charAt(3) !== encoding.field)) {
      throw new Hl7Error(100, `segment ${sequence} does not start with a segment id`, { sequence });
    }
    if (name === 'MSH' && i > 0) {
      throw new Hl7Error(100, 'a second MSH segment: one message at a time', { segment: name, sequence });
    }
    return new Hl7Segment(name, sequence, fieldsOf(line, encoding), encoding);
  });
  const message = new Hl7Message(segments, encoding, lines.join('\r'));
  const msh = message.msh;
  for (const [field, what] of [
    [9, 'message type'],
    [10, 'message control id'],
    [12, 'version id'],
  ] as const) {
    if (!msh.get(`${field}.1`)) {
      throw new Hl7Error(101, `MSH-${field} (${what}) is missing`, { segment: 'MSH', sequence: 1, field });
    }
  }
  if (!/^2\.\d/.test(message.version)) {
    throw new Hl7Error(203, `version '${message.version}' is not an HL7 v2 version`, {
      segment: 'MSH',
      sequence: 1,
      field: 12,
    });
  }
  return message;
}

/**
 * The MSH segment read as far as possible, for acknowledging a message that cannot be parsed:
 * with the message's own delimiters when they are usable, else with the defaults and MSH-1
 * taken as written. `undefined` when the text does not start with MSH.
 */
export function readHeader(text: string): Hl7Segment | undefined {
  const first = segmentLines(text)[0];
  if (!first?.startsWith('MSH') || first.length < 4) return undefined;
  let encoding: Hl7Encoding;
  try {
    encoding = readEncoding(first);
  } catch {
    encoding = { ...defaultEncoding, field: first.charAt(3) };
  }
  return new Hl7Segment('MSH', 1, fieldsOf(first, encoding), encoding);
}

/** The outcome of parsing, for callers that acknowledge failures instead of throwing them. */
export type ParseResult =
  { ok: true; message: Hl7Message } | { ok: false; error: Hl7Error; header: Hl7Segment | undefined };

/** parseMessage without throwing: a failure comes back with the best header that could be read. */
export function tryParseMessage(text: string): ParseResult {
  try {
    return { ok: true, message: parseMessage(text) };
  } catch (error) {
    const failure = error instanceof Hl7Error ? error : new Hl7Error(207, 'the parser failed');
    return { ok: false, error: failure, header: readHeader(text) };
  }
}
