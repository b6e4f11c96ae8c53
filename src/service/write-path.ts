import type { AuditEvent, Resource } from 'fhir/r4.js';
import { patientOfEntries } from '../audit/patient-of.js';
import { invalid, preconditionFailed, conflict } from '../errors.js';
import {
  StoreConflictError,
  type AuditAppend,
  type RecordWrite,
  type StoredVersion,
  type VersionWrite,
} from '../store/store.js';
import { auditIndexEntries } from '../search/audit-index.js';
import { extractIndexEntries } from '../search/extract.js';
import type { IndexEntry } from '../search/types.js';
import { validate, type ValidationLevel, type ValidationPolicy } from '../validation/validate.js';
import { checkDelete, checkWrite } from './authorize.js';
import type { ServiceContext } from './context.js';

/**
 * The one write path. Every door — REST create/update/patch/delete, and later transactions,
 * HL7/CSV ingest and restore — turns its request into resource versions here: validated,
 * stamped with meta.versionId/lastUpdated and written atomically.
 */

/** The outcome of a write: the stored version (its `json` is what the client gets back). */
export interface WriteResult {
  version: StoredVersion;
  /** True when this write made the resource exist (201). */
  created: boolean;
  /** True when the content equalled the current version, so no new version was written. */
  unchanged?: boolean;
}

/** How one write is validated: the configured policy, and a level a door may ask for instead. */
export interface WriteValidation {
  /** The configuration's policy (`ctx.validation`); the R4 rules at level `full` when absent. */
  policy?: ValidationPolicy;
  /**
   * A per-client or per-feed override of the policy's level, e.g. `off` for a restore of data
   * that was validated when first written.
   */
  level?: ValidationLevel;
}

/**
 * 422 with every issue (warnings included) when the resource breaks the R4 rules or a profile
 * that applies to it (validation.html). Every write door calls this, once per resource.
 */
export function assertValid(resource: Resource, options: WriteValidation = {}): void {
  const issues = validate(resource, options);
  if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) throw invalid(issues);
}

/** Stamps the resource with its new version's meta. */
export function stamp(resource: Resource, id: string, versionId: number, lastUpdated: string): Resource {
  return { ...resource, id, meta: { ...resource.meta, versionId: String(versionId), lastUpdated } };
}

/**
 * The search index entries of a resource. A parameter whose extraction fails never drops the
 * write: the others are indexed and the failure is logged by parameter name (no values).
 */
export function indexEntries(ctx: ServiceContext, resource: Resource): IndexEntry[] {
  // the audit trail's records are indexed as when they were appended (a reindex keeps them so)
  if (resource.resourceType === 'AuditEvent') return auditIndexEntries(resource as AuditEvent);
  const { entries, failures } = extractIndexEntries(resource);
  for (const failure of failures) {
    ctx.log.warn('search.extract_failed', {
      type: resource.resourceType,
      param: failure.param,
      message: failure.message,
    });
  }
  return entries;
}

/**
 * Gives a version write the index entries of its resource, and the patient they name, which the
 * store keeps so that the audit record of a later read of this version need not parse it.
 */
export function indexWrite(ctx: ServiceContext, write: VersionWrite, resource: Resource): void {
  Object.assign(write, indexFacts(ctx, write.type, write.id, resource));
}

/** A resource's index entries and the patient they name (`null`: none), as the store keeps them. */
export function indexFacts(
  ctx: ServiceContext,
  type: string,
  id: string,
  resource: Resource,
): { index: IndexEntry[]; patient: string | null } {
  const index = indexEntries(ctx, resource);
  return { index, patient: patientOfEntries(type, id, index) ?? null };
}

/** A version write for a resource (or a tombstone when `resource` is undefined), with its index. */
export function versionWrite(
  ctx: ServiceContext,
  type: string,
  id: string,
  current: StoredVersion | undefined,
  lastUpdated: string,
  resource?: Resource,
): VersionWrite {
  if (resource === undefined && current) checkDelete(ctx, type, current);
  const versionId = (current?.versionId ?? 0) + 1;
  const write: VersionWrite = {
    type,
    id,
    versionId,
    lastUpdated,
    deleted: resource === undefined,
    expectedVersionId: current?.versionId ?? null,
  };
  if (resource) {
    const stamped = stamp(resource, id, versionId, lastUpdated);
    write.json = JSON.stringify(stamped);
    indexWrite(ctx, write, stamped);
  }
  return write;
}

/** A resource's next version, validated and indexed but not yet committed. */
export interface PreparedVersion {
  /** What to write; absent when the content equals the current version (nothing to write). */
  write?: VersionWrite;
  result: WriteResult;
}

/**
 * Validates `resource` and prepares it as the version after `current` (the first when there is
 * none, or when the current one is a deletion). Equal content prepares no write (R4 lets a server
 * keep the version when nothing changed). Every door prepares versions here.
 */
export function prepareVersion(
  ctx: ServiceContext,
  type: string,
  id: string,
  current: StoredVersion | undefined,
  resource: Resource,
  lastUpdated: string,
  level?: ValidationLevel,
): PreparedVersion {
  checkWrite(ctx, type, current, resource);
  assertValid(resource, level === undefined ? { policy: ctx.validation } : { policy: ctx.validation, level });
  if (current && sameContent(current, resource)) {
    return { result: { version: current, created: false, unchanged: true } };
  }
  const write = versionWrite(ctx, type, id, current, lastUpdated, resource);
  return { write, result: { version: write, created: !current || current.deleted } };
}

/** Content equality ignoring the server-maintained meta.versionId and meta.lastUpdated. */
export function sameContent(current: StoredVersion, next: Resource): boolean {
  if (current.deleted || current.json === undefined) return false;
  const strip = (r: Resource): string => {
    const { meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...metaRest } = meta ?? {};
    return JSON.stringify(Object.keys(metaRest).length > 0 ? { ...rest, meta: metaRest } : rest);
  };
  return strip(JSON.parse(current.json) as Resource) === strip(next);
}

/**
 * Commits versions, with the AuditEvents of the access in the same atomic write; a version
 * conflict becomes 412 when the client named the version it expected (If-Match), and is
 * otherwise rethrown for the caller to retry.
 */
export async function commit(
  ctx: ServiceContext,
  writes: VersionWrite[],
  clientExpected: boolean,
  records: RecordWrite[] = [],
  audit: AuditAppend[] = [],
): Promise<void> {
  try {
    await ctx.store.write(
      audit.length > 0 ? { versions: writes, records, audit } : { versions: writes, records },
    );
  } catch (error) {
    if (error instanceof StoreConflictError && clientExpected) {
      throw preconditionFailed(`Version conflict: ${error.message}`);
    }
    throw error;
  }
}

/**
 * Runs a read-modify-write step again when a concurrent writer changed the resource between
 * the read and the write (optimistic concurrency); after a few tries it answers 409.
 */
export async function withRetry<T>(step: () => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      if (attempt >= tries) throw conflict(`Too many concurrent writes to ${error.type}/${error.id}; retry`);
    }
  }
}
