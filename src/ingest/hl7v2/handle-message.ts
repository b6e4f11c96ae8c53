import type { ResourceStore } from '../../store/store.js';
import { keepDeadLetter, type DeadLetter } from '../dead-letters.js';
import { rejectWith, type AckDecision } from './ack.js';
import { headerOf, type Hl7Handler, type InboundMessage } from './inbound.js';

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
 * The HL7 v2 handler of the gateway. No message type has a mapping to FHIR yet, so every
 * message is kept whole as a dead letter — durably, before it is answered — and answered AR:
 * 200 (unsupported message type) for a readable one, the parse error for an unreadable one.
 * Nothing is lost: once a mapping exists, the dead letters can be replayed through it.
 */
export function deadLetterHandler(store: ResourceStore): Hl7Handler {
  return async (input): Promise<AckDecision> => {
    const letter = {
      source: 'hl7v2' as const,
      transport: input.transport,
      receivedAt: input.receivedAt.toISOString(),
      text: input.text,
      charset: input.charset,
      ...describe(input),
    };
    if (!input.parsed.ok) {
      const error = input.parsed.error;
      const id = await keepDeadLetter(store, { ...letter, reason: error.message });
      const decision = rejectWith(error);
      decision.text = `${error.message}; kept as dead letter ${id}`;
      return decision;
    }
    const { code, trigger } = input.parsed.message.type;
    const type = trigger ? `${code}^${trigger}` : code;
    const reason = `no mapping to FHIR is configured for ${type}`;
    const id = await keepDeadLetter(store, { ...letter, reason, location: 'MSH-9' });
    return {
      code: 'AR',
      text: `${reason}; kept as dead letter ${id}`,
      issues: [
        {
          code: 200,
          text: `${reason}; kept as dead letter ${id}`,
          location: { segment: 'MSH', sequence: 1, field: 9 },
          severity: 'E',
        },
      ],
    };
  };
}
