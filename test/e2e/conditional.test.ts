import assert from 'node:assert/strict';
import type { Bundle, Patient } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

const mrn = 'http://hospital.example.org/mrn';
const patient = (value: string, extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: mrn, value }],
  gender: 'female',
  ...extra,
});

describe('conditional interactions over HTTP', function () {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  const count = async (query: string): Promise<number> => {
    const bundle = (await (await server.fhir(`/Patient?${query}&_total=accurate`)).json()) as Bundle;
    return bundle.total ?? -1;
  };

  it('creates once with If-None-Exist, then answers the existing resource', async () => {
    const criteria = `identifier=${mrn}|c-1`;
    const first = await server.fhir('/Patient', {
      method: 'POST',
      headers: { 'If-None-Exist': criteria },
      json: patient('c-1'),
    });
    assert.equal(first.status, 201);
    const id = ((await first.json()) as Patient).id;
    const second = await server.fhir('/Patient', {
      method: 'POST',
      headers: { 'If-None-Exist': criteria },
      json: patient('c-1'),
    });
    assert.equal(second.status, 200);
    assert.equal(((await second.json()) as Patient).id, id);
  });

  it('never creates twice when many conditional creates race', async () => {
    const criteria = `identifier=${mrn}|race-1`;
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        server.fhir('/Patient', {
          method: 'POST',
          headers: { 'If-None-Exist': criteria },
          json: patient('race-1'),
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join());
    assert.ok(
      statuses.every((s) => s === 201 || s === 200),
      statuses.join(),
    );
    const ids = new Set(await Promise.all(results.map(async (r) => ((await r.json()) as Patient).id)));
    assert.equal(ids.size, 1);
    assert.equal(await count(`identifier=${encodeURIComponent(`${mrn}|race-1`)}`), 1);
  });

  it('creates again after the matching resource was deleted', async () => {
    const criteria = `identifier=${mrn}|gone-1`;
    const first = await server.fhir('/Patient', {
      method: 'POST',
      headers: { 'If-None-Exist': criteria },
      json: patient('gone-1'),
    });
    const id = ((await first.json()) as Patient).id ?? '';
    await server.fhir(`/Patient/${id}`, { method: 'DELETE' });
    const again = await server.fhir('/Patient', {
      method: 'POST',
      headers: { 'If-None-Exist': criteria },
      json: patient('gone-1'),
    });
    assert.equal(again.status, 201);
    assert.notEqual(((await again.json()) as Patient).id, id);
  });

  it('answers 412 when the criteria match several, and 400 for unknown criteria', async () => {
    await server.fhir('/Patient', { method: 'POST', json: patient('dup', { gender: 'other' }) });
    await server.fhir('/Patient', { method: 'POST', json: patient('dup', { gender: 'other' }) });
    const several = await server.fhir('/Patient', {
      method: 'POST',
      headers: { 'If-None-Exist': `identifier=${mrn}|dup` },
      json: patient('dup'),
    });
    assert.equal(several.status, 412);
    const unknown = await server.fhir('/Patient', {
      method: 'POST',
      headers: { 'If-None-Exist': 'shoe-size=9' },
      json: patient('x'),
    });
    assert.equal(unknown.status, 400);
  });

  it('updates the one match, creates when none matches, refuses several', async () => {
    const query = `identifier=${encodeURIComponent(`${mrn}|u-1`)}`;
    const created = await server.fhir(`/Patient?${query}`, { method: 'PUT', json: patient('u-1') });
    assert.equal(created.status, 201);
    const id = ((await created.json()) as Patient).id;
    const updated = await server.fhir(`/Patient?${query}`, {
      method: 'PUT',
      json: patient('u-1', { gender: 'male' }),
    });
    assert.equal(updated.status, 200);
    const body = (await updated.json()) as Patient;
    assert.equal(body.id, id);
    assert.equal(body.meta?.versionId, '2');
    const several = await server.fhir(`/Patient?identifier=${encodeURIComponent(`${mrn}|dup`)}`, {
      method: 'PUT',
      json: patient('dup'),
    });
    assert.equal(several.status, 412);
  });

  it('patches the one match', async () => {
    await server.fhir('/Patient', { method: 'POST', json: patient('p-1') });
    const res = await server.fhir(`/Patient?identifier=${encodeURIComponent(`${mrn}|p-1`)}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'unknown' }]),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Patient).gender, 'unknown');
    const none = await server.fhir('/Patient?identifier=nobody', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: '[]',
    });
    assert.equal(none.status, 404);
  });

  it('deletes every match at once', async () => {
    assert.equal(await count('gender=other'), 2);
    const res = await server.fhir('/Patient?gender=other', { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(await count('gender=other'), 0);
    const none = await server.fhir('/Patient?gender=other', { method: 'DELETE' });
    assert.equal(none.status, 200);
    const bare = await server.fhir('/Patient', { method: 'DELETE' });
    assert.equal(bare.status, 400);
  });
});
