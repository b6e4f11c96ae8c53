import type { AuditEvent } from 'fhir/r4.js';
import { dateEntries } from './extract-ranges.js';
import { referenceEntries, stringEntries, tokenEntries } from './extract-values.js';
import { extractIndexEntries, uniqueEntries } from './extract.js';
import type { IndexEntry } from './types.js';

/**
 * The search index entries of an AuditEvent: every R4 AuditEvent parameter, but no full-text
 * (`_text`, `_content`) entry. The audit trail grows by one record per access, and a full-text
 * row is its most expensive index row; the audit trail is searched by its parameters
 * (date, agent, entity, patient, type, subtype, action, outcome, source…), not by words.
 * For any AuditEvent (a restored or reindexed one may have been written by another version).
 */
export function auditIndexEntries(event: AuditEvent): IndexEntry[] {
  return extractIndexEntries(event, undefined, { text: false }).entries;
}

/**
 * Whether an AuditEvent holds only elements that builtAuditIndexEntries reads for its parameters:
 * none of agent.name, agent.role, agent.policy, entity.name (agent-name, agent-role, policy,
 * entity-name) nor meta tags, security labels, profiles or source (_tag, _security, _profile,
 * _source).
 */
function plainAuditEvent(event: AuditEvent): boolean {
  const meta = event.meta;
  if (meta && (meta.tag ?? meta.security ?? meta.profile ?? meta.source) !== undefined) return false;
  for (const a of event.agent) if ((a.name ?? a.role ?? a.policy) !== undefined) return false;
  for (const e of event.entity ?? []) if (e.name !== undefined) return false;
  return true;
}

/**
 * The entries of an AuditEvent of the audit trail: read straight off its elements (below) when
 * it holds no other, else by the generic extraction. Both give the same entries.
 */
export function auditTrailIndexEntries(event: AuditEvent): IndexEntry[] {
  return plainAuditEvent(event) ? builtAuditIndexEntries(event) : auditIndexEntries(event);
}

/**
 * The same entries for an AuditEvent shaped as buildAuditEvent makes them, read straight off the
 * elements it fills, through the same converters as the generic extraction but without
 * evaluating every parameter's expression or collecting text: the cost of each access's record.
 * Keep it in step with buildAuditEvent; the tests check both give the same entries.
 */
export function builtAuditIndexEntries(event: AuditEvent): IndexEntry[] {
  const out: IndexEntry[] = [];
  const add = (entries: IndexEntry[]): void => {
    if (entries.length === 1) out.push(entries[0] as IndexEntry);
    else if (entries.length > 1) out.push(...uniqueEntries(entries));
  };
  const agents = event.agent;
  const entities = event.entity ?? [];
  // in the order of the R4 parameters, as the generic extraction gives them
  add(dateEntries('_lastUpdated', event.meta?.lastUpdated, 'instant'));
  add(tokenEntries('action', event.action, 'code'));
  add(agents.flatMap((a) => stringEntries('address', a.network?.address, 'string')));
  add(agents.flatMap((a) => referenceEntries('agent', a.who, 'Reference')));
  add(agents.flatMap((a) => tokenEntries('altid', a.altId, 'string')));
  add(dateEntries('date', event.recorded, 'instant'));
  add(entities.flatMap((e) => referenceEntries('entity', e.what, 'Reference')));
  add(entities.flatMap((e) => tokenEntries('entity-role', e.role, 'Coding')));
  add(entities.flatMap((e) => tokenEntries('entity-type', e.type, 'Coding')));
  add(tokenEntries('outcome', event.outcome, 'code'));
  // `AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(…)`
  add(
    [...agents.map((a) => a.who), ...entities.map((e) => e.what)]
      .flatMap((who) => referenceEntries('patient', who, 'Reference'))
      .filter((e) => e.targetType === 'Patient'),
  );
  add(tokenEntries('site', event.source.site, 'string'));
  add(referenceEntries('source', event.source.observer, 'Reference'));
  add((event.subtype ?? []).flatMap((c) => tokenEntries('subtype', c, 'Coding')));
  add(tokenEntries('type', event.type, 'Coding'));
  return out;
}
