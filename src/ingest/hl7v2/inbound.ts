import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import { acknowledge, type AckDecision } from './ack.js';
import { decodeHl7 } from './charset.js';
import { Hl7Error } from './hl7-error.js';
import type { Hl7Segment } from './message.js';
import { readHeader, tryParseMessage, type ParseResult } from './parse.js';
import type { AuditAgent } from '../../audit/audit-event.js';

/**
 * What the protocol layer hands to whatever handles HL7 v2 messages, whichever door they came
 * through, and what it expects back. The layer decodes, parses and acknowledges; the handler
 * decides (and is the only one that may say AA: only once what the message made is kept).
 */
export interface InboundMessage {
  transport: 'mllp' | 'http' | 'file';
  /** The message as decoded text (the bytes as received, decoded by the charset rule). */
  text: string;
  /** The charset the text was decoded with (`utf-8`, `latin1`, …). */
  charset: string;
  /**
   * The parsed message, or why it could not be parsed with the header as far as it could be
   * read. Handlers are called for unreadable messages too (to keep them as dead letters);
   * `rejectWith(parsed.error)` is the usual answer.
   */
  parsed: ParseResult;
  receivedAt: Date;
  /** The peer's address, for logs. */
  remoteAddress?: string;
  /** Who sent it, when the transport authenticated the sender (an HTTP client's token), for the audit trail. */
  sender?: AuditAgent;
}

/**
 * Handles one message: resolves to a decision (Ferry builds the ACK from it) or to a complete
 * ACK message text sent as is. A rejection or throw becomes AR with 207.
 */
export type Hl7Handler = (input: InboundMessage) => Promise<AckDecision | string>;

/** A fresh MSH-10 for an ACK: 20 hex characters (ST(20), the v2.5 length). */
export function newControlId(): string {
  return randomBytes(10).toString('hex');
}

/** Decodes and parses one message's bytes; never throws. */
export function readInbound(
  bytes: Buffer,
  transport: InboundMessage['transport'],
  context: { transportCharset?: string; remoteAddress?: string; receivedAt?: Date } = {},
): InboundMessage {
  const receivedAt = context.receivedAt ?? new Date();
  const base = {
    transport,
    receivedAt,
    ...(context.remoteAddress ? { remoteAddress: context.remoteAddress } : {}),
  };
  try {
    const { text, charset } = decodeHl7(bytes, context.transportCharset);
    return { ...base, text, charset, parsed: tryParseMessage(text) };
  } catch (error) {
    const text = bytes.toString('latin1');
    const failure = error instanceof Hl7Error ? error : new Hl7Error(207, 'the message could not be decoded');
    return {
      ...base,
      text,
      charset: 'latin1',
      parsed: { ok: false, error: failure, header: readHeader(text) },
    };
  }
}

/** The original's MSH as far as it is known. */
export function headerOf(input: InboundMessage): Hl7Segment | undefined {
  return input.parsed.ok ? input.parsed.message.msh : input.parsed.header;
}

/**
 * Runs the handler on one message and returns the response text, or `undefined` when the
 * sender asked for no acknowledgement (enhanced mode). Logs control ids, sizes and codes only.
 */
export async function answer(
  input: InboundMessage,
  handler: Hl7Handler,
  log: Logger,
): Promise<string | undefined> {
  const header = headerOf(input);
  const controlId = header?.get('10') ?? '';
  let decision: AckDecision | string;
  try {
    decision = await handler(input);
  } catch (error) {
    log.error('hl7v2.handler_failed', {
      controlId,
      error: error instanceof Error ? error.message.slice(0, 200) : 'unknown',
    });
    decision = {
      code: 'AR',
      issues: [{ code: 207, text: 'the message could not be handled; send it again later' }],
    };
  }
  if (typeof decision === 'string') return decision;
  log[decision.code === 'AA' ? 'debug' : 'info']('hl7v2.acknowledged', {
    transport: input.transport,
    controlId,
    characters: input.text.length,
    ack: decision.code,
    error: decision.issues?.[0]?.code,
  });
  return acknowledge(header, decision, { controlId: newControlId(), now: new Date() });
}
