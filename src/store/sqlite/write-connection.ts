import type Database from 'better-sqlite3';
import type { AuditEvent } from 'fhir/r4.js';
import { genesisHash, recordHash, withLink } from '../../fhir/audit-chain.js';
import {
  RecordExistsError,
  StoreConflictError,
  StoreUnavailableError,
  type AuditAppend,
  type AuditLink,
  type RecordWrite,
  type VersionWrite,
  type WriteSet,
} from '../store.js';
import { AuditIndexer } from './audit-indexer.js';
import { backstopPages, Checkpointer } from './checkpointer.js';
import { GroupCommit } from './group-commit.js';
import type { IndexWriter } from './index-writer.js';
import { LogSync } from './log-sync.js';
import { deferredIndexes, schemaSql } from './schema.js';
import { translate } from './translate-error.js';

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
  'idx_facet_set',
  'idx_facet',
  'record',
  'audit_chain',
];

/** Records indexed per transaction of the audit indexer. */
const auditBatch = 500;

/** How long fewer audit records than a batch may wait for their index, in milliseconds. */
const auditDelayMs = 100;

/**
 * Transactions committed, write sets they carried, log syncs, checkpoints on their thread, and
 * the audit indexer's transactions.
 */
export interface WriterStats {
  commits: number;
  items: number;
  syncs: number;
  checkpoints: number;
  auditIndexRuns: number;
}

/**
 * The write side of an embedded store's connection: every write set goes through its group
 * commit, which checks each set's preconditions and applies it inside a shared transaction, and
 * (for a file) syncs the log off the event loop before answering (log-sync.ts), with checkpoints
 * on a thread of their own (checkpointer.ts). AuditEvents are indexed behind their commits
 * (audit-indexer.ts).
 */
export class WriteConnection {
  private readonly writer: GroupCommit<WriteSet>;
  private readonly stmt;
  private readonly audit: AuditIndexer;
  /** Indexes the next batch of audit records in a transaction of its own; returns how many. */
  private readonly auditRun: () => number;
  private readonly erased: () => void;
  private readonly log: LogSync | undefined;
  private readonly checkpointer: Checkpointer | undefined;
  /** Inside a bulk load: commits are not synced one by one (the load syncs everything at its end). */
  private loading = false;
  private expiringWrites = 0;
  /**
   * The chain's head as the open write transaction leaves it, once read in it (undefined: not
   * read yet). Only the transaction's own appends move it: it holds the write lock.
   */
  private head: { seq: number; hash: string } | null | undefined;
  /**
   * The AuditEvents the open transaction appends, by sequence (handed to the indexer when it
   * commits, so it need not parse them again), and where the open savepoint began among them.
   */
  private appended: [number, AuditEvent][] = [];
  private appendedAtSavepoint = 0;
  /** Audit records committed and not yet indexed (as far as this connection knows). */
  private unindexed = 0;
  /** The index run scheduled: soon (a batch is waiting) or later (a few records are). */
  private auditSoon: NodeJS.Immediate | undefined;
  private auditLater: NodeJS.Timeout | undefined;
  private auditRuns = 0;
  private closed = false;

  /** `index` is the connection's, shared with its searches (its parameter ids). */
  constructor(
    private readonly db: Database.Database,
    path: string,
    private readonly index: IndexWriter,
  ) {
    const file = path !== ':memory:';
    // WAL + NORMAL: a commit appends to the log without syncing it; the group commit then syncs
    // the log (LogSync) before any write of the batch is acknowledged — what FULL would do inside
    // COMMIT, but on the thread pool, so this thread goes on taking write sets while the disk
    // flushes. Checkpoints still sync the log before copying it into the database, and the
    // database after.
    db.pragma('synchronous = NORMAL');
    this.log = file ? new LogSync(path) : undefined;
    if (file) {
      // checkpoints run on a thread of their own; this connection only checkpoints when the log
      // has grown past the backstop, or when that thread has failed
      db.pragma(`wal_autocheckpoint = ${backstopPages}`);
      this.checkpointer = new Checkpointer(path, () => db.pragma('wal_autocheckpoint = 1000'));
    }
    this.stmt = {
      current: db.prepare<[string, string], { version: number; deleted: number }>(
        'SELECT version, deleted FROM resource_current WHERE type = ? AND id = ?',
      ),
      currentRid: db.prepare<
        [string, string],
        { rid: number; version: number; deleted: number; seq: number }
      >('SELECT rid, version, deleted, seq FROM resource_current WHERE type = ? AND id = ?'),
      // a page is written only where the patient changed (most reindexes change none)
      keepPatient: db.prepare<[string, number, string]>(
        'UPDATE resource_version SET patient = ? WHERE seq = ? AND patient IS NOT ?',
      ),
      insertVersion: db.prepare(
        `INSERT INTO resource_version (type, id, version, last_updated, last_updated_ms, deleted, body, patient)
         VALUES (@type, @id, @version, @lastUpdated, @lastUpdatedMs, @deleted, @body, @patient)`,
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
    this.audit = new AuditIndexer(db, this.index);
    const auditRun = db.transaction(() => this.audit.indexNext(auditBatch));
    this.auditRun = () => {
      try {
        return auditRun.immediate();
      } catch (error) {
        this.index.resetCache(); // parameter ids created in the rolled-back transaction are gone
        throw error;
      } finally {
        this.auditRuns++;
        this.checkpointer?.committed();
      }
    };
    this.erased = db.transaction(() => {
      for (const table of erasedTables) db.exec(`DELETE FROM ${table}`);
      // a contentless full-text table is emptied with its own command
      db.exec("INSERT INTO fts_resource (fts_resource) VALUES ('delete-all')");
      this.audit.reset();
    });
    this.writer = new GroupCommit<WriteSet>({
      begin: () => {
        db.exec('BEGIN IMMEDIATE');
        this.head = undefined;
        this.appended = [];
      },
      savepoint: () => {
        db.exec('SAVEPOINT write_set');
        this.appendedAtSavepoint = this.appended.length;
      },
      release: () => db.exec('RELEASE write_set'),
      rollbackToSavepoint: () => {
        db.exec('ROLLBACK TO write_set');
        this.index.resetCache(); // parameter ids created in the rolled-back set are gone
        this.head = undefined; // and so are its links
        this.appended.length = this.appendedAtSavepoint;
      },
      commit: () => {
        db.exec('COMMIT');
        this.checkpointer?.committed();
        this.audit.committed(this.appended);
        this.unindexed += this.appended.length;
        this.appended = [];
        this.scheduleAuditIndex();
      },
      rollback: () => {
        if (db.inTransaction) db.exec('ROLLBACK');
        this.index.resetCache();
        this.head = undefined;
        this.appended = [];
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

  /** Counters for benchmarks and tests. */
  get stats(): WriterStats {
    return {
      ...this.writer.stats,
      checkpoints: this.checkpointer?.stats.checkpoints ?? 0,
      auditIndexRuns: this.auditRuns,
    };
  }

  /** Writes a set atomically; resolves once it is durable. */
  write(set: WriteSet): Promise<void> {
    return this.writer.submit(set).catch((error: unknown) => {
      throw translate(error);
    });
  }

  /** Removes everything but the schema, once the writes queued before it have landed. */
  async erase(): Promise<void> {
    this.writer.flush(); // queued writes land first, then go with the rest
    try {
      this.erased();
      this.unindexed = 0;
      this.audit.forget();
    } catch (error) {
      throw translate(error);
    } finally {
      this.index.resetCache(); // search_param rows are gone, and their pids with them
    }
    await this.syncLog();
  }

  /** Indexes every audit record appended so far, for a read that may meet one. */
  indexAudit(): Promise<void> {
    // every write set queued before the request is applied first: the caller has seen them acknowledged
    this.writer.flush();
    try {
      while (this.auditRun() === auditBatch);
      this.unindexed = 0;
      return Promise.resolve();
    } catch (error) {
      const translated = translate(error);
      return Promise.reject(translated instanceof Error ? translated : new Error(String(translated)));
    }
  }

  /**
   * The index of the records just committed: at once when a batch is waiting, else a moment
   * later, so a quiet trail is searchable soon and a busy one is indexed in full batches.
   */
  private scheduleAuditIndex(): void {
    if (this.unindexed === 0 || this.closed || this.auditSoon) return;
    if (this.unindexed < auditBatch) {
      this.auditLater ??= setTimeout(() => this.runAuditIndex(), auditDelayMs).unref();
      return;
    }
    clearTimeout(this.auditLater);
    this.auditLater = undefined;
    this.auditSoon = setImmediate(() => this.runAuditIndex());
  }

  private runAuditIndex(): void {
    clearTimeout(this.auditLater);
    this.auditLater = undefined;
    this.auditSoon = undefined;
    if (this.closed) return;
    try {
      const indexed = this.auditRun();
      this.unindexed = indexed < auditBatch ? 0 : Math.max(0, this.unindexed - indexed);
    } catch {
      // the store is busy or failing: the next commit, or the next read of the trail, tries again
      return;
    }
    this.scheduleAuditIndex();
  }

  /** No index run is left scheduled. */
  private cancelAuditIndex(): void {
    clearTimeout(this.auditLater);
    clearImmediate(this.auditSoon);
    this.auditLater = undefined;
    this.auditSoon = undefined;
  }

  /** Starts a bulk load: commits unsynced, the value indexes dropped (see ResourceStore.bulkLoad). */
  async startBulkLoad(): Promise<void> {
    this.writer.flush();
    await this.writer.settled();
    // commits are acknowledged unsynced; checkpoints still sync, so a crash loses the latest
    // commits at worst, never the database (sqlite.org/pragma.html#pragma_synchronous)
    this.loading = true;
    for (const index of deferredIndexes) this.db.exec(`DROP INDEX IF EXISTS ${index}`);
  }

  /** Ends it: the value indexes built, everything written made durable. */
  async endBulkLoad(): Promise<void> {
    this.loading = false;
    this.writer.flush();
    this.db.exec(schemaSql); // builds the deferred indexes
    // syncs the log, then copies it into the database and syncs that: all of it is durable
    this.db.pragma('wal_checkpoint(FULL)');
    await this.syncLog(); // and whatever a reader kept the checkpoint from copying
  }

  /** Lands what is queued and answers its writers once durable; the caller closes the database. */
  async close(): Promise<void> {
    this.writer.flush();
    // writers whose batch is committed are answered once the log is synced, before it closes
    await this.writer.settled();
    // nothing is left for the next open to index, and nothing runs after the close
    this.closed = true;
    this.cancelAuditIndex();
    await this.indexAudit().catch(() => undefined);
    await this.checkpointer?.close();
    await this.log?.close();
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
      this.audit.restored(l.sequence);
    }
    for (const x of set.reindex ?? []) {
      const row = this.stmt.currentRid.get(x.type, x.id);
      if (!row || row.version !== x.versionId || row.deleted !== 0) continue;
      this.index.replace(row.rid, x.type, x.index);
      if (x.patient !== undefined) {
        const patient = x.patient ?? '';
        this.stmt.keepPatient.run(patient, row.seq, patient);
      }
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
      patient: v.patient === undefined ? null : (v.patient ?? ''),
    };
    const { lastInsertRowid } = this.stmt.insertVersion.run(params);
    const row = this.stmt.upsertCurrent.get({ ...params, seq: lastInsertRowid });
    if (!row) throw new Error(`resource_current row for ${v.type}/${v.id} was not written`);
    // a first version has no old index rows to clear
    this.index.replace(row.rid, v.type, v.deleted ? undefined : v.index, v.expectedVersionId !== null);
  }

  /**
   * Links an AuditEvent to the head of the chain and stores its version, inside the write
   * transaction; its current row and index rows follow (audit-indexer.ts).
   */
  private appendAudit(a: AuditAppend): void {
    const head = this.head === undefined ? (this.stmt.chainHead.get() ?? null) : this.head;
    const sequence = (head?.seq ?? 0) + 1;
    const json = JSON.stringify(withLink(a.resource, { sequence, previous: head?.hash ?? genesisHash }));
    this.stmt.insertVersion.run({
      type: 'AuditEvent',
      id: a.id,
      version: 1,
      lastUpdated: a.lastUpdated,
      lastUpdatedMs: Date.parse(a.lastUpdated),
      deleted: 0,
      body: json,
      patient: null, // an AuditEvent's patient is in its entity (found from the JSON when read)
    });
    const hash = recordHash(json);
    this.stmt.appendChain.run(sequence, a.id, hash);
    this.head = { seq: sequence, hash };
    this.appended.push([sequence, a.resource]);
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
}
