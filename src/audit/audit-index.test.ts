import assert from 'node:assert/strict';
import { buildAuditEvent, type AuditFacts } from './audit-event.js';
import { auditIndexEntries, auditTrailIndexEntries, builtAuditIndexEntries } from '../search/audit-index.js';

const base: AuditFacts = {
  interaction: 'read',
  status: 200,
  agent: { clientId: 'lab-a', address: '10.0.0.7' },
  source: { site: 'http://localhost:8080/fhir', name: 'Ferry' },
  recorded: new Date('2026-11-28T10:00:00.123Z'),
};

const cases: [string, Partial<AuditFacts>][] = [
  ['a read of an Observation', { resource: 'Observation/o1/_history/2', patient: 'Patient/p1' }],
  ['a read of the Patient itself', { resource: 'Patient/p1/_history/1', patient: 'Patient/p1' }],
  ['a search with its query', { interaction: 'search-type', query: 'code=1234-5&_count=10' }],
  [
    'a denied request of an unauthenticated client',
    { interaction: 'create', status: 401, outcomeText: 'no token', agent: {} },
  ],
  [
    'an access with a user and purposes of use',
    {
      interaction: 'update',
      resource: 'Condition/c1/_history/3',
      patient: 'Patient/p2',
      agent: {
        clientId: 'ehr',
        user: 'Practitioner/dr-who',
        address: '::1',
        purposeOfUse: [
          { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' },
          { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'ETREAT' },
        ],
      },
    },
  ],
  [
    'a token refused',
    { category: 'token', interaction: 'operation', status: 401, outcomeText: 'bad secret' },
  ],
  ['a server failure', { interaction: 'transaction', status: 500 }],
  [
    'a client registered (a security change)',
    {
      category: 'clients',
      interaction: 'operation',
      agent: { user: 'ops (ferry clients add)' },
      securityObject: { system: 'urn:ferry:client', value: 'lab-app' },
      outcomeText: 'client lab-app added (secret): system/Observation.rs',
    },
  ],
  [
    'signing keys rotated',
    {
      category: 'keys',
      interaction: 'operation',
      agent: { user: 'ops (ferry keys rotate)' },
      securityObject: { system: 'urn:ferry:signing-key', value: 'k2' },
    },
  ],
  [
    'a bulk export with its query',
    {
      category: 'export',
      interaction: 'operation',
      agent: { user: 'ops (ferry export)' },
      query: '_type=Patient',
    },
  ],
  ['a restore', { category: 'import', interaction: 'operation', agent: { user: 'ops (ferry restore)' } }],
];

describe('the index entries of an AuditEvent just built', () => {
  for (const [name, extra] of cases) {
    it(`are those of the generic extraction, without full text, for ${name}`, () => {
      const event = buildAuditEvent({ ...base, ...extra });
      const generic = auditIndexEntries(event);
      assert.ok(generic.every((e) => e.kind !== 'text'));
      assert.deepEqual(builtAuditIndexEntries(event), generic);
    });
  }
});

describe('the index entries of an AuditEvent of the audit trail', () => {
  it('come from the generic extraction when it holds elements buildAuditEvent never fills', () => {
    const event = buildAuditEvent({ ...base, resource: 'Patient/p1/_history/1', patient: 'Patient/p1' });
    event.agent[0]!.name = 'Dr Who';
    event.entity![0]!.name = 'the chart';
    const entries = auditTrailIndexEntries(event);
    assert.deepEqual(entries, auditIndexEntries(event));
    assert.ok(entries.some((e) => e.param === 'agent-name' && e.kind === 'string' && e.exact === 'Dr Who'));
    assert.ok(entries.some((e) => e.param === 'entity-name'));
  });

  it('are read straight off the elements of one that buildAuditEvent made', () => {
    const event = buildAuditEvent({ ...base, resource: 'Observation/o1/_history/2', patient: 'Patient/p1' });
    assert.deepEqual(auditTrailIndexEntries(event), builtAuditIndexEntries(event));
  });
});
