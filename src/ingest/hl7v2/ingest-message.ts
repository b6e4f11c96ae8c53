import { createHash } from 'node:crypto';
import { FhirError } from '../../errors.js';
import { processBundle } from '../../service/bundle.js';
import { failedEntry } from '../../service/transaction.js';
import type { ServiceContext } from '../../service/context.js';
import type { AckDecision, AckIssue } from './ack.js';
import { keepAndAnswer, rejectUnreadable, type MessageAudit } from './handle-message.js';
import { Hl7Error, type ErrorCode, type ErrorLocation } from './hl7-error.js';
import type { Hl7Handler, InboundMessage } from './inbound.js';
import type { Hl7Message } from './message.js';
import { applyMapping, UnsupportedMessageError, type MappedMessage } from './mapping/apply-mapping.js';
import type { Catalog } from './mapping/model.js';
import { addProvenance } from './mapping/provenance.js';
import { addMerge } from './merge-patients.js';

/**
 * HL7 v2 → FHIR through the one write path: a message is mapped to a transaction Bundle of
 * conditional writes (plus its Provenance and the raw message as a Binary) and handed to
 * processBundle, so it is validated, versioned and indexed like any REST transaction. AA only
 * after that transaction committed; AE (with ERR-2 pointing at the field) when mapping or
 * validation fails, AR for a type without a mapping; every refused message is a dead letter.
 */

/** What to do with a message that cannot be stored (default: keep it as a dead letter). */
export type RejectHandler = (
  input: InboundMessage,
  code: 'AE' | 'AR',
  issue: AckIssue & { text: string },
) => Promise<AckDecision>;

export interface Hl7IngestOptions {
  catalog: Catalog;
  /** Map every message with this message map, whatever its MSH-9 (`ferry ingest --mapping`). */
  mapName?: string;
  /** Replaces keeping a dead letter (a replay updates the one it replays instead). */
  onReject?: RejectHandler;
  /** IANA zone for date/times without an offset when MSH-7 has none (FERRY_HL7_TIMEZONE). */
  timezone: string;
  /** Each message's AuditEvent, committed with its answer (absent: not audited). */
  audit?: MessageAudit;
}

/** Keyed records of messages already stored, per sender and MSH-10 (CONTRACT: stored once). */
export const processedNamespace = 'hl7v2-processed';

interface ProcessedRecord {
  at: string;
  sha256: string;
  entries: number;
}

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Maps a parsed message to its transaction (Provenance included); throws Hl7Error. */
export function messageToBundle(
  catalog: Catalog,
  message: Hl7Message,
  options: { timezone: string; receivedAt: Date; mapName?: string },
): MappedMessage {
  const mapped = applyMapping(catalog, message, options);
  addProvenance(mapped, message, options.receivedAt, options.timezone);
  return mapped;
}

const issueCodes: Partial<Record<string, ErrorCode>> = {
  required: 101,
  'code-invalid': 103,
  value: 102,
  invalid: 102,
  structure: 102,
  invariant: 102,
};

/** A FHIR error of the transaction as an ERR: the entry's segment and, when known, the field. */
export function issueFromFhirError(error: FhirError, mapped: MappedMessage): AckIssue & { text: string } {
  const { issue: first, entry, element } = failedEntry(error);
  const source = entry === undefined ? undefined : mapped.sources[entry];
  let location: ErrorLocation = source?.location ?? {};
  for (const [name, at] of element && source ? source.elements : []) {
    if (element === name || element?.startsWith(name)) {
      location = at;
      break;
    }
  }
  let code: ErrorCode = issueCodes[first?.code ?? ''] ?? 207;
  if (error.status === 412) code = 205;
  if (error.status === 404) code = 204;
  const where =
    entry !== undefined
      ? ` (${source?.resourceType ?? 'resource'} from ${location.segment ?? 'the message'})`
      : '';
  const text = `${(first?.diagnostics ?? error.message).slice(0, 300)}${where}`;
  return { code, text, location };
}

/** Stores one parsed message's mapping; the decision to answer with. */
export async function ingestMessage(
  ctx: ServiceContext,
  input: InboundMessage,
  message: Hl7Message,
  options: Hl7IngestOptions,
): Promise<AckDecision> {
  const reject: RejectHandler =
    options.onReject ?? ((i, code, issue) => keepAndAnswer(ctx.store, i, code, issue, options.audit));
  const sender = `${message.get('MSH-3.1') ?? ''}^${message.get('MSH-4.1') ?? ''}`;
  const recordKey = `${sender}|${message.controlId}`;
  const sha256 = digest(message.text);
  const seen = await ctx.store.getRecord<ProcessedRecord>(processedNamespace, recordKey);
  if (seen?.sha256 === sha256) {
    if (options.audit) await ctx.store.write({ versions: [], audit: [options.audit(input, 'AA')] });
    return { code: 'AA', text: `already stored at ${seen.at}` };
  }
  if (seen) ctx.log.warn('hl7v2.control_id_reused', { controlId: message.controlId, sender });

  let mapped: MappedMessage;
  try {
    mapped = applyMapping(options.catalog, message, {
      timezone: options.timezone,
      ...(options.mapName ? { mapName: options.mapName } : {}),
    });
    // a merge reads the patient it retires from the store, so it is not part of the pure mapping
    await addMerge(ctx, options.catalog, message, mapped, options.timezone);
    addProvenance(mapped, message, input.receivedAt, options.timezone);
  } catch (error) {
    if (error instanceof UnsupportedMessageError)
      return reject(input, 'AR', {
        code: error.code,
        text: error.message,
        location: error.location,
      });
    if (error instanceof Hl7Error)
      return reject(input, 'AE', {
        code: error.code,
        text: error.message,
        location: error.location,
      });
    throw error;
  }
  // the message's record commits with what it made: stored and recorded together, or neither
  const processed: ProcessedRecord = {
    at: ctx.now().toISOString(),
    sha256,
    entries: mapped.bundle.entry?.length ?? 0,
  };
  try {
    await processBundle(ctx, mapped.bundle, {
      maxEntries: 100_000,
      prefer: 'minimal',
      commitWith: {
        records: [{ namespace: processedNamespace, key: recordKey, value: processed }],
        ...(options.audit ? { audit: [options.audit(input, 'AA')] } : {}),
      },
    });
  } catch (error) {
    if (error instanceof FhirError && error.status < 500 && error.status !== 409)
      return reject(input, 'AE', issueFromFhirError(error, mapped));
    throw error; // store outage or lasting conflicts: AR 207, the sender sends it again
  }
  return { code: 'AA' };
}

/** The gateway's HL7 v2 handler: maps, stores, acknowledges; keeps what it cannot store. */
export function mappingHandler(ctx: ServiceContext, options: Hl7IngestOptions): Hl7Handler {
  return async (input): Promise<AckDecision> => {
    if (!input.parsed.ok) return rejectUnreadable(ctx.store, input, options.audit);
    return ingestMessage(ctx, input, input.parsed.message, options);
  };
}
