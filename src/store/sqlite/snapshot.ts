import Database from 'better-sqlite3';
import type { AuditLink, SnapshotVersion, StoreSnapshot, StoredRecord } from '../store.js';
import { toVersion, type VersionColumns } from './rows.js';

/**
 * Rows handed over per turn of the event loop (a few milliseconds of work), so a backup inside
 * the gateway never holds up its requests for long.
 */
const rowsPerTurn = 256;

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A snapshot of an embedded store: its own read-only connection holding one read transaction.
 * In WAL mode a reader sees the database as of its transaction's first read and never blocks
 * the writers (nor they it), so the gateway keeps serving while a backup reads.
 */
export class SqliteSnapshot implements StoreSnapshot {
  private readonly db: Database.Database;
  private closed = false;

  constructor(path: string) {
    if (path === ':memory:') throw new Error('an in-memory store has no snapshot: it cannot be opened twice');
    this.db = new Database(path, { readonly: true });
    this.db.exec('BEGIN');
    // the first read fixes the snapshot; later reads in this transaction see the same instant
    this.db.prepare('SELECT COUNT(*) FROM store_meta').get();
  }

  async *versions(): AsyncIterable<SnapshotVersion> {
    const rows = this.db
      .prepare<[], VersionColumns & { current: number }>(
        // an AuditEvent's one version is current even before the audit indexer gives it its row
        `SELECT v.type, v.id, v.version, v.last_updated, v.deleted, v.body,
           COALESCE(c.seq = v.seq, v.type = 'AuditEvent') AS current
         FROM resource_version v LEFT JOIN resource_current c ON c.type = v.type AND c.id = v.id
         ORDER BY v.seq`,
      )
      .iterate();
    yield* this.paced(rows, (row) => ({ ...toVersion(row), current: row.current === 1 }));
  }

  async *auditLinks(): AsyncIterable<AuditLink> {
    const rows = this.db
      .prepare<[], AuditLink>('SELECT seq AS sequence, id, hash FROM audit_chain ORDER BY seq')
      .iterate();
    yield* this.paced(rows, (row) => row);
  }

  async *records(): AsyncIterable<StoredRecord> {
    const rows = this.db
      .prepare<[number], { namespace: string; key: string; value: string; expires_at: number | null }>(
        `SELECT namespace, key, value, expires_at FROM record
         WHERE expires_at IS NULL OR expires_at > ? ORDER BY namespace, key`,
      )
      .iterate(Date.now());
    yield* this.paced(rows, (row) => {
      const record: StoredRecord = { namespace: row.namespace, key: row.key, json: row.value };
      if (row.expires_at !== null) record.expiresAt = row.expires_at;
      return record;
    });
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close(); // ends the read transaction; nothing was written
    }
    return Promise.resolve();
  }

  private async *paced<R, T>(rows: IterableIterator<R>, map: (row: R) => T): AsyncIterable<T> {
    let batch: T[] = [];
    for (const row of rows) {
      batch.push(map(row));
      if (batch.length === rowsPerTurn) {
        yield* batch;
        batch = [];
        await yieldTurn();
      }
    }
    yield* batch;
  }
}
