import assert from 'node:assert/strict';
import type { Bundle } from 'fhir/r4.js';
import { silentLogger } from '../log.js';
import { searchResources } from '../service/search.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { accessAudit, agentOf, recordAccess, type Auditor } from './access-audit.js';

describe('the audit trail of an access', () => {
  let store: SqliteStore;
  let auditor: Auditor;
  const ctx = () => ({ store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() });
  const ids = async (query: string): Promise<string[]> => {
    const bundle: Bundle = await searchResources(ctx(), {
      type: 'AuditEvent',
      params: [...new URLSearchParams(query)],
      strict: true,
    });
    return (bundle.entry ?? []).map((e) => e.resource?.id ?? '');
  };

  before(async () => {
    store = new SqliteStore(':memory:');
    auditor = {
      store,
      source: { site: 'http://localhost/fhir', name: 'ferry-test' },
      now: () => new Date('2026-11-28T10:00:00Z'),
    };
    const principal = { clientId: 'lab-a', user: 'dr-who', scopes: [], purposeOfUse: ['TREAT'] };
    const audit = accessAudit(auditor, () => agentOf(principal, '::ffff:10.0.0.7'));
    await audit.record([
      audit.event({
        interaction: 'read',
        status: 200,
        resource: 'Observation/o1/_history/1',
        patient: 'Patient/p1',
      }),
    ]);
    await recordAccess(auditor, agentOf(undefined, '10.0.0.8'), {
      interaction: 'read',
      status: 401,
      outcomeText: 'no access token',
      resource: 'Observation/o2',
    });
    await recordAccess(auditor, agentOf(principal, '10.0.0.7'), {
      category: 'token',
      interaction: 'operation',
      status: 200,
    });
  });
  after(() => store.close());

  it('names the client, its user, the purpose of use and the IPv4 address', async () => {
    const [id] = await ids('agent:identifier=urn:ferry:client|lab-a&subtype=read');
    const json = (await store.readCurrent('AuditEvent', id ?? ''))?.json ?? '{}';
    const agent = (JSON.parse(json) as { agent: Record<string, unknown>[] }).agent[0];
    assert.ok(agent);
    assert.equal(agent.altId, 'dr-who');
    assert.deepEqual(agent.network, { address: '10.0.0.7', type: '2' });
    assert.deepEqual(agent.purposeOfUse, [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] },
    ]);
  });

  it('is found by every AuditEvent search parameter', async () => {
    const all = await ids('');
    assert.equal(all.length, 3);
    const expect = (query: string, n: number) => async () =>
      assert.equal((await ids(query)).length, n, query);
    for (const check of [
      expect('date=2026-11-28', 3),
      expect('date=lt2026-11-28', 0),
      expect('agent:identifier=urn:ferry:client|lab-a', 2),
      expect('altid=dr-who', 2),
      expect('address=10.0.0.8', 1),
      expect('entity=Observation/o1', 1),
      expect('patient=Patient/p1', 1),
      expect('type=rest', 2),
      expect('type=http://dicom.nema.org/resources/ontology/DCM|110114', 1),
      expect('subtype=read', 2),
      expect('subtype=http://dicom.nema.org/resources/ontology/DCM|110122', 1),
      expect('action=R', 2),
      expect('action=E', 1),
      expect('outcome=0', 2),
      expect('outcome=4', 1),
      expect('site=http://localhost/fhir', 3),
      expect('source:identifier=urn:ferry:source|ferry-test', 3),
    ])
      await check();
  });
});
