import { userInfo } from 'node:os';
import type { Principal } from '../auth/principal.js';
import type { AuditAppend, ResourceStore } from '../store/store.js';
import { buildAuditEvent, signingKeySystem, type AuditAgent, type AuditFacts } from './audit-event.js';

/**
 * The audit trail as a request sees it: every access becomes an AuditEvent (audit-event.ts)
 * that names who asked and from where. A write puts its event in the write set of the write
 * itself; a read (or a denial) appends its event through the store's group commit and waits
 * until it is durable, so no access is answered without its record.
 */

/** This Ferry instance as the audit trail names it (AuditEvent.source). */
export interface AuditSource {
  /** Where it runs: its public base URL. */
  site: string;
  /** Its name (FERRY_AUDIT_SOURCE, else the host name). */
  name: string;
}

/** What one access was: everything of an AuditEvent but who asked, where and when. */
export type AccessFacts = Omit<AuditFacts, 'agent' | 'source' | 'recorded'>;

/** The audit trail of one caller (one request). */
export interface AccessAudit {
  /** The AuditEvent of an access, ready for a write set. */
  event(facts: AccessFacts): AuditAppend;
  /** Appends events durably; resolves once they are committed. */
  record(events: AuditAppend[]): Promise<void>;
}

/** Everything the audit trail needs from the process: where to write, who it is, the clock. */
export interface Auditor {
  store: ResourceStore;
  source: AuditSource;
  now(): Date;
}

/** R4 v3-ActReason: the purpose-of-use codes a token carries. */
const purposeSystem = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** The agent of an access: the principal's client and user, and the network address. */
export function agentOf(principal: Principal | undefined, address: string | undefined): AuditAgent {
  const agent: AuditAgent = {};
  if (principal) {
    agent.clientId = principal.clientId;
    if (principal.user !== undefined) agent.user = principal.user;
    if (principal.purposeOfUse?.length)
      agent.purposeOfUse = principal.purposeOfUse.map((code) => ({ system: purposeSystem, code }));
  }
  if (address !== undefined) agent.address = address.replace(/^::ffff:(?=\d+\.)/, '');
  return agent;
}

/**
 * Someone at this machine rather than a client: the operating-system user and what they ran
 * (`ferry token`, the backup schedule…), named as `alice (ferry token)`.
 */
export function localAgent(activity: string): AuditAgent {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? 'unknown'}`;
  }
  return { user: `${user} (${activity})` };
}

/** One AuditEvent, built, as a write set carries it. */
export function auditAppend(auditor: Auditor, agent: AuditAgent, facts: AccessFacts): AuditAppend {
  const resource = buildAuditEvent({ ...facts, agent, source: auditor.source, recorded: auditor.now() });
  return {
    id: resource.id ?? '',
    lastUpdated: resource.recorded,
    resource,
  };
}

/** Appends events on their own (no resource versions), through the store's group commit. */
export async function appendAudit(store: ResourceStore, events: AuditAppend[]): Promise<void> {
  if (events.length > 0) await store.write({ versions: [], audit: events });
}

/**
 * The audit trail of one caller. `agent` is asked when an event is built, so a principal that an
 * authentication step sets after this is created is still the one recorded.
 */
export function accessAudit(auditor: Auditor, agent: () => AuditAgent): AccessAudit {
  return {
    event: (facts) => auditAppend(auditor, agent(), facts),
    record: (events) => appendAudit(auditor.store, events),
  };
}

/**
 * Records one access durably — for a caller outside the REST routes, e.g. the authentication
 * step denying a request (401/403: `status` and `outcomeText` say why) or the token endpoint
 * issuing or refusing a token (`category: 'token'`).
 */
export async function recordAccess(auditor: Auditor, agent: AuditAgent, facts: AccessFacts): Promise<void> {
  await appendAudit(auditor.store, [auditAppend(auditor, agent, facts)]);
}

/** What work run at this machine did, as its AuditEvent says: its kind, outcome (200 unless given), description. */
export type LocalFacts = Pick<AccessFacts, 'category' | 'query' | 'securityObject'> & {
  status?: number;
  outcomeText: string;
};

/**
 * The AuditEvent of work run at this machine — a command, the backup schedule, the server at its
 * first start — naming who ran it (`localAgent`), for the write set of the change it makes (or
 * appendAudit); none without an audit trail.
 */
export function localEvent(auditor: Auditor | undefined, activity: string, facts: LocalFacts): AuditAppend[] {
  if (!auditor) return [];
  const { status = 200, outcomeText, ...rest } = facts;
  return [
    auditAppend(auditor, localAgent(activity), {
      ...rest,
      interaction: 'operation',
      status,
      outcomeText: outcomeText.slice(0, 200),
    }),
  ];
}

/**
 * A store's first signing key, which it gets from the first process that needs one (`ferry
 * serve` at its first start, or `ferry token`): a security configuration change, like a rotation.
 */
export function firstKeyFacts(kid: string): LocalFacts {
  return {
    category: 'keys',
    securityObject: { system: signingKeySystem, value: kid },
    outcomeText: `first signing key ${kid} created`,
  };
}
