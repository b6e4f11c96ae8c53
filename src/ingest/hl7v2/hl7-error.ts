/**
 * Errors of the HL7 v2 protocol layer, carrying what an ERR segment needs: where (segment,
 * field, repetition, component) and why (a code from HL7 table 0357, "Message error condition
 * codes"). See HL7 v2.5.1 chapter 2, 2.15.5 (ERR).
 */

/** HL7 table 0357 codes used by Ferry, with the standard's text for each. */
export const errorCodes = {
  0: 'Message accepted',
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  200: 'Unsupported message type',
  201: 'Unsupported event code',
  202: 'Unsupported processing id',
  203: 'Unsupported version id',
  204: 'Unknown key identifier',
  205: 'Duplicate key identifier',
  206: 'Application record locked',
  207: 'Application internal error',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/**
 * Where an error is, as ERR-2 (ERL data type) spells it: segment id, the segment's 1-based
 * position in the message, then field, repetition, component and sub-component (1-based).
 */
export interface ErrorLocation {
  segment?: string;
  sequence?: number;
  field?: number;
  repetition?: number;
  component?: number;
  subcomponent?: number;
}

/** ERR-4 severity (HL7 table 0516): Error, Warning, Information. */
export type Severity = 'E' | 'W' | 'I';

/** A message that cannot be read, or a field that fails a protocol rule. */
export class Hl7Error extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly location: ErrorLocation = {},
    readonly severity: Severity = 'E',
  ) {
    super(message);
    this.name = 'Hl7Error';
  }
}

/** "PID[1]-3[2].1" style text for logs and ACK texts. */
export function describeLocation(at: ErrorLocation): string {
  if (!at.segment) return 'message';
  let text = at.sequence ? `${at.segment}[${at.sequence}]` : at.segment;
  if (at.field !== undefined) text += `-${at.field}`;
  if (at.repetition !== undefined) text += `[${at.repetition}]`;
  if (at.component !== undefined) text += `.${at.component}`;
  if (at.subcomponent !== undefined) text += `.${at.subcomponent}`;
  return text;
}
