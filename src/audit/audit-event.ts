import type { AuditEvent, AuditEventEntity, Coding } from 'fhir/r4.js';
import { newId } from '../fhir/ids.js';

/**
 * AuditEvents shaped after IHE Basic Audit Log Patterns (BALP) for RESTful access: what was done
 * (type rest, subtype the R4 interaction, action C/R/U/D/E), when, with what outcome, by whom and
 * from where (the client and its network address), seen by which Ferry instance, and on what
 * (the resource with its version, the patient whose data it is, the query of a search).
 */

/** R4 restful-interaction codes (http://hl7.org/fhir/restful-interaction). */
export type Interaction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'capabilities'
  | 'transaction'
  | 'batch'
  | 'operation';

/** The CRUDE action each interaction is (AuditEvent.action, R4 audit-event-action). */
const actions: Record<Interaction, NonNullable<AuditEvent['action']>> = {
  read: 'R',
  vread: 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  create: 'C',
  'search-type': 'E',
  'search-system': 'E',
  capabilities: 'R',
  transaction: 'E',
  batch: 'E',
  operation: 'E',
};

/** Who asked: the client (and its user when the token names one) and where from. */
export interface AuditAgent {
  clientId?: string;
  user?: string;
  address?: string;
  purposeOfUse?: { system?: string; code: string }[];
}

export interface AuditFacts {
  interaction: Interaction;
  /**
   * What kind of event: a RESTful access (the default), or one of the other kinds (see
   * `otherTypes`: a token, data copied out or loaded in wholesale, a change to who may have access).
   */
  category?: AuditCategory;
  /** HTTP-like status of the outcome: < 400 success, 4xx minor, 5xx serious, 503 major failure. */
  status: number;
  /** Why it failed, for the record (never patient data). */
  outcomeText?: string;
  agent: AuditAgent;
  /** This Ferry instance: its public base URL and a name. */
  source: { site: string; name: string };
  /** The resource touched, `Type/id/_history/n` when the version is known. */
  resource?: string;
  /** The patient whose data was touched (`Patient/id`), when known. */
  patient?: string;
  /** A search's query string, recorded base64 as BALP asks (none when empty). */
  query?: string;
  /**
   * What a security change was made to, by identifier (a client, a signing key): an entity of
   * role Security Resource, so `entity:identifier=` finds every change to it.
   */
  securityObject?: { system: string; value: string };
  recorded: Date;
}

/** The identifier systems of a registered client and of a token signing key (its kid). */
export const clientSystem = 'urn:ferry:client';
export const signingKeySystem = 'urn:ferry:signing-key';

const system = {
  type: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  interaction: 'http://hl7.org/fhir/restful-interaction',
  entityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  sourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  participation: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  clients: clientSystem,
  sources: 'urn:ferry:source',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
};

/** The kinds of event besides a RESTful access (the default). */
export type AuditCategory = 'rest' | 'token' | 'export' | 'import' | 'clients' | 'keys';

const dcm = (code: string, display: string): { system: string; code: string; display: string } => ({
  system: system.dicom,
  code,
  display,
});

/**
 * The type, subtype and action of every kind but a RESTful access, with DICOM audit codes
 * (PS3.16 CID 400–403) as BALP uses them for what is not a REST interaction:
 * - token: an access token issued or refused — 110114 User Authentication, 110122 Login;
 * - export: patient data or the audit trail copied out of the store by a command or a schedule
 *   (`ferry export`, a backup, `ferry audit export`) — 110106 Export, action R;
 * - import: the store loaded wholesale (`ferry restore`) — 110107 Import, action C;
 * - clients: a client registered or removed, so who may get access changed — 110113 Security
 *   Alert, 110137 User Security Attributes Changed;
 * - keys: a store's first token signing key made, or the keys rotated — 110113 Security Alert,
 *   110129 Security Configuration.
 */
const otherTypes: Record<
  Exclude<AuditCategory, 'rest'>,
  { type: Coding; subtype?: Coding; action: NonNullable<AuditEvent['action']> }
> = {
  token: { type: dcm('110114', 'User Authentication'), subtype: dcm('110122', 'Login'), action: 'E' },
  export: { type: dcm('110106', 'Export'), action: 'R' },
  import: { type: dcm('110107', 'Import'), action: 'C' },
  clients: {
    type: dcm('110113', 'Security Alert'),
    subtype: dcm('110137', 'User Security Attributes Changed'),
    action: 'E',
  },
  keys: {
    type: dcm('110113', 'Security Alert'),
    subtype: dcm('110129', 'Security Configuration'),
    action: 'E',
  },
};

/** The type, subtype and action of an event of a category, or of a RESTful interaction. */
function typeOf(
  category: AuditCategory,
  interaction: Interaction,
): Pick<AuditEvent, 'type' | 'subtype' | 'action'> {
  if (category === 'rest') {
    return {
      type: { system: system.type, code: 'rest', display: 'RESTful Operation' },
      subtype: [{ system: system.interaction, code: interaction }],
      action: actions[interaction],
    };
  }
  const { type, subtype, action } = otherTypes[category];
  return { type, ...(subtype ? { subtype: [subtype] } : {}), action };
}

/**
 * R4 AuditEvent.outcome: 0 success, 4 minor failure (the client's error, 4xx), 8 serious failure
 * (an unexpected error, 5xx), 12 major failure (the service is not available: 503, such as an
 * unreachable store).
 */
function outcomeOf(status: number): NonNullable<AuditEvent['outcome']> {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return status === 503 ? '12' : '8';
}

/** An AuditEvent for one access, with a new id and meta for its first (only) version. */
export function buildAuditEvent(facts: AuditFacts): AuditEvent {
  const recorded = facts.recorded.toISOString();
  const entity: AuditEventEntity[] = [];
  if (facts.resource !== undefined) {
    entity.push({
      what: { reference: facts.resource },
      type: { system: system.entityType, code: '2', display: 'System Object' },
    });
  }
  if (facts.securityObject !== undefined) {
    entity.push({
      what: { identifier: facts.securityObject },
      type: { system: system.entityType, code: '2', display: 'System Object' },
      role: { system: system.objectRole, code: '13', display: 'Security Resource' },
    });
  }
  if (facts.patient !== undefined) {
    entity.push({
      what: { reference: facts.patient },
      type: { system: system.entityType, code: '1', display: 'Person' },
      role: { system: system.objectRole, code: '1', display: 'Patient' },
    });
  }
  // an empty query (a command that asked for everything) has nothing to record: base64Binary is never empty
  if (facts.query) {
    entity.push({
      type: { system: system.entityType, code: '2', display: 'System Object' },
      role: { system: system.objectRole, code: '24', display: 'Query' },
      query: Buffer.from(facts.query, 'utf8').toString('base64'),
    });
  }
  const { agent } = facts;
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    id: newId(),
    meta: { versionId: '1', lastUpdated: recorded },
    ...typeOf(facts.category ?? 'rest', facts.interaction),
    recorded,
    outcome: outcomeOf(facts.status),
    agent: [
      {
        type: {
          coding: [{ system: system.participation, code: 'IRCP', display: 'information recipient' }],
        },
        // a client by its id; else someone at this machine (a `ferry` command, the inbox) by name
        who:
          agent.clientId !== undefined
            ? { identifier: { system: system.clients, value: agent.clientId } }
            : { display: agent.user !== undefined ? `local: ${agent.user}` : 'unauthenticated client' },
        ...(agent.user !== undefined ? { altId: agent.user } : {}),
        requestor: true,
        ...(agent.address !== undefined ? { network: { address: agent.address, type: '2' as const } } : {}),
        ...(agent.purposeOfUse?.length
          ? { purposeOfUse: agent.purposeOfUse.map((p) => ({ coding: [p] })) }
          : {}),
      },
    ],
    source: {
      site: facts.source.site,
      // an identifier, so that the `source` search parameter finds it (`source:identifier=`)
      observer: {
        identifier: { system: system.sources, value: facts.source.name },
        display: facts.source.name,
      },
      type: [{ system: system.sourceType, code: '4', display: 'Application Server' }],
    },
  };
  if (facts.outcomeText !== undefined) event.outcomeDesc = facts.outcomeText;
  if (entity.length > 0) event.entity = entity;
  return event;
}
