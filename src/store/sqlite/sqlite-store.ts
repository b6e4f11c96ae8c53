import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { FhirError } from '../../errors.js';
import { genesisHash, recordHash, withLink } from '../../fhir/audit-chain.js';
import {
  RecordExistsError,
  StoreConflictError,
  StoreUnavailableError,
  type AuditAppend,
  type AuditLink,
  type ChainedRecord,
  type ExportQuery,
  type HistoryPage,
  type HistoryQuery,
  type RecordWrite,
  type ResourceStore,
  type SearchPage,
  type StoreContents,
  type StoreSnapshot,
  type StoredVersion,
  type VersionWrite,
  type WriteSet,
} from '../store.js';
import type { SearchQuery } from '../../search/types.js';
import { backstopPages, Checkpointer } from './checkpointer.js';
import { GroupCommit } from './group-commit.js';
import { IndexWriter } from './index-writer.js';
import { LogSync } from './log-sync.js';
import { runSearch } from './run-search.js';
import { SqliteSnapshot } from './snapshot.js';
import { toVersion, type VersionColumns } from './rows.js';
import { deferredIndexes, schemaSql, schemaVersion, upgrades, type SchemaProbe } from './schema.js';

/** Every table erase() empties (store_meta, the schema's own bookkeeping, stays). */
const erasedTables = [
  'resource_version',
  'resource_current',
  'search_param',
  'idx_token',
  'idx_string',
  'idx_date',
  'idx_number',
  'idx_quantity',
  'idx_reference',
  'idx_uri',
  'record',
  'audit_chain',
];

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

/** Translates a driver error into the port's vocabulary at the store's edge. */
function translate(error: unknown): unknown {
  if (error instanceof StoreConflictError || error instanceof RecordExistsError || error instanceof FhirError)
    return error;
  const code = (error as { code?: string }).code ?? '';
  if (
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_LOCKED' ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_FULL'
  ) {
    return new StoreUnavailableError(`embedded store unavailable (${code})`, { cause: error });
  }
  return error;
}

/**
 * The embedded store: better-sqlite3 in WAL mode; a write is acknowledged only once its commit is
 * on disk. Concurrent writers share commits through GroupCommit, and the log is synced by
 * LogSync off the event loop, so requests go on being served while the disk flushes.
 */
export class SqliteStore implements ResourceStore {
  private readonly db: Database.Database;
  private readonly writer: GroupCommit<WriteSet>;
  private readonly stmt;
  private readonly index: IndexWriter;
  private readonly erased: () => void;
  private readonly log: LogSync | undefined;
  private readonly checkpointer: Checkpointer | undefined;
  private closed = false;
  private expiringWrites = 0;
  /** Inside bulkLoad: commits are not synced one by one (the load syncs everything at its end). */
  private loading = false;
  /**
   * The chain's head as the open write transaction leaves it, once read in it (undefined: not
   * read yet). Only the transaction's own appends move it: it holds the write lock.
   */
  private head: { seq: number; hash: string } | null | undefined;

  constructor(private readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit appends to the log without syncing it; the group commit then syncs
    // the log (LogSync) before any write of the batch is acknowledged — what FULL would do inside
    // COMMIT, but on the thread pool, so the event loop is not blocked for the fsync. Checkpoints
    // still sync the log before copying it into the database, and the database after.
    this.db.pragma('synchronous = NORMAL');
    this.log = path === ':memory:' ? undefined : new LogSync(path);
    if (path !== ':memory:') {
      // checkpoints run on a thread of their own (checkpointer.ts); this connection only checkpoints
      // when the log has grown past the backstop, or when that thread has failed
      this.db.pragma(`wal_autocheckpoint = ${backstopPages}`);
      this.checkpointer = new Checkpointer(path, () => this.db.pragma('wal_autocheckpoint = 1000'));
    }
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
    const found = this.db.prepare('SELECT value FROM store_meta WHERE key = ?').get('schemaVersion') as
      { value: string } | undefined;
    if (!found) {
      this.db
        .prepare('INSERT INTO store_meta (key, value) VALUES (?, ?)')
        .run('schemaVersion', String(schemaVersion));
    } else if (Number(found.value) > schemaVersion) {
      throw new Error(`${path} was written by a newer Ferry (schema ${found.value}); refusing to open it`);
    }
    const db = this.db;
    this.index = new IndexWriter(db);
    this.stmt = {
      current: db.prepare<[string, string], { version: number; deleted: number }>(
        'SELECT version, deleted FROM resource_current WHERE type = ? AND id = ?',
      ),
      currentRid: db.prepare<[string, string], { rid: number; version: number; deleted: number }>(
        'SELECT rid, version, deleted FROM resource_current WHERE type = ? AND id = ?',
      ),
      readCurrent: db.prepare<[string, string], VersionRow>(
        `SELECT v.* FROM resource_current c JOIN resource_version v ON v.seq = c.seq
         WHERE c.type = ? AND c.id = ?`,
      ),
      readVersion: db.prepare<[string, string, number], VersionRow>(
        'SELECT * FROM resource_version WHERE type = ? AND id = ? AND version = ?',
      ),
      insertVersion: db.prepare(
        `INSERT INTO resource_version (type, id, version, last_updated, last_updated_ms, deleted, body)
         VALUES (@type, @id, @version, @lastUpdated, @lastUpdatedMs, @deleted, @body)`,
      ),
      upsertCurrent: db.prepare<Record<string, unknown>, { rid: number }>(
        `INSERT INTO resource_current (type, id, version, seq, deleted, last_updated_ms)
         VALUES (@type, @id, @version, @seq, @deleted, @lastUpdatedMs)
         ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, seq = excluded.seq,
           deleted = excluded.deleted, last_updated_ms = excluded.last_updated_ms
         RETURNING rid`,
      ),
      getRecord: db.prepare<[string, string], { value: string; expires_at: number | null }>(
        'SELECT value, expires_at FROM record WHERE namespace = ? AND key = ?',
      ),
      listRecords: db.prepare<[string, number], { key: string; value: string }>(
        'SELECT key, value FROM record WHERE namespace = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key',
      ),
      putRecord: db.prepare(
        `INSERT INTO record (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      ),
      deleteRecord: db.prepare('DELETE FROM record WHERE namespace = ? AND key = ?'),
      purgeExpired: db.prepare('DELETE FROM record WHERE namespace = ? AND expires_at <= ?'),
      chainHead: db.prepare<[], { seq: number; hash: string }>(
        'SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1',
      ),
      appendChain: db.prepare('INSERT INTO audit_chain (seq, id, hash) VALUES (?, ?, ?)'),
    };
    this.erased = db.transaction(() => {
      for (const table of erasedTables) db.exec(`DELETE FROM ${table}`);
      // a contentless full-text table is emptied with its own command
      db.exec("INSERT INTO fts_resource (fts_resource) VALUES ('delete-all')");
    });
    this.writer = new GroupCommit<WriteSet>({
      begin: () => {
        db.exec('BEGIN IMMEDIATE');
        this.head = undefined;
      },
      savepoint: () => db.exec('SAVEPOINT write_set'),
      release: () => db.exec('RELEASE write_set'),
      rollbackToSavepoint: () => {
        db.exec('ROLLBACK TO write_set');
        this.index.resetCache(); // parameter ids created in the rolled-back set are gone
        this.head = undefined; // and so are its links
      },
      commit: () => {
        db.exec('COMMIT');
        this.checkpointer?.committed();
      },
      rollback: () => {
        if (db.inTransaction) db.exec('ROLLBACK');
        this.index.resetCache();
        this.head = undefined;
      },
      check: (set) => {
        this.checkWriteSet(set);
      },
      apply: (set) => {
        this.applyWriteSet(set);
      },
      ...(this.log ? { sync: () => this.syncLog(), relaxed: () => this.loading } : {}),
    });
  }

  /** Transactions committed, write sets they carried, log syncs and checkpoints on their thread. */
  get commitStats(): { commits: number; items: number; syncs: number; checkpoints: number } {
    return { ...this.writer.stats, checkpoints: this.checkpointer?.stats.checkpoints ?? 0 };
  }

  /** Every commit so far, on disk; a failed sync is the store's failure (503), not the caller's. */
  private async syncLog(): Promise<void> {
    try {
      await this.log?.sync();
    } catch (error) {
      throw new StoreUnavailableError('embedded store unavailable (the log could not be synced)', {
        cause: error,
      });
    }
  }

  write(set: WriteSet): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return this.writer.submit(set).catch((error: unknown) => {
      throw translate(error);
    });
  }

  /**
   * Every precondition of a set — expected versions, if-absent and compare-and-set records — read
   * inside the transaction, before the set writes anything; later versions of the same resource
   * in the set expect what the earlier ones leave.
   */
  private checkWriteSet(set: WriteSet): void {
    const leaves = new Map<string, number>();
    for (const v of set.versions) {
      const key = `${v.type}/${v.id}`;
      const actual = leaves.has(key)
        ? (leaves.get(key) ?? null)
        : (this.stmt.current.get(v.type, v.id)?.version ?? null);
      if (actual !== v.expectedVersionId)
        throw new StoreConflictError(v.type, v.id, v.expectedVersionId, actual);
      leaves.set(key, v.versionId);
    }
    if (set.auditLinks?.length) this.checkAuditLinks(set.auditLinks);
    for (const r of set.records ?? []) {
      if (!r.ifAbsent && r.expectValue === undefined) continue;
      const found = this.stmt.getRecord.get(r.namespace, r.key);
      const live = found && (found.expires_at === null || found.expires_at > Date.now()) ? found : undefined;
      if (r.ifAbsent && live) throw new RecordExistsError(r.namespace, r.key);
      if (r.expectValue !== undefined && live?.value !== JSON.stringify(r.expectValue)) {
        throw new RecordExistsError(r.namespace, r.key);
      }
    }
  }

  private applyWriteSet(set: WriteSet): void {
    for (const v of set.versions) this.applyVersion(v);
    for (const r of set.records ?? []) this.applyRecord(r);
    for (const a of set.audit ?? []) this.appendAudit(a);
    for (const l of set.auditLinks ?? []) {
      this.stmt.appendChain.run(l.sequence, l.id, l.hash);
      this.head = { seq: l.sequence, hash: l.hash };
    }
    for (const x of set.reindex ?? []) {
      const row = this.stmt.currentRid.get(x.type, x.id);
      if (row && row.version === x.versionId && row.deleted === 0)
        this.index.replace(row.rid, x.type, x.index);
    }
  }

  private applyVersion(v: VersionWrite): void {
    const params = {
      type: v.type,
      id: v.id,
      version: v.versionId,
      lastUpdated: v.lastUpdated,
      lastUpdatedMs: Date.parse(v.lastUpdated),
      deleted: v.deleted ? 1 : 0,
      body: v.json ?? null,
    };
    const { lastInsertRowid } = this.stmt.insertVersion.run(params);
    const row = this.stmt.upsertCurrent.get({ ...params, seq: lastInsertRowid });
    if (!row) throw new Error(`resource_current row for ${v.type}/${v.id} was not written`);
    // a first version has no old index rows to clear
    this.index.replace(row.rid, v.type, v.deleted ? undefined : v.index, v.expectedVersionId !== null);
  }

  /** Links an AuditEvent to the head of the chain and stores it, inside the write transaction. */
  private appendAudit(a: AuditAppend): void {
    const head = this.head === undefined ? (this.stmt.chainHead.get() ?? null) : this.head;
    const sequence = (head?.seq ?? 0) + 1;
    const json = JSON.stringify(withLink(a.resource, { sequence, previous: head?.hash ?? genesisHash }));
    this.applyVersion({
      type: 'AuditEvent',
      id: a.id,
      versionId: 1,
      lastUpdated: a.lastUpdated,
      deleted: false,
      json,
      expectedVersionId: null,
      index: a.index,
    });
    const hash = recordHash(json);
    this.stmt.appendChain.run(sequence, a.id, hash);
    this.head = { seq: sequence, hash };
  }

  /** Restored links must continue the chain where it stands: no gap, no fork. */
  private checkAuditLinks(links: AuditLink[]): void {
    let expected = (this.stmt.chainHead.get()?.seq ?? 0) + 1;
    for (const link of links) {
      if (link.sequence !== expected) {
        throw new Error(`audit link ${link.sequence} does not follow the chain (expected ${expected})`);
      }
      expected++;
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
      for (const row of rows) {
        const record: ChainedRecord = { sequence: row.chain_seq, id: row.chain_id, hash: row.chain_hash };
        if (row.type !== null) record.version = toVersion(row as VersionRow);
        batch.push(record);
        if (batch.length === 256) {
          yield* batch;
          batch = [];
          await Promise.resolve(); // let other work run between batches
        }
      }
      yield* batch;
      if (reader !== this.db) reader.exec('COMMIT');
    } finally {
      if (reader !== this.db) reader.close();
    }
  }

  countAuditEvents(): Promise<number> {
    return this.sync(
      () =>
        (
          this.db.prepare("SELECT COUNT(*) AS n FROM resource_version WHERE type = 'AuditEvent'").get() as {
            n: number;
          }
        ).n,
    );
  }

  private applyRecord(r: RecordWrite): void {
    if (r.value === null) {
      this.stmt.deleteRecord.run(r.namespace, r.key);
      return;
    }
    this.stmt.putRecord.run(r.namespace, r.key, JSON.stringify(r.value), r.expiresAt ?? null);
    if (r.expiresAt !== undefined && ++this.expiringWrites % 500 === 0) {
      // records that expire (replay markers, leases) are dropped now and then, a namespace at a time
      this.stmt.purgeExpired.run(r.namespace, Date.now());
    }
  }

  readCurrent(type: string, id: string): Promise<StoredVersion | undefined> {
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

  search(query: SearchQuery): Promise<SearchPage> {
    return this.sync(() => runSearch(this.db, this.index, query));
  }

  async *streamCurrent(query: ExportQuery): AsyncIterable<StoredVersion> {
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
    this.writer.flush(); // queued writes land first, then go with the rest
    await this.sync(() => {
      this.erased();
      this.index.resetCache(); // search_param rows are gone, and their pids with them
    });
    await this.syncLog();
  }

  async bulkLoad<T>(load: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    this.writer.flush();
    await this.writer.settled();
    // commits are acknowledged unsynced; checkpoints still sync, so a crash loses the latest
    // commits at worst, never the database (sqlite.org/pragma.html#pragma_synchronous)
    this.loading = true;
    for (const index of deferredIndexes) this.db.exec(`DROP INDEX IF EXISTS ${index}`);
    try {
      return await load();
    } finally {
      this.loading = false;
      // the load may have closed the store (the narrowing above does not see through await)
      if (this.isOpen()) {
        this.writer.flush();
        this.db.exec(schemaSql); // builds the deferred indexes
        // syncs the log, then copies it into the database and syncs that: all of it is durable
        this.db.pragma('wal_checkpoint(FULL)');
        await this.syncLog(); // and whatever a reader kept the checkpoint from copying
      }
    }
  }

  ping(): Promise<void> {
    return this.sync(() => {
      this.db.prepare('SELECT 1').get();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writer.flush();
    this.closed = true;
    // writers whose batch is committed are answered once the log is synced, before it closes
    await this.writer.settled();
    await this.checkpointer?.close();
    await this.log?.close();
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
