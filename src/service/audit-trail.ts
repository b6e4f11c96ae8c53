import type { AccessFacts } from '../audit/access-audit.js';
import type { Interaction } from '../audit/audit-event.js';
import { patientOfJson } from '../audit/patient-of.js';
import type { AuditAppend, StoredVersion } from '../store/store.js';
import type { ServiceContext } from './context.js';

/**
 * The service side of the audit trail: the AuditEvent of each interaction, for the write set of
 * a write, or recorded durably before a read answers. Nothing is recorded when the context has no
 * audit trail (Ferry's own work).
 */

/** `Type/id/_history/n` of a version. */
export const versionReference = (v: StoredVersion): string => `${v.type}/${v.id}/_history/${v.versionId}`;

/**
 * The patient a version's data is about: as the write path found it (write-path.ts indexWrite) and
 * the store kept it, else from its JSON (a version written before stores kept it).
 */
export function patientOfVersion(v: StoredVersion): string | undefined {
  if (v.patient !== undefined) return v.patient ?? undefined;
  return patientOfJson(v.type, v.id, v.json);
}

/** The event of an interaction on a stored version; `about` gives the patient (e.g. the version before a delete). */
export function versionFacts(
  interaction: Interaction,
  version: StoredVersion,
  status: number,
  about: StoredVersion = version,
): AccessFacts {
  const patient = patientOfVersion(about);
  return {
    interaction,
    status,
    resource: versionReference(version),
    ...(patient !== undefined ? { patient } : {}),
  };
}

/** The events to commit with a write; empty when the context is not audited. */
export function auditEvents(ctx: ServiceContext, facts: AccessFacts[]): AuditAppend[] {
  const audit = ctx.audit;
  return audit ? facts.map((f) => audit.event(f)) : [];
}

/** Records accesses that write nothing (reads, searches, a no-op write), durably, before answering. */
export async function recordAccess(ctx: ServiceContext, ...facts: AccessFacts[]): Promise<void> {
  const audit = ctx.audit;
  if (audit) await audit.record(facts.map((f) => audit.event(f)));
}
