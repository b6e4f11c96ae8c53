import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  StoreUnavailableError,
  type ChainedRecord,
  type ExportQuery,
  type HistoryPage,
  type HistoryQuery,
  type ResourceStore,
  type SearchPage,
  type StoreContents,
  type StoreSnapshot,
  type StoredVersion,
  type WriteSet,
} from '../store.js';
import type { SearchQuery } from '../../search/types.js';
import { auditIndexedUpgrade } from './audit-indexer.js';
import { IndexWriter } from './index-writer.js';
import { touchesType } from './touches-type.js';
import { runSearch } from './run-search.js';
import { SqliteSnapshot } from './snapshot.js';
import { toVersion, type VersionColumns } from './rows.js';
import { schemaSql, schemaVersion, upgrades, type SchemaProbe } from './schema.js';
import { translate } from './translate-error.js';
import { WriteConnection, type WriterStats } from './write-connection.js';

interface VersionRow extends VersionColumns {
  seq: number;
}

const encodeCursor = (seq: number): string => seq.toString(36);
const decodeCursor = (cursor: string): number => {
  const seq = parseInt(cursor, 36);
  if (!Number.isSafeInteger(seq) || seq < 0 || seq.toString(36) !== cursor)
    throw new RangeError('bad cursor');
  return seq;
};

/**
 * The embedded store: better-sqlite3 in WAL mode; a write is acknowledged only once its commit is
 * on disk. Concurrent writers share commits (write-connection.ts), and the log is synced off the
 * event loop, so requests go on being served while the disk flushes.
 */
export class SqliteStore implements ResourceStore {
  private readonly db: Database.Database;
  private readonly writer: WriteConnection;
  private readonly stmt;
  private readonly index: IndexWriter;
  private closed = false;

  constructor(private readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    // 256 MB of page cache: index and version pages of a large store stay in memory
    this.db.pragma('cache_size = -262144');
    this.db.pragma('foreign_keys = OFF');
    this.db.exec(schemaSql);
    const probe: SchemaProbe = {
      columns: (table) =>
        (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name),
      indexColumns: (index) =>
        (this.db.prepare(`PRAGMA index_info(${index})`).all() as { name: string }[]).map((c) => c.name),
    };
    for (const upgrade of upgrades) if (upgrade.needed(probe)) this.db.exec(upgrade.sql);
    this.db.exec(auditIndexedUpgrade);
    const found = this.db.prepare('SELECT value FROM store_meta WHERE key = ?').get('schemaVersion') as
      { value: string } | undefined;
    if (!found) {
      this.db
        .prepare('INSERT INTO store_meta (key, value) VALUES (?, ?)')
        .run('schemaVersion', String(schemaVersion));
    } else if (Number(found.value) > schemaVersion) {
      this.db.close();
      throw new Error(`${path} was written by a newer Ferry (schema ${found.value}); refusing to open it`);
    }
    const db = this.db;
    this.index = new IndexWriter(db);
    this.stmt = {
      readCurrent: db.prepare<[string, string], VersionRow>(
        `SELECT v.* FROM resource_current c JOIN resource_version v ON v.seq = c.seq
         WHERE c.type = ? AND c.id = ?`,
      ),
      readVersion: db.prepare<[string, string, number], VersionRow>(
        'SELECT * FROM resource_version WHERE type = ? AND id = ? AND version = ?',
      ),
      getRecord: db.prepare<[string, string], { value: string; expires_at: number | null }>(
        'SELECT value, expires_at FROM record WHERE namespace = ? AND key = ?',
      ),
      listRecords: db.prepare<[string, number], { key: string; value: string }>(
        'SELECT key, value FROM record WHERE namespace = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key',
      ),
    };
    this.writer = new WriteConnection(db, path, this.index);
  }

  /** Transactions committed, write sets they carried, log syncs and checkpoints on their thread. */
  get commitStats(): WriterStats {
    return this.writer.stats;
  }

  async write(set: WriteSet): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    try {
      await this.writer.write(set);
    } catch (error) {
      throw translate(error);
    }
  }

  async *auditChain(): AsyncIterable<ChainedRecord> {
    // one read transaction: the chain as it stood when the walk began
    const reader = this.path === ':memory:' ? this.db : new Database(this.path, { readonly: true });
    try {
      if (reader !== this.db) reader.exec('BEGIN');
      type ChainRow = Omit<VersionRow, 'type'> & {
        type: string | null;
        chain_seq: number;
        chain_id: string;
        chain_hash: string;
      };
      const rows = reader
        .prepare<[], ChainRow>(
          `SELECT c.seq AS chain_seq, c.id AS chain_id, c.hash AS chain_hash, v.* FROM audit_chain c
           LEFT JOIN resource_version v ON v.type = 'AuditEvent' AND v.id = c.id AND v.version = 1
           ORDER BY c.seq`,
        )
        .iterate();
      let batch: ChainedRecord[] = [];
      let linked = 0;
      for (const row of rows) {
        const record: ChainedRecord = { sequence: row.chain_seq, id: row.chain_id, hash: row.chain_hash };
        if (row.type !== null) {
          record.version = toVersion(row as VersionRow);
          linked++;
        }
        batch.push(record);
        if (batch.length === 256) {
          yield* batch;
          batch = [];
          await Promise.resolve(); // let other work run between batches
        }
      }
      yield* batch;
      yield* strayAuditVersions(reader, linked);
      if (reader !== this.db) reader.exec('COMMIT');
    } finally {
      if (reader !== this.db) reader.close();
    }
  }

  async readCurrent(type: string, id: string): Promise<StoredVersion | undefined> {
    if (type === 'AuditEvent') await this.auditIndexed();
    return this.sync(() => {
      const row = this.stmt.readCurrent.get(type, id);
      return row && toVersion(row);
    });
  }

  readVersion(type: string, id: string, versionId: number): Promise<StoredVersion | undefined> {
    return this.sync(() => {
      const row = this.stmt.readVersion.get(type, id, versionId);
      return row && toVersion(row);
    });
  }

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.sync(() => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.type !== undefined) {
        where.push('type = ?');
        params.push(query.type);
      }
      if (query.id !== undefined) {
        where.push('id = ?');
        params.push(query.id);
      }
      if (query.excludeTypes?.length) {
        where.push(`type NOT IN (${query.excludeTypes.map(() => '?').join(', ')})`);
        params.push(...query.excludeTypes);
      }
      if (query.since !== undefined) {
        where.push('last_updated_ms >= ?');
        params.push(Date.parse(query.since));
      }
      if (query.cursor !== undefined) {
        where.push('seq < ?');
        params.push(decodeCursor(query.cursor));
      }
      const sql =
        `SELECT * FROM resource_version ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
        'ORDER BY seq DESC LIMIT ?';
      const rows = this.db.prepare<(string | number)[], VersionRow>(sql).all(...params, query.count + 1);
      const page: HistoryPage = { versions: rows.slice(0, query.count).map(toVersion) };
      const last = rows[query.count - 1];
      if (rows.length > query.count && last) page.next = encodeCursor(last.seq);
      return page;
    });
  }

  async search(query: SearchQuery): Promise<SearchPage> {
    if (touchesType(query, 'AuditEvent')) await this.auditIndexed();
    return this.sync(() => runSearch(this.db, this.index, query));
  }

  async *streamCurrent(query: ExportQuery): AsyncIterable<StoredVersion> {
    if (!query.types || query.types.includes('AuditEvent')) await this.auditIndexed();
    if (this.path === ':memory:') {
      // An in-memory database cannot be opened twice; stream from the main connection in pages.
      yield* this.streamPaged(query);
      return;
    }
    // A dedicated read-only connection holds one read transaction: a consistent snapshot
    // while writers go on, and no interference with the main connection's statements.
    const reader = new Database(this.path, { readonly: true });
    try {
      const { sql, params } = this.exportSql(query);
      reader.exec('BEGIN');
      let batch: StoredVersion[] = [];
      for (const row of reader.prepare<unknown[], VersionRow>(sql).iterate(...params)) {
        batch.push(toVersion(row));
        if (batch.length === 256) {
          yield* batch;
          batch = [];
          await Promise.resolve(); // let other work run between batches
        }
      }
      yield* batch;
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
  }

  private async *streamPaged(query: ExportQuery): AsyncIterable<StoredVersion> {
    let after: [string, string] = ['', ''];
    for (;;) {
      const { sql, params } = this.exportSql(query, { after, limit: 256 });
      const rows = this.db.prepare<unknown[], VersionRow>(sql).all(...params);
      for (const row of rows) yield toVersion(row);
      const last = rows[rows.length - 1];
      if (!last || rows.length < 256) return;
      after = [last.type, last.id];
      await Promise.resolve();
    }
  }

  private exportSql(
    query: ExportQuery,
    page?: { after: [string, string]; limit: number },
  ): {
    sql: string;
    params: unknown[];
  } {
    const params: unknown[] = [];
    let where = 'c.deleted = 0';
    if (query.types?.length) {
      where += ` AND c.type IN (${query.types.map(() => '?').join(', ')})`;
      params.push(...query.types);
    }
    if (query.since !== undefined) {
      where += ' AND c.last_updated_ms >= ?';
      params.push(Date.parse(query.since));
    }
    if (page) {
      where += ' AND (c.type, c.id) > (?, ?)';
      params.push(...page.after);
    }
    const sql =
      'SELECT v.* FROM resource_current c JOIN resource_version v ON v.seq = c.seq ' +
      `WHERE ${where} ORDER BY c.type, c.id${page ? ` LIMIT ${page.limit}` : ''}`;
    return { sql, params };
  }

  getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    return this.sync(() => {
      const row = this.stmt.getRecord.get(namespace, key);
      if (!row || (row.expires_at !== null && row.expires_at <= Date.now())) return undefined;
      return JSON.parse(row.value) as T;
    });
  }

  listRecords<T>(namespace: string): Promise<{ key: string; value: T }[]> {
    return this.sync(() =>
      this.stmt.listRecords
        .all(namespace, Date.now())
        .map((r) => ({ key: r.key, value: JSON.parse(r.value) as T })),
    );
  }

  snapshot(): Promise<StoreSnapshot> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    try {
      return Promise.resolve(new SqliteSnapshot(this.path));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Brings the audit trail's search index up to its head (audit-indexer.ts): every AuditEvent
   * acknowledged before this call is found by the read that follows.
   */
  private async auditIndexed(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    try {
      await this.writer.indexAudit();
    } catch (error) {
      throw translate(error);
    }
  }

  contents(): Promise<StoreContents> {
    return this.sync(() => {
      const count = (sql: string): number => (this.db.prepare(sql).get() as { n: number }).n;
      const records: Record<string, number> = {};
      const namespaces = this.db
        .prepare<[number], { namespace: string; n: number }>(
          `SELECT namespace, COUNT(*) AS n FROM record WHERE expires_at IS NULL OR expires_at > ?
           GROUP BY namespace ORDER BY namespace`,
        )
        .all(Date.now());
      for (const row of namespaces) records[row.namespace] = row.n;
      return {
        versions: count('SELECT COUNT(*) AS n FROM resource_version'),
        auditLinks: count('SELECT COUNT(*) AS n FROM audit_chain'),
        records,
      };
    });
  }

  async erase(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    await this.writer.erase();
  }

  async bulkLoad<T>(load: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    await this.writer.startBulkLoad();
    try {
      return await load();
    } finally {
      // the load may have closed the store (the narrowing above does not see through await)
      if (this.isOpen()) await this.writer.endBulkLoad();
    }
  }

  ping(): Promise<void> {
    return this.sync(() => {
      this.db.prepare('SELECT 1').get();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // writers whose batch is committed are answered once the log is synced, before it closes
    await this.writer.close();
    this.db.close();
  }

  private isOpen(): boolean {
    return !this.closed;
  }

  /** Runs a synchronous driver call, translating its errors, as a promise (the port is async). */
  private sync<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    try {
      return Promise.resolve(fn());
    } catch (error) {
      const translated = translate(error);
      return Promise.reject(translated instanceof Error ? translated : new Error(String(translated)));
    }
  }
}

/**
 * AuditEvent versions no chain link names, given how many versions the links found. Counting
 * first keeps an intact trail to one index count; only a mismatch pays for naming the strays.
 */
function strayAuditVersions(db: Database.Database, linked: number): ChainedRecord[] {
  const versions = (
    db.prepare("SELECT COUNT(*) AS n FROM resource_version WHERE type = 'AuditEvent'").get() as { n: number }
  ).n;
  if (versions === linked) return [];
  return db
    .prepare<[], VersionRow>(
      `SELECT v.* FROM resource_version v
       WHERE v.type = 'AuditEvent' AND (v.version > 1 OR v.id NOT IN (SELECT id FROM audit_chain))
       ORDER BY v.seq LIMIT 100`,
    )
    .all()
    .map((row) => ({ sequence: 0, id: row.id, hash: '', version: toVersion(row), stray: true as const }));
}
