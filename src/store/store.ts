import type { AuditEvent } from 'fhir/r4.js';
import type { IndexEntry, SearchQuery } from '../search/types.js';

/**
 * The store port: the coarse operations Ferry needs from a database. The embedded SQLite store
 * and the MongoDB store each implement it natively; neither the service layer nor the API knows
 * which one it talks to. Every operation is asynchronous so a networked store fits the same shape.
 */

/** One stored version of a resource. `json` is the resource as served, meta included. */
export interface StoredVersion {
  type: string;
  id: string;
  versionId: number;
  /** R4 instant, e.g. 2026-11-28T15:46:58.123Z */
  lastUpdated: string;
  /** A delete is a tombstone version with no body. */
  deleted: boolean;
  /** The serialised resource (absent for a tombstone). */
  json?: string;
  /**
   * The patient whose data this version is (`Patient/id`), as found when it was written from its
   * index entries; `null` when it names none. Absent when the store did not keep it (a version
   * written before stores kept it, an earlier version restored from a backup): then it is found
   * from `json`.
   */
  patient?: string | null;
}

/** A new version to write. `expectedVersionId` is checked inside the store's transaction. */
export interface VersionWrite extends StoredVersion {
  /** The current version the writer saw: `null` when it saw none (create, create-on-update). */
  expectedVersionId: number | null;
  /** The search index entries of this version (none for a tombstone); they replace the old ones. */
  index?: IndexEntry[];
}

/** A small keyed record (signing keys, clients, jobs, replay markers). */
export interface RecordWrite {
  namespace: string;
  key: string;
  /** `null` deletes the record. */
  value: unknown;
  /** When true, the write fails with RecordExistsError if the key exists (and has not expired). */
  ifAbsent?: boolean;
  /**
   * Compare-and-set: the write happens only if the record currently holds exactly this value
   * (and has not expired); otherwise it fails with RecordExistsError. For leases and claims.
   */
  expectValue?: unknown;
  /** Epoch milliseconds after which the record no longer exists. */
  expiresAt?: number;
}

/**
 * What one atomic write holds: resource versions (and, later, their index entries and audit
 * records) and keyed records. Either all of it is durably stored, or none of it is.
 */
export interface WriteSet {
  versions: VersionWrite[];
  records?: RecordWrite[];
  /** New search index entries for current versions (a reindex); see IndexRewrite. */
  reindex?: IndexRewrite[];
  /** AuditEvents appended to the hash-chained audit trail, in this order; see AuditAppend. */
  audit?: AuditAppend[];
  /**
   * Links of an audit trail being restored, stored verbatim (their AuditEvents, with their links,
   * are written as ordinary versions). The first must follow the chain's head (sequence = head +
   * 1) and the rest follow each other; otherwise the set is refused.
   */
  auditLinks?: AuditLink[];
}

/**
 * An AuditEvent for the audit trail. The store links it into the chain inside the transaction
 * that writes it (sequence = head + 1, previous = the head's hash: fhir/audit-chain.ts), so
 * concurrent writers never fork the chain, then stores it as version 1 of AuditEvent/id. It
 * indexes the event for search itself, and may do so after the commit that makes it durable,
 * many at a time — but a read or search of AuditEvents always finds every event whose write
 * has been acknowledged.
 */
export interface AuditAppend {
  id: string;
  lastUpdated: string;
  /** The AuditEvent with its meta (versionId 1, lastUpdated) and without a chain link. */
  resource: AuditEvent;
}

/**
 * One record of the audit trail in chain order: its sequence, stored hash and stored version.
 * AuditEvent versions that no link names (inserted beside the chain, or an edit stored as a new
 * version) follow the chain as records with `stray: true`, sequence 0 and an empty hash.
 */
export interface ChainedRecord {
  sequence: number;
  id: string;
  /** The hash the store recorded when it appended the record. */
  hash: string;
  /** The stored AuditEvent (undefined when its version is gone). */
  version?: StoredVersion;
  stray?: true;
}

/** One link of the audit chain as the store keeps it. */
export interface AuditLink {
  sequence: number;
  /** The AuditEvent's id (its version 1 is the record). */
  id: string;
  /** SHA-256 of the AuditEvent's stored JSON, hex. */
  hash: string;
}

/** A version as a snapshot holds it: with whether it is its resource's current version. */
export interface SnapshotVersion extends StoredVersion {
  current: boolean;
}

/** A keyed record as stored: its value as the stored JSON text. */
export interface StoredRecord {
  namespace: string;
  key: string;
  json: string;
  /** Epoch milliseconds after which the record no longer exists. */
  expiresAt?: number;
}

/**
 * Everything a store holds as of one instant (the moment the snapshot was taken), for backups:
 * writers go on meanwhile and none of their writes shows. Read the parts one after the other,
 * each at most once, and close it when done.
 */
export interface StoreSnapshot {
  /** Every version of every resource — tombstones and AuditEvents included — in write order. */
  versions(): AsyncIterable<SnapshotVersion>;
  /** The audit chain's links in chain order. */
  auditLinks(): AsyncIterable<AuditLink>;
  /** Every live keyed record of every namespace, by namespace and key. */
  records(): AsyncIterable<StoredRecord>;
  close(): Promise<void>;
}

/** What a store holds, counted (to tell an empty store from one in use). */
export interface StoreContents {
  versions: number;
  auditLinks: number;
  /** Live keyed records per namespace. */
  records: Record<string, number>;
}

/**
 * The index entries of a current version, recomputed after the extraction changed. Applied only
 * while `versionId` is still the resource's current version (a writer that got there first has
 * already indexed its own version); skipped otherwise.
 */
export interface IndexRewrite {
  type: string;
  id: string;
  versionId: number;
  index: IndexEntry[];
  /** The patient these entries name, kept with the version in place of its old one (as VersionWrite.patient). */
  patient?: string | null;
}

export interface HistoryQuery {
  type?: string;
  id?: string;
  /** Only versions with lastUpdated ≥ this instant (R4 http.html#history `_since`). */
  since?: string;
  /** Opaque paging cursor returned as `next` by the previous page. */
  cursor?: string;
  count: number;
  /** Types left out of a system-level history (Ferry leaves out its audit trail). */
  excludeTypes?: string[];
}

export interface HistoryPage {
  /** Newest first (R4 http.html#history: "sorted with oldest versions last"). */
  versions: StoredVersion[];
  /** Cursor of the next (older) page, when there is one. */
  next?: string;
}

export interface ExportQuery {
  types?: string[];
  /** Only resources whose current version has lastUpdated ≥ this instant. */
  since?: string;
}

/** One page of search results. */
export interface SearchPage {
  /** The matches, in the query's order. */
  matches: StoredVersion[];
  /** Resources added by _include / _revinclude (not counted, not paged). */
  included: StoredVersion[];
  /** Cursor of the next page, when there is one. */
  next?: string;
  /** Cursor of the page before this one, when this page was reached through a cursor. */
  previous?: string;
  /** Number of matches in all pages, when the query asked for a total. */
  total?: number;
}

export interface ResourceStore {
  /** Writes a set of versions and records atomically and durably. Rejects with StoreConflictError. */
  write(set: WriteSet): Promise<void>;
  /** The current version (a tombstone when deleted), or undefined when the resource never existed. */
  readCurrent(type: string, id: string): Promise<StoredVersion | undefined>;
  readVersion(type: string, id: string, versionId: number): Promise<StoredVersion | undefined>;
  history(query: HistoryQuery): Promise<HistoryPage>;
  /** Runs a parsed search against the index (R4 search.html); never scans resource bodies. */
  search(query: SearchQuery): Promise<SearchPage>;
  /**
   * Every current, non-deleted resource, as one consistent snapshot taken when the stream
   * starts; memory stays flat however many there are.
   */
  streamCurrent(query: ExportQuery): AsyncIterable<StoredVersion>;
  getRecord<T>(namespace: string, key: string): Promise<T | undefined>;
  /**
   * The audit trail in chain order, then any AuditEvent version outside it (see ChainedRecord),
   * from one consistent snapshot, for verification and export.
   */
  auditChain(): AsyncIterable<ChainedRecord>;
  listRecords<T>(namespace: string): Promise<{ key: string; value: T }[]>;
  /** A consistent snapshot of everything stored (see StoreSnapshot), for backups. */
  snapshot(): Promise<StoreSnapshot>;
  /** Counts what the store holds. */
  contents(): Promise<StoreContents>;
  /**
   * Removes everything — every version, index entry, audit link and keyed record — in one
   * transaction. Only a restore over an existing store (`ferry restore --force`) calls it.
   */
  erase(): Promise<void>;
  /**
   * Runs `load` — a long series of large write sets from one writer, such as a restore — with
   * per-commit durability relaxed, then makes everything it wrote durable before resolving. A
   * crash meanwhile may lose the latest of those writes (it never corrupts the store), so the
   * caller must be able to tell an unfinished load (a restore keeps a marker record).
   */
  bulkLoad<T>(load: () => Promise<T>): Promise<T>;
  /** Resolves when the store answers (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A precondition checked inside the store failed: another writer got there first. */
export class StoreConflictError extends Error {
  constructor(
    readonly type: string,
    readonly id: string,
    readonly expectedVersionId: number | null,
    readonly actualVersionId: number | null,
  ) {
    super(
      `${type}/${id}: expected ${expectedVersionId === null ? 'no current version' : `version ${expectedVersionId}`}, ` +
        `found ${actualVersionId === null ? 'none' : `version ${actualVersionId}`}`,
    );
    this.name = 'StoreConflictError';
  }
}

/** A keyed record written with `ifAbsent` already exists. */
export class RecordExistsError extends Error {
  constructor(
    readonly namespace: string,
    readonly key: string,
  ) {
    super(`${namespace}/${key} already exists`);
    this.name = 'RecordExistsError';
  }
}

/** The store cannot be reached or failed; the request may be retried. Maps to 503. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
