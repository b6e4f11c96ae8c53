import type { AuditEvent } from 'fhir/r4.js';
import { extractIndexEntries } from '../search/extract.js';
import type { IndexEntry } from '../search/types.js';

/**
 * The search index entries of an AuditEvent: every R4 AuditEvent parameter, but no full-text
 * (`_text`, `_content`) entry. The audit trail grows by one record per access, and a full-text
 * row is its most expensive index row; the audit trail is searched by its parameters
 * (date, agent, entity, patient, type, subtype, action, outcome, source…), not by words.
 */
export function auditIndexEntries(event: AuditEvent): IndexEntry[] {
  return extractIndexEntries(event).entries.filter((e) => e.kind !== 'text');
}
