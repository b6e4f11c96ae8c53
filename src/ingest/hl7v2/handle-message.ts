import type { AuditAppend, ResourceStore } from '../../store/store.js';
import { keepDeadLetter, type DeadLetter } from '../dead-letters.js';
import { rejectWith, type AckDecision, type AckIssue } from './ack.js';
import { describeLocation } from './hl7-error.js';
import { headerOf, type Hl7Handler, type InboundMessage } from './inbound.js';

/**
 * The AuditEvent of a message's answer (AA, AE or AR), built before the answer is written so it
 * commits with it: with the message's resources, or with its dead letter. An answer on record
 * is then exactly an answer given.
 */
export type MessageAudit = (input: InboundMessage, code: 'AA' | 'AE' | 'AR') => AuditAppend;

/** What the header says about a message, for the dead letter (no patient data). */
function describe(input: InboundMessage): Pick<DeadLetter, 'messageType' | 'controlId' | 'sender'> {
  const msh = headerOf(input);
  const out: Pick<DeadLetter, 'messageType' | 'controlId' | 'sender'> = {};
  const type = msh?.get('9');
  const control = msh?.get('10');
  const application = msh?.get('3.1');
  const facility = msh?.get('4.1');
  if (type) out.messageType = type;
  if (control) out.controlId = control;
  if (application || facility) out.sender = `${application ?? ''}^${facility ?? ''}`;
  return out;
}

/**
 * Keeps a message that cannot be stored as a dead letter — durably, before it is answered — and
 * returns the decision naming it: `code` (AE or AR) with the issue's ERR.
 */
export async function keepAndAnswer(
  store: ResourceStore,
  input: InboundMessage,
  code: 'AE' | 'AR',
  issue: AckIssue & { text: string },
  audit?: MessageAudit,
): Promise<AckDecision> {
  const letter = {
    source: 'hl7v2' as const,
    transport: input.transport,
    receivedAt: input.receivedAt.toISOString(),
    text: input.text,
    charset: input.charset,
    ...describe(input),
    reason: issue.text,
    ...(issue.location?.segment ? { location: describeLocation(issue.location) } : {}),
  };
  const id = await keepDeadLetter(store, letter, audit ? [audit(input, code)] : []);
  const text = `${issue.text}; kept as dead letter ${id}`;
  return { code, text, issues: [{ severity: 'E', ...issue, text }] };
}

/** An unreadable message: kept as a dead letter, answered AR with the parse error. */
export async function rejectUnreadable(
  store: ResourceStore,
  input: InboundMessage,
  audit?: MessageAudit,
): Promise<AckDecision> {
  if (input.parsed.ok) throw new Error('the message was read');
  const decision = rejectWith(input.parsed.error);
  const issue = decision.issues?.[0];
  return keepAndAnswer(
    store,
    input,
    'AR',
    { ...issue, code: issue?.code ?? 207, text: input.parsed.error.message },
    audit,
  );
}

/**
 * The handler for a gateway without mappings: every message is kept whole as a dead letter and
 * answered AR — 200 (unsupported message type) for a readable one, the parse error otherwise.
 */
export function deadLetterHandler(store: ResourceStore): Hl7Handler {
  return async (input): Promise<AckDecision> => {
    if (!input.parsed.ok) return rejectUnreadable(store, input);
    const { code, trigger } = input.parsed.message.type;
    const type = trigger ? `${code}^${trigger}` : code;
    return keepAndAnswer(store, input, 'AR', {
      code: 200,
      text: `no mapping to FHIR is configured for ${type}`,
      location: { segment: 'MSH', sequence: 1, field: 9 },
    });
  };
}
