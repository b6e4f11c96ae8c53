import type Database from 'better-sqlite3';
import type { AuditEvent } from 'fhir/r4.js';
import { auditTrailIndexEntries } from '../../search/audit-index.js';
import type { IndexEntry } from '../../search/types.js';
import type { IndexWriter } from './index-writer.js';

/**
 * The search index of the audit trail, written behind it. An access appends its AuditEvent as a
 * version and a chain link — rows that land at the end of their tables, a few pages per commit —
 * and is answered once that is durable. Its resource_current row and index rows are written
 * here, for hundreds of records per transaction, so the pages they touch are written once for all
 * of them rather than once per access: its references to resources and its date (two to four rows),
 * and its token, string and identifier-only reference entries as a facet set that other events
 * share (index-writer.ts). The
 * `auditIndexed` mark in store_meta, moved in the same transactions, says how far the chain is
 * indexed; whatever lies beyond it (after a crash, or written by another process) is indexed
 * from the stored JSON. The store brings the index up to the head before any read or search
 * that may meet an AuditEvent, so no acknowledged event is ever missing from an answer.
 */

/** store_meta key: every audit record with a sequence up to this one is indexed. */
export const auditIndexedKey = 'auditIndexed';

/** For stores made before the mark: everything they hold was indexed as it was written. */
export const auditIndexedUpgrade = `INSERT OR IGNORE INTO store_meta (key, value)
  SELECT '${auditIndexedKey}', CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM audit_chain;`;

interface PendingRow {
  chain_seq: number;
  seq: number | null;
  id: string;
  last_updated_ms: number | null;
}

/** The entries of a stored AuditEvent; none when its JSON is not an AuditEvent (a tampered record). */
function entriesOf(body: string | null): IndexEntry[] {
  if (body === null) return [];
  try {
    const event = JSON.parse(body) as Partial<AuditEvent>;
    if (event.resourceType !== 'AuditEvent' || !Array.isArray(event.agent)) return [];
    return auditTrailIndexEntries(event as AuditEvent);
  } catch {
    return [];
  }
}

export class AuditIndexer {
  private readonly stmt;
  /** The AuditEvents this connection appended and committed, by sequence, until indexed. */
  private readonly appended = new Map<number, AuditEvent>();

  constructor(
    db: Database.Database,
    private readonly index: IndexWriter,
  ) {
    this.stmt = {
      mark: db.prepare<[], { value: string }>(
        `SELECT value FROM store_meta WHERE key = '${auditIndexedKey}'`,
      ),
      setMark: db.prepare<[string]>(
        `INSERT INTO store_meta (key, value) VALUES ('${auditIndexedKey}', ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      ),
      pending: db.prepare<[number, number], PendingRow>(
        `SELECT c.seq AS chain_seq, v.seq, c.id, v.last_updated_ms FROM audit_chain c
         LEFT JOIN resource_version v ON v.type = 'AuditEvent' AND v.id = c.id AND v.version = 1
         WHERE c.seq > ? ORDER BY c.seq LIMIT ?`,
      ),
      // the JSON only of a record this connection did not append (most are indexed from memory)
      body: db.prepare<[number], { body: string | null }>('SELECT body FROM resource_version WHERE seq = ?'),
      current: db.prepare<[string, number, number], { rid: number }>(
        `INSERT INTO resource_current (type, id, version, seq, deleted, last_updated_ms)
         VALUES ('AuditEvent', ?, 1, ?, 0, ?)
         ON CONFLICT (type, id) DO NOTHING
         RETURNING rid`,
      ),
    };
  }

  /** AuditEvents just committed by this connection: indexed from these rather than their JSON. */
  committed(events: [number, AuditEvent][]): void {
    for (const [sequence, event] of events) this.appended.set(sequence, event);
  }

  /** Everything was erased: what this connection appended is gone too. */
  forget(): void {
    this.appended.clear();
  }

  /** The sequence up to which the chain is indexed. */
  mark(): number {
    return Number(this.stmt.mark.get()?.value ?? 0);
  }

  /**
   * Indexes up to `limit` records past the mark and moves it after them, inside the caller's
   * write transaction. Returns how many it went past: fewer than `limit` means none is left.
   */
  indexNext(limit: number): number {
    const rows = this.stmt.pending.all(this.mark(), limit);
    for (const row of rows) {
      const known = this.appended.get(row.chain_seq);
      this.appended.delete(row.chain_seq);
      // a record whose version is gone (tampering) has nothing to index; verify names it
      if (row.seq === null) continue;
      const current = this.stmt.current.get(row.id, row.seq, row.last_updated_ms ?? 0);
      if (!current) continue;
      const entries =
        known?.id === row.id
          ? auditTrailIndexEntries(known)
          : entriesOf(this.stmt.body.get(row.seq)?.body ?? null);
      this.index.replace(current.rid, 'AuditEvent', entries, false);
    }
    const last = rows[rows.length - 1];
    if (last) this.stmt.setMark.run(String(last.chain_seq));
    if (rows.length < limit) this.appended.clear(); // all indexed, whoever did it
    return rows.length;
  }

  /**
   * A link restored with its AuditEvent, which the restore wrote as an indexed version: when
   * nothing waits before it, the mark moves past it.
   */
  restored(sequence: number): void {
    if (this.mark() === sequence - 1) this.stmt.setMark.run(String(sequence));
  }

  /** After everything was erased: nothing is indexed, and nothing waits. */
  reset(): void {
    this.stmt.setMark.run('0');
  }
}
