import { Hl7Error } from './hl7-error.js';

/**
 * The delimiters a message declares in MSH-1 and MSH-2 (HL7 v2.5.1 2.5.4; v2.7 adds the
 * truncation character as a fifth encoding character).
 */
export interface Hl7Encoding {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+: MSH-2's optional fifth character, usually `#`. */
  truncation?: string;
}

/** `|^~\&`, the recommended delimiters, used when a message's own cannot be read. */
export const defaultEncoding: Readonly<Hl7Encoding> = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
});

/** MSH-2 as it should be written for `encoding`. */
export function encodingCharacters(encoding: Hl7Encoding): string {
  const { component, repetition, escape, subcomponent, truncation } = encoding;
  return component + repetition + escape + subcomponent + (truncation ?? '');
}

const usable = (c: string): boolean => !/[A-Za-z0-9\s]/.test(c) && c.charCodeAt(0) < 0x7f;

/**
 * Reads the delimiters from the start of an MSH (or FHS/BHS) line. Every delimiter must be a
 * distinct printable non-alphanumeric character; otherwise nothing after them can be trusted,
 * so the message is refused (102 at MSH-2).
 */
export function readEncoding(line: string, segment = 'MSH'): Hl7Encoding {
  const field = line.charAt(3);
  if (field === '' || !usable(field)) {
    throw new Hl7Error(102, `${segment}-1 (field separator) is missing or not a delimiter`, {
      segment,
      sequence: 1,
      field: 1,
    });
  }
  const end = line.indexOf(field, 4);
  const chars = end < 0 ? line.slice(4) : line.slice(4, end);
  const location = { segment, sequence: 1, field: 2 };
  if (chars.length < 4 || chars.length > 5) {
    throw new Hl7Error(
      102,
      `${segment}-2 must hold 4 or 5 encoding characters, found ${chars.length}`,
      location,
    );
  }
  const all = [field, ...Array.from(chars)];
  if (new Set(all).size !== all.length || !all.every(usable)) {
    throw new Hl7Error(102, `${segment}-2 encoding characters are not distinct delimiters`, location);
  }
  const encoding: Hl7Encoding = {
    field,
    component: chars.charAt(0),
    repetition: chars.charAt(1),
    escape: chars.charAt(2),
    subcomponent: chars.charAt(3),
  };
  if (chars.length === 5) encoding.truncation = chars.charAt(4);
  return encoding;
}
