import { defaultEncoding, encodingCharacters, readEncoding, type Hl7Encoding } from './encoding.js';
import { escapeValue } from './escape.js';
import {
  describeLocation,
  errorCodes,
  type ErrorCode,
  type ErrorLocation,
  type Hl7Error,
  type Severity,
} from './hl7-error.js';
import type { Hl7Segment } from './message.js';

/**
 * ACK building (HL7 v2.5.1 2.9 and 2.14.8 MSA, 2.15.5 ERR), pure: the caller passes the time and
 * the new control id. Shaped like HAPI's generated ACKs: sending and receiving application and
 * facility swapped, MSH-9 `ACK^<trigger>^ACK`, MSH-11/MSH-12 copied, MSA-2 = the original MSH-10.
 */

/** Application acknowledgement codes (table 0008) a handler can decide on. */
export type AckCode = 'AA' | 'AE' | 'AR';
/** Every MSA-1 value Ferry writes: application codes and enhanced-mode accept codes. */
export type AckCodeWritten = AckCode | 'CA' | 'CE' | 'CR';

/** One ERR segment: why (table 0357), where (ERR-2) and how bad (ERR-4). */
export interface AckIssue {
  code: ErrorCode;
  /** What went wrong, for people (MSA-3 of the first issue, ERR-8). Never patient data. */
  text?: string;
  location?: ErrorLocation;
  severity?: Severity;
}

/** What a handler decided about a message: AA after it is safely kept, AE on content, AR otherwise. */
export interface AckDecision {
  code: AckCode;
  /** MSA-3 text; defaults to the first issue's text. */
  text?: string;
  issues?: AckIssue[];
}

/** The decision for a message the protocol layer could not read: AR with the error's ERR. */
export function rejectWith(error: Hl7Error): AckDecision {
  return {
    code: 'AR',
    issues: [{ code: error.code, text: error.message, location: error.location, severity: error.severity }],
  };
}

export interface AckOptions {
  /** MSH-10 of the ACK. */
  controlId: string;
  /** MSH-7 of the ACK. */
  now: Date;
}

/** `YYYYMMDDHHMMSS.SSS+0000` (DTM in UTC). */
export function hl7Timestamp(date: Date): string {
  const iso = date.toISOString(); // 2026-11-28T19:20:31.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}+0000`;
}

function usableEncoding(encoding: Hl7Encoding): Hl7Encoding {
  try {
    return readEncoding(`MSH${encoding.field}${encodingCharacters(encoding)}`);
  } catch {
    return { ...defaultEncoding };
  }
}

const wants = (condition: string, ok: boolean): boolean =>
  condition === 'NE' ? false : condition === 'ER' ? !ok : condition === 'SU' ? ok : true;

/**
 * The response Ferry sends for a decision, or `undefined` when the sender asked for none.
 *
 * Original mode (MSH-15 and MSH-16 both empty): one ACK with MSA-1 AA/AE/AR.
 * Enhanced mode (either present; table 0155 AL always, NE never, ER on error, SU on success;
 * an empty or unknown value counts as AL): Ferry answers only after handling, so when MSH-16
 * asks for an application acknowledgement in this outcome it sends that (AA/AE/AR); else when
 * MSH-15 asks for an accept acknowledgement it sends CA/CE/CR; else nothing.
 */
export function acknowledge(
  header: Hl7Segment | undefined,
  decision: AckDecision,
  options: AckOptions,
): string | undefined {
  const accept = header?.get('15')?.trim().toUpperCase() ?? '';
  const application = header?.get('16')?.trim().toUpperCase() ?? '';
  if (accept === '' && application === '') return buildAck(header, decision.code, decision, options);
  const ok = decision.code === 'AA';
  if (application !== '' && wants(application, ok)) return buildAck(header, decision.code, decision, options);
  if (wants(accept, ok)) {
    const code = ({ AA: 'CA', AE: 'CE', AR: 'CR' } as const)[decision.code];
    return buildAck(header, code, decision, options);
  }
  return undefined;
}

/**
 * An ACK message (segments ended by CR) for `header`, the original's MSH (as read, perhaps
 * partly), with MSA-1 `code`. Without a header, a minimal MSH with default delimiters,
 * MSH-3 `Ferry` and version 2.5.1, and an empty MSA-2.
 */
export function buildAck(
  header: Hl7Segment | undefined,
  code: AckCodeWritten,
  decision: AckDecision,
  options: AckOptions,
): string {
  const enc = header ? usableEncoding(header.encoding) : { ...defaultEncoding };
  const clean = (raw: string | undefined): string =>
    (raw ?? '').replaceAll(enc.field, `${enc.escape}F${enc.escape}`).replace(/[\r\n]/g, '');
  const leaf = (text: string): string => escapeValue(text, enc);
  const raw = (path: string): string => clean(header?.getRaw(path));
  const trigger = raw('9.2');
  const version = raw('12') || '2.5.1';
  const msh = [
    'MSH',
    encodingCharacters(enc),
    header ? raw('5') : 'Ferry',
    raw('6'),
    raw('3'),
    raw('4'),
    hl7Timestamp(options.now),
    '',
    trigger ? ['ACK', trigger, 'ACK'].join(enc.component) : 'ACK',
    leaf(options.controlId),
    raw('11') || 'P',
    version,
  ];
  const charset = raw('18');
  if (charset) msh.push('', '', '', '', '', charset);
  const issues = decision.issues ?? [];
  const text = decision.text ?? issues[0]?.text ?? '';
  const segments = [msh.join(enc.field), ['MSA', code, raw('10'), leaf(text.slice(0, 80))].join(enc.field)];
  const oldErr = /^2\.[1-4](\D|$)/.test(version.split(enc.component)[0] ?? '');
  for (const issue of issues) segments.push(errSegment(issue, enc, oldErr, leaf));
  return segments.map((s) => trimEmpty(s, enc.field)).join('\r') + '\r';
}

function trimEmpty(segment: string, field: string): string {
  let end = segment.length;
  while (end > 3 && segment.charAt(end - 1) === field) end--;
  return segment.slice(0, end);
}

function errSegment(issue: AckIssue, enc: Hl7Encoding, oldErr: boolean, leaf: (t: string) => string): string {
  const at = issue.location ?? {};
  const num = (n: number | undefined): string => (n === undefined ? '' : String(n));
  const codeText = errorCodes[issue.code];
  const erl = at.segment
    ? [
        at.segment,
        num(at.sequence),
        num(at.field),
        num(at.repetition),
        num(at.component),
        num(at.subcomponent),
      ]
        .join(enc.component)
        .replace(new RegExp(`\\${enc.component}+$`), '')
    : '';
  const cwe = [String(issue.code), leaf(codeText), 'HL70357'].join(enc.component);
  // before v2.5 the location and code share ERR-1 (ELD): segment^sequence^field^code&text&HL70357
  const eld = oldErr
    ? [
        at.segment ?? '',
        num(at.sequence),
        num(at.field),
        [String(issue.code), leaf(codeText), 'HL70357'].join(enc.subcomponent),
      ].join(enc.component)
    : '';
  const userText = issue.text ? leaf(`${describeLocation(at)}: ${issue.text}`.slice(0, 250)) : '';
  return ['ERR', eld, erl, cwe, issue.severity ?? 'E', '', '', '', userText].join(enc.field);
}
