import type { MessageAudit } from './handle-message.js';
import type { InboundMessage } from './inbound.js';
import { agentOf, auditAppend, type AccessFacts, type Auditor } from '../../audit/access-audit.js';
import type { AuditAgent } from '../../audit/audit-event.js';

/** The HTTP-like status of an acknowledgement code, for AuditEvent.outcome. */
function statusOf(code: string): number {
  if (code === 'AA' || code === 'CA') return 200;
  if (code === 'AE' || code === 'CE') return 422;
  return 400;
}

/** What one HL7 v2 message and its answer were: the header fields only, no patient data. */
export function hl7MessageFacts(input: InboundMessage, code: string): AccessFacts {
  const about = input.parsed.ok
    ? (() => {
        const { code: event, trigger } = input.parsed.message.type;
        const control = input.parsed.message.get('MSH-10') ?? '';
        return `${trigger ? `${event}^${trigger}` : event} ${control.slice(0, 60)}`;
      })()
    : 'unreadable message';
  return {
    interaction: 'operation',
    status: statusOf(code),
    outcomeText: `HL7 v2 ingest over ${input.transport}: ${about} answered ${code}`.slice(0, 200),
  };
}

/**
 * Every HL7 v2 message, over MLLP, HTTP or from a file, leaves one AuditEvent (what arrived, from
 * where, how it was answered), committed with what the answer writes — the message's resources
 * or its dead letter — so it is durable before the ACK goes out, at no extra commit. `agent`
 * names who sent it (default: the network address it came from).
 */
export function hl7MessageAudit(
  auditor: Auditor,
  agent: (input: InboundMessage) => AuditAgent = (input) =>
    input.sender ?? agentOf(undefined, input.remoteAddress),
): MessageAudit {
  return (input, code) => auditAppend(auditor, agent(input), hl7MessageFacts(input, code));
}
