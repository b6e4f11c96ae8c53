import type { ServiceContext } from '../../service/context.js';
import { readDeadLetter, updateDeadLetter, type DeadLetter } from '../dead-letters.js';
import { describeLocation } from './hl7-error.js';
import { splitMessages } from './batch.js';
import { readInbound, type InboundMessage } from './inbound.js';
import { ingestMessage, type Hl7IngestOptions } from './ingest-message.js';
import { rejectUnreadable } from './handle-message.js';
import { tryParseMessage } from './parse.js';
import type { AckDecision } from './ack.js';
import type { AuditAgent } from '../../audit/audit-event.js';

/**
 * HL7 v2 from files and from the dead-letter store, through the same ingest as MLLP and HTTP:
 * `ferry ingest FILE --mapping NAME` (one message after another, or an FHS/BHS batch) and
 * `ferry deadletters replay ID` (a kept message again, through the current mappings).
 */

export interface IngestSummary {
  messages: number;
  /** AA: stored (or already stored). */
  stored: number;
  /** AE: understood but refused; kept as dead letters. */
  rejected: number;
  /** AR: unreadable or without a mapping; kept as dead letters. */
  refused: number;
  /** Batch envelope problems (BTS-1/FTS-1 counts that do not match…). */
  problems: string[];
  /** The first few refusals: control id and why. */
  failures: string[];
}

const tally = (summary: IngestSummary, decision: AckDecision, controlId: string): void => {
  if (decision.code === 'AA') summary.stored++;
  else {
    if (decision.code === 'AE') summary.rejected++;
    else summary.refused++;
    if (summary.failures.length < 10)
      summary.failures.push(`${controlId || '(no MSH-10)'}: ${decision.code} ${decision.text ?? ''}`);
  }
};

/** Ingests every message of a file's text, in order; calls `progress` after each. */
export async function ingestHl7Text(
  ctx: ServiceContext,
  text: string,
  options: Hl7IngestOptions,
  progress?: (done: number, total: number) => void,
): Promise<IngestSummary> {
  const { messages, problems } = splitMessages(text);
  const summary: IngestSummary = {
    messages: messages.length,
    stored: 0,
    rejected: 0,
    refused: 0,
    problems: problems.map((p) => `${describeLocation(p.location)}: ${p.message}`),
    failures: [],
  };
  for (const [n, message] of messages.entries()) {
    const input = readInbound(Buffer.from(message, 'utf8'), 'file');
    const decision = input.parsed.ok
      ? await ingestMessage(ctx, input, input.parsed.message, options)
      : await rejectUnreadable(ctx.store, input, options.audit);
    tally(summary, decision, input.parsed.ok ? input.parsed.message.controlId : '');
    progress?.(n + 1, messages.length);
  }
  return summary;
}

export interface ReplayResult {
  id: string;
  decision: AckDecision;
}

/**
 * Runs a dead letter through the current mappings. Stored: the dead letter is removed. Refused
 * again: it stays, with the new reason. The write is idempotent, so a replay of a message that
 * was stored meanwhile stores nothing twice.
 */
export async function replayDeadLetter(
  ctx: ServiceContext,
  id: string,
  options: Hl7IngestOptions,
  sender?: AuditAgent,
): Promise<ReplayResult | undefined> {
  const letter = await readDeadLetter(ctx.store, id);
  if (!letter) return undefined;
  const input: InboundMessage = {
    transport: letter.transport,
    text: letter.text,
    charset: letter.charset,
    parsed: tryParseMessage(letter.text),
    receivedAt: new Date(letter.receivedAt),
    ...(sender ? { sender } : {}),
  };
  const keepWithReason = async (reason: string, location?: string): Promise<void> => {
    const updated: DeadLetter = { ...letter, reason };
    if (location) updated.location = location;
    else delete updated.location;
    await updateDeadLetter(ctx.store, id, updated);
  };
  if (!input.parsed.ok) {
    await keepWithReason(input.parsed.error.message, describeLocation(input.parsed.error.location));
    return { id, decision: { code: 'AR', text: input.parsed.error.message } };
  }
  const decision = await ingestMessage(ctx, input, input.parsed.message, {
    ...options,
    onReject: async (_input, code, issue) => {
      await keepWithReason(
        issue.text,
        issue.location?.segment ? describeLocation(issue.location) : undefined,
      );
      return { code, text: issue.text, issues: [{ severity: 'E', ...issue }] };
    },
  });
  if (decision.code === 'AA') await updateDeadLetter(ctx.store, id, null);
  return { id, decision };
}
