import type { Resource } from 'fhir/r4.js';
import { verifyAuditChain, type ChainReport } from '../audit/verify-chain.js';
import { extractionVersion } from '../search/extract.js';
import type { ServiceContext } from '../service/context.js';
import { indexWrite } from '../service/write-path.js';
import type { AuditLink, RecordWrite, StoreContents, VersionWrite } from '../store/store.js';
import {
  BackupError,
  readManifest,
  type AuditLinkLine,
  type Manifest,
  type ManifestFile,
  type Part,
  type RecordLine,
  type VersionLine,
} from './format.js';
import { checkKey, readLines, verifyBackup } from './read-backup.js';

/**
 * Restore: a verified backup written back into an empty store through the port, in write sets of
 * a few thousand versions (each atomic, one commit apiece). Ids, versionIds, lastUpdated and the
 * stored JSON are kept byte for byte; the search index of each current version is built by the
 * write path's own extraction (indexEntries), so a restored store answers searches exactly as
 * one written through the API. While a restore runs, a marker record says so: a store that
 * holds one was left half restored.
 */

/** Where the store keeps bookkeeping of its own (also service/reindex.ts). */
const storeNamespace = 'store';
const marker = { namespace: storeNamespace, key: 'restore' } as const;
/** The extraction version the search index was built with: the one restore just used. */
const indexVersion = { namespace: storeNamespace, key: 'extractionVersion' } as const;

/** A restore failed after it began writing: the store holds part of the backup. */
export class RestoreIncompleteError extends BackupError {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreIncompleteError';
  }
}

export interface RestoreOptions {
  key?: Buffer;
  /** Erase a store that is not empty (after the backup has been verified) instead of refusing. */
  force?: boolean;
  /** Versions per write set. */
  batchSize?: number;
  /** Called after each write set with the versions restored so far. */
  onProgress?: (versions: number, total: number) => void;
}

export interface RestoreReport {
  manifest: Manifest;
  versions: number;
  resources: number;
  auditRecords: number;
  records: number;
  /** The store was not empty and was erased first (--force). */
  erased: boolean;
  seconds: number;
  /** `ferry audit verify` on the restored store. */
  audit: ChainReport;
}

/** Why a store is not empty, or undefined when it is (bookkeeping records do not count). */
export function describeContents(contents: StoreContents, unfinished: boolean): string | undefined {
  if (unfinished) return 'it holds an unfinished restore';
  const records = Object.entries(contents.records)
    .filter(([namespace]) => namespace !== storeNamespace)
    .reduce((sum, [, n]) => sum + n, 0);
  if (contents.versions === 0 && contents.auditLinks === 0 && records === 0) return undefined;
  return `it holds ${contents.versions} resource versions, ${contents.auditLinks} audit records and ${records} records`;
}

/**
 * Restores the backup in `dir` into `ctx.store`. Everything is checked first — the manifest, the
 * key, every file's checksum and content, and that the store is empty (or `force`) — and a
 * BackupError naming the problem is thrown before anything is written. A failure after that
 * leaves a partly restored store, marked as such; run the restore again with `force`.
 */
export async function restoreBackup(
  ctx: ServiceContext,
  dir: string,
  options: RestoreOptions = {},
): Promise<RestoreReport> {
  const started = performance.now();
  const { store } = ctx;
  const manifest = await readManifest(dir);
  checkKey(manifest, options.key);
  const unfinished = (await store.getRecord(marker.namespace, marker.key)) !== undefined;
  const occupied = describeContents(await store.contents(), unfinished);
  if (occupied && !options.force) {
    throw new BackupError(`the store is not empty (${occupied}); ferry restore --force erases it first`);
  }
  await verifyBackup(dir, manifest, options.key);
  if (occupied) await store.erase();
  await store.write({
    versions: [],
    records: [
      {
        ...marker,
        value: { from: dir, backupCreatedAt: manifest.createdAt, startedAt: new Date().toISOString() },
      },
    ],
  });

  let report;
  try {
    // one writer, a marker record to tell an unfinished restore: commits need not each be synced
    report = await store.bulkLoad(() => writeParts(ctx, dir, manifest, options));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new RestoreIncompleteError(
      `the restore did not complete (${reason}); the store is partly restored: run ferry restore --force to start again`,
    );
  }
  const audit = await verifyAuditChain(store);
  const recorded = manifest.auditHead;
  if (
    !audit.broken &&
    recorded &&
    (audit.head?.sequence !== recorded.sequence || audit.head.hash !== recorded.hash)
  ) {
    // an intact chain, but not the one the backup was taken of (a shortened or rewritten trail)
    audit.broken = {
      reason:
        `its head is ${audit.head ? `${audit.head.sequence} ${audit.head.hash}` : 'empty'} ` +
        `where the backup's manifest records ${recorded.sequence} ${recorded.hash}`,
    };
  }
  return {
    manifest,
    ...report,
    erased: occupied !== undefined,
    seconds: (performance.now() - started) / 1000,
    audit,
  };
}

type Counts = { versions: number; resources: number; auditRecords: number; records: number };

/** Writes every part of a verified backup, in write sets; the last one removes the marker. */
async function writeParts(
  ctx: ServiceContext,
  dir: string,
  manifest: Manifest,
  options: RestoreOptions,
): Promise<Counts> {
  const { store } = ctx;
  const batchSize = options.batchSize ?? 2000;
  const file = (part: Part): ManifestFile => {
    const found = manifest.files.find((f) => f.part === part);
    if (!found) throw new BackupError(`manifest.json: names no file for ${part}`);
    return found;
  };
  const report: Counts = { versions: 0, resources: 0, auditRecords: 0, records: 0 };

  let versions: VersionWrite[] = [];
  const flushVersions = async (): Promise<void> => {
    await store.write({ versions });
    report.versions += versions.length;
    versions = [];
    options.onProgress?.(report.versions, manifest.counts.versions);
  };
  for await (const line of readLines<VersionLine>(dir, manifest, file('versions'), options.key)) {
    versions.push(versionWrite(ctx, line));
    if (line.current) report.resources++;
    if (versions.length === batchSize) await flushVersions();
  }
  if (versions.length > 0) await flushVersions();

  let links: AuditLink[] = [];
  for await (const line of readLines<AuditLinkLine>(dir, manifest, file('audit-links'), options.key)) {
    links.push({ sequence: line.sequence, id: line.id, hash: line.hash });
    if (links.length === batchSize) {
      await store.write({ versions: [], auditLinks: links });
      report.auditRecords += links.length;
      links = [];
    }
  }
  report.auditRecords += links.length;

  let records: RecordWrite[] = [];
  for await (const line of readLines<RecordLine>(dir, manifest, file('records'), options.key)) {
    if (line.namespace === storeNamespace) continue; // bookkeeping of the store backed up, not this one
    const record: RecordWrite = { namespace: line.namespace, key: line.key, value: JSON.parse(line.json) };
    if (line.expiresAt !== undefined) record.expiresAt = line.expiresAt;
    records.push(record);
    if (records.length === batchSize) {
      await store.write({ versions: [], records });
      report.records += records.length;
      records = [];
    }
  }
  report.records += records.length;
  checkCounts(manifest, report); // before the marker goes: a short restore stays marked unfinished
  // the last links and records, and the end of the restore, commit together
  await store.write({
    versions: [],
    auditLinks: links,
    records: [...records, { ...indexVersion, value: extractionVersion }, { ...marker, value: null }],
  });
  return report;
}

/**
 * A stored version exactly as it was: the same JSON text, versionId and lastUpdated. The
 * current version of a resource is indexed by the write path's extraction; earlier ones need no
 * index (each write replaces its resource's entries).
 */
function versionWrite(ctx: ServiceContext, line: VersionLine): VersionWrite {
  const write: VersionWrite = {
    type: line.type,
    id: line.id,
    versionId: line.versionId,
    lastUpdated: line.lastUpdated,
    deleted: line.deleted,
    // versions are numbered 1, 2, 3… and the file lists them in write order
    expectedVersionId: line.versionId === 1 ? null : line.versionId - 1,
  };
  if (line.json !== undefined) {
    write.json = line.json;
    if (line.current && !line.deleted) indexWrite(ctx, write, JSON.parse(line.json) as Resource);
  }
  return write;
}

function checkCounts(manifest: Manifest, report: Counts): void {
  const expected = manifest.counts;
  if (
    report.versions !== expected.versions ||
    report.resources !== expected.resources ||
    report.auditRecords !== expected.auditRecords
  ) {
    throw new BackupError(
      `restored ${report.versions} versions, ${report.resources} resources and ${report.auditRecords} audit records ` +
        `where the manifest lists ${expected.versions}, ${expected.resources} and ${expected.auditRecords}`,
    );
  }
}
