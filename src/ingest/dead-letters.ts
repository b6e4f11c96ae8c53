import { randomBytes } from 'node:crypto';
import type { AuditAppend, RecordWrite, ResourceStore } from '../store/store.js';

/**
 * Dead letters: inbound HL7 v2 messages and CSV rows that could not be stored, kept whole with
 * why and where, so nothing a sender delivered is lost and each can be replayed once the cause
 * (a mapping, a code map) is fixed. Kept as store records, durable before the sender is answered.
 */

const namespace = 'dead-letter';

export interface DeadLetter {
  /** Sortable by arrival: the receive instant, then random characters. */
  id: string;
  source: 'hl7v2' | 'csv';
  transport: 'mllp' | 'http' | 'file';
  receivedAt: string;
  /** The message as received, decoded (`charset` says how). */
  text: string;
  charset: string;
  /** MSH-9, MSH-10 and MSH-3^MSH-4 when they could be read. */
  messageType?: string;
  controlId?: string;
  sender?: string;
  /** Why it was not stored, and where in the message (e.g. `MSH-9`) or row (`row 12, column dob`). */
  reason: string;
  location?: string;
  /** A CSV row: its mapping, file (name and SHA-256) and row number; `text` is the header and the row. */
  csv?: { mapping: string; file: string; sha256: string; row: number; column?: string };
}

/** A dead letter as a record to write, on its own or in the commit of what else arrived with it. */
export function deadLetterRecord(letter: Omit<DeadLetter, 'id'>): RecordWrite & { value: DeadLetter } {
  const id = `${letter.receivedAt.replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  return { namespace, key: id, value: { ...letter, id } };
}

/** Keeps a dead letter durably (with the AuditEvents of its answer, in the same commit); its id. */
export async function keepDeadLetter(
  store: ResourceStore,
  letter: Omit<DeadLetter, 'id'>,
  audit: AuditAppend[] = [],
): Promise<string> {
  const record = deadLetterRecord(letter);
  await store.write({ versions: [], records: [record], ...(audit.length > 0 ? { audit } : {}) });
  return record.key;
}

/** Every dead letter, oldest first. */
export async function listDeadLetters(store: ResourceStore): Promise<DeadLetter[]> {
  return (await store.listRecords<DeadLetter>(namespace)).map((r) => r.value);
}

/** One dead letter by id. */
export function readDeadLetter(store: ResourceStore, id: string): Promise<DeadLetter | undefined> {
  return store.getRecord<DeadLetter>(namespace, id);
}

/**
 * Replaces a dead letter (e.g. with the reason of its latest replay), or removes it (`null`);
 * with the AuditEvents of that change in the same commit.
 */
export async function updateDeadLetter(
  store: ResourceStore,
  id: string,
  letter: DeadLetter | null,
  audit: AuditAppend[] = [],
): Promise<void> {
  await store.write({
    versions: [],
    records: [{ namespace, key: id, value: letter }],
    ...(audit.length > 0 ? { audit } : {}),
  });
}
