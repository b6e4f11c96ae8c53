import { randomBytes } from 'node:crypto';
import type { ResourceStore } from '../store/store.js';

/**
 * Dead letters: inbound messages (and later CSV rows) that could not be stored, kept whole with
 * why and where, so nothing a sender delivered is lost and each can be replayed once the cause
 * (a mapping, a code map) is fixed. Kept as store records, durable before the sender is answered.
 */

const namespace = 'dead-letter';

export interface DeadLetter {
  /** Sortable by arrival: the receive instant, then random characters. */
  id: string;
  source: 'hl7v2';
  transport: 'mllp' | 'http' | 'file';
  receivedAt: string;
  /** The message as received, decoded (`charset` says how). */
  text: string;
  charset: string;
  /** MSH-9, MSH-10 and MSH-3^MSH-4 when they could be read. */
  messageType?: string;
  controlId?: string;
  sender?: string;
  /** Why it was not stored, and where in the message (e.g. `MSH-9`). */
  reason: string;
  location?: string;
}

/** Keeps a dead letter durably and answers its id. */
export async function keepDeadLetter(store: ResourceStore, letter: Omit<DeadLetter, 'id'>): Promise<string> {
  const id = `${letter.receivedAt.replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  await store.write({ versions: [], records: [{ namespace, key: id, value: { ...letter, id } }] });
  return id;
}

/** Every dead letter, oldest first. */
export async function listDeadLetters(store: ResourceStore): Promise<DeadLetter[]> {
  return (await store.listRecords<DeadLetter>(namespace)).map((r) => r.value);
}

/** One dead letter by id. */
export function readDeadLetter(store: ResourceStore, id: string): Promise<DeadLetter | undefined> {
  return store.getRecord<DeadLetter>(namespace, id);
}

/** Replaces a dead letter (e.g. with the reason of its latest replay), or removes it (`null`). */
export async function updateDeadLetter(
  store: ResourceStore,
  id: string,
  letter: DeadLetter | null,
): Promise<void> {
  await store.write({ versions: [], records: [{ namespace, key: id, value: letter }] });
}
