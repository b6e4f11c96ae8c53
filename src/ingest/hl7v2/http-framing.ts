import { splitMessages } from './batch.js';
import { decodeHl7 } from './charset.js';
import { Hl7Error } from './hl7-error.js';
import type { InboundMessage } from './inbound.js';
import { readHeader, tryParseMessage } from './parse.js';

/**
 * HL7 v2 over HTTP (HL7 "HTTP Hosting" profile, simplified): a POST body holds one or more ER7
 * messages, one after another or as a batch (FHS/BHS…BTS/FTS). The Content-Type charset, when
 * given, wins over MSH-18; otherwise the first message's MSH-18 decides for the whole body.
 * No Express here: bytes and a Content-Type in, messages out.
 */

/** The media types accepted for a body of ER7 messages. */
export const hl7MediaTypes = ['application/hl7-v2', 'x-application/hl7-v2+er7', 'text/plain'] as const;

export type HttpMessages =
  | {
      ok: true;
      /** The body's messages, in order, ready for the handler. */
      messages: InboundMessage[];
      /** Batch envelope problems (e.g. BTS-1 does not match); the messages are still answered. */
      problems: Hl7Error[];
      /** The media type to answer with. */
      mediaType: string;
    }
  | { ok: false; status: 400 | 415; text: string };

function parseContentType(header: string | undefined): { type: string; charset?: string } {
  const [type = '', ...params] = (header ?? '').split(';');
  const out: { type: string; charset?: string } = { type: type.trim().toLowerCase() };
  for (const param of params) {
    const [name, value] = param.split('=');
    if (name?.trim().toLowerCase() === 'charset' && value) out.charset = value.trim().replace(/^"|"$/g, '');
  }
  return out;
}

/** Reads the messages of an HTTP body. */
export function readHttpMessages(
  body: Buffer,
  contentType: string | undefined,
  receivedAt = new Date(),
): HttpMessages {
  const { type, charset } = parseContentType(contentType);
  if (!(hl7MediaTypes as readonly string[]).includes(type)) {
    return { ok: false, status: 415, text: `Content-Type must be one of ${hl7MediaTypes.join(', ')}` };
  }
  if (body.length === 0) return { ok: false, status: 400, text: 'The request has no body' };
  let text: string;
  let used: string;
  let failure: Hl7Error | undefined;
  try {
    ({ text, charset: used } = decodeHl7(body, charset));
  } catch (error) {
    if (charset !== undefined)
      return { ok: false, status: 415, text: `charset '${charset}' is not supported` };
    text = body.toString('latin1');
    used = 'latin1';
    failure = error instanceof Hl7Error ? error : new Hl7Error(207, 'the body could not be decoded');
  }
  const split = splitMessages(text);
  const texts = split.messages.length > 0 ? split.messages : [text];
  const messages = texts.map((message): InboundMessage => ({
    transport: 'http',
    text: message,
    charset: used,
    receivedAt,
    parsed: failure ? { ok: false, error: failure, header: readHeader(message) } : tryParseMessage(message),
  }));
  return { ok: true, messages, problems: split.problems, mediaType: type };
}
