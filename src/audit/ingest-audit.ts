import type { AckDecision } from '../ingest/hl7v2/ack.js';
import type { Hl7Handler, InboundMessage } from '../ingest/hl7v2/inbound.js';
import type { AuditAgent } from './audit-event.js';
import { agentOf, recordAccess, type Auditor } from './access-audit.js';

/** The HTTP-like status of an acknowledgement code, for AuditEvent.outcome. */
function statusOf(code: string): number {
  if (code === 'AA' || code === 'CA') return 200;
  if (code === 'AE' || code === 'CE') return 422;
  return 400;
}

/**
 * Wraps the HL7 v2 handler so that every message, over MLLP, HTTP or from a file, leaves one
 * AuditEvent (what arrived, from where, how it was answered) that is durable before the ACK goes
 * out. The header fields recorded carry no patient data.
 */
export function auditedHl7Handler(handler: Hl7Handler, auditor: Auditor): Hl7Handler {
  return async (input) => {
    const decision = await handler(input);
    await recordHl7Message(auditor, agentOf(undefined, input.remoteAddress), input, decision);
    return decision;
  };
}

/** The AuditEvent of one HL7 v2 message and its answer, durable once this resolves. */
export async function recordHl7Message(
  auditor: Auditor,
  agent: AuditAgent,
  input: InboundMessage,
  decision: AckDecision | string,
): Promise<void> {
  const code =
    typeof decision === 'string' ? (/\rMSA\|([A-Z]{2})/.exec(decision)?.[1] ?? 'AA') : decision.code;
  const about = input.parsed.ok
    ? (() => {
        const { code: event, trigger } = input.parsed.message.type;
        const control = input.parsed.message.get('MSH-10') ?? '';
        return `${trigger ? `${event}^${trigger}` : event} ${control.slice(0, 60)}`;
      })()
    : 'unreadable message';
  await recordAccess(auditor, agent, {
    interaction: 'operation',
    status: statusOf(code),
    outcomeText: `HL7 v2 ingest over ${input.transport}: ${about} answered ${code}`.slice(0, 200),
  });
}
