import assert from 'node:assert/strict';
import type { AuditEvent } from 'fhir/r4.js';
import { extractIndexEntries } from '../search/extract.js';
import { validate } from '../validation/validate.js';
import { buildAuditEvent, type AuditFacts } from './audit-event.js';

const facts = (extra: Partial<AuditFacts> = {}): AuditFacts => ({
  interaction: 'read',
  status: 200,
  agent: { clientId: 'lab-a', address: '10.0.0.7' },
  source: { site: 'http://localhost:8080/fhir', name: 'Ferry' },
  resource: 'Observation/o1/_history/2',
  patient: 'Patient/p1',
  recorded: new Date('2026-11-28T10:00:00Z'),
  ...extra,
});

const errors = (event: AuditEvent): string[] =>
  validate(event)
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => `${i.expression?.join(',') ?? ''}: ${i.diagnostics ?? ''}`);

describe('AuditEvent building (BALP)', () => {
  it('records a read: who, from where, what with its version, whose data', () => {
    const event = buildAuditEvent(facts());
    assert.deepEqual(errors(event), []);
    assert.equal(event.action, 'R');
    assert.equal(event.outcome, '0');
    assert.equal(event.subtype?.[0]?.code, 'read');
    assert.equal(event.agent[0]?.who?.identifier?.value, 'lab-a');
    assert.equal(event.agent[0].network?.address, '10.0.0.7');
    assert.deepEqual(
      event.entity?.map((e) => e.what?.reference),
      ['Observation/o1/_history/2', 'Patient/p1'],
    );
  });

  it('records no query entity for an empty query (base64Binary is never empty)', () => {
    const event = buildAuditEvent(
      facts({
        category: 'export',
        interaction: 'operation',
        resource: undefined,
        patient: undefined,
        query: '',
      }),
    );
    assert.deepEqual(errors(event), []);
    assert.equal(event.entity, undefined);
  });

  it('records a failed search with its query base64 and the failure', () => {
    const event = buildAuditEvent(
      facts({
        interaction: 'search-type',
        status: 403,
        outcomeText: 'scope does not allow search',
        resource: undefined,
        query: 'Observation?code=1234-5',
      }),
    );
    assert.deepEqual(errors(event), []);
    assert.equal(event.action, 'E');
    assert.equal(event.outcome, '4');
    assert.equal(event.outcomeDesc, 'scope does not allow search');
    const query = event.entity?.find((e) => e.query !== undefined)?.query ?? '';
    assert.equal(Buffer.from(query, 'base64').toString('utf8'), 'Observation?code=1234-5');
  });

  it('is searchable by the official AuditEvent parameters', () => {
    const event = buildAuditEvent(facts({ interaction: 'create', status: 201 }));
    const params = new Set(extractIndexEntries(event).entries.map((e) => e.param));
    for (const p of [
      'date',
      'action',
      'subtype',
      'type',
      'outcome',
      'entity',
      'patient',
      'agent-name',
      'site',
    ]) {
      if (p === 'agent-name') continue; // the client is named by identifier, not by name
      assert.ok(params.has(p), `AuditEvent?${p} finds it`);
    }
  });

  it('names an unauthenticated client as such', () => {
    const event = buildAuditEvent(facts({ agent: { address: '127.0.0.1' }, status: 401 }));
    assert.deepEqual(errors(event), []);
    assert.equal(event.agent[0]?.who?.display, 'unauthenticated client');
    assert.equal(event.outcome, '4');
  });

  it('grades failures: 4xx minor, 5xx serious, an unavailable service major', () => {
    const graded = [200, 201, 404, 500, 503].map((status) => buildAuditEvent(facts({ status })).outcome);
    assert.deepEqual(graded, ['0', '0', '4', '8', '12']);
  });
});
