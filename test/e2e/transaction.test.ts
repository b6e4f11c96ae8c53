import assert from 'node:assert/strict';
import type { Bundle, BundleEntry, Observation, OperationOutcome, Patient, Resource } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

const mrn = 'http://hospital.example.org/mrn';
const loinc = 'http://loinc.org';

const patient = (value: string, extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: mrn, value }],
  name: [{ family: 'Lovelace', given: ['Ada'] }],
  gender: 'female',
  ...extra,
});

const observation = (subject: string, code = '2345-7', value = 5.4): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: loinc, code }] },
  subject: { reference: subject },
  valueQuantity: { value, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
});

type Entry = BundleEntry;
const post = (resource: Resource, fullUrl?: string, ifNoneExist?: string): Entry => {
  const entry: Entry = {
    resource: resource as Entry['resource'],
    request: { method: 'POST', url: resource.resourceType },
  };
  if (fullUrl !== undefined) entry.fullUrl = fullUrl;
  if (ifNoneExist !== undefined && entry.request) entry.request.ifNoneExist = ifNoneExist;
  return entry;
};
/** A reply is a Bundle or, on failure, an OperationOutcome. */
type Reply = Omit<Bundle, 'resourceType'> & Omit<OperationOutcome, 'resourceType'> & { resourceType: string };

const bundle = (type: 'transaction' | 'batch', entry: Entry[]): Bundle => ({
  resourceType: 'Bundle',
  type,
  entry,
});

describe('batch and transaction Bundles over HTTP', function () {
  this.timeout(60000);
  let server: RunningServer;
  before(async () => {
    server = await startServer({ FERRY_BUNDLE_MAX_ENTRIES: '500' });
  });
  after(async () => {
    await server.stop();
  });

  const send = async (
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Reply }> => {
    const res = await server.fhir('', { method: 'POST', json: body, headers });
    return { status: res.status, body: (await res.json()) as Reply };
  };
  const read = async <T extends Resource>(reference: string): Promise<T> => {
    const res = await server.fhir(`/${reference}`);
    assert.equal(res.status, 200, reference);
    return (await res.json()) as T;
  };
  const total = async (query: string): Promise<number> => {
    const res = await server.fhir(`/${query}${query.includes('?') ? '&' : '?'}_total=accurate`);
    return ((await res.json()) as Bundle).total ?? -1;
  };
  const idOf = (entry: Entry | undefined): string => {
    const location = entry?.response?.location ?? '';
    const [type, id] = location.split('/');
    return `${type ?? ''}/${id ?? ''}`;
  };

  it('creates resources that reference each other by urn:uuid and answers in request order', async () => {
    const p = 'urn:uuid:8a1f8c39-5a0b-4b7c-9d83-0f4c1e3f1a01';
    const { status, body } = await send(
      bundle('transaction', [post(observation(p), 'urn:uuid:obs-1'), post(patient('tx-1'), p)]),
    );
    assert.equal(status, 200);
    assert.equal(body.type, 'transaction-response');
    const [obsEntry, patEntry] = body.entry ?? [];
    assert.equal(obsEntry?.response?.status, '201 Created');
    assert.match(obsEntry.response.location ?? '', /^Observation\/[^/]+\/_history\/1$/);
    assert.equal(obsEntry.response.etag, 'W/"1"');
    assert.ok(obsEntry.response.lastModified);
    assert.match(patEntry?.response?.location ?? '', /^Patient\//);
    const stored = await read<Observation>(idOf(obsEntry));
    assert.equal(stored.subject?.reference, idOf(patEntry));
  });

  it('rewrites references at any depth: nested, in extensions, contained and in the narrative', async () => {
    const p = 'urn:uuid:0b7c5c1e-0000-4000-8000-000000000001';
    const obs: Observation = {
      ...observation(p),
      text: {
        status: 'generated',
        div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${p}">patient</a></div>`,
      },
      extension: [{ url: 'http://example.org/focus', valueReference: { reference: p } }],
      performer: [{ reference: '#lab' }],
      contained: [
        {
          resourceType: 'Organization',
          id: 'lab',
          name: 'Lab',
          extension: [{ url: 'http://example.org/patient', valueReference: { reference: p } }],
        },
      ],
      component: [
        {
          code: { text: 'part' },
          valueString: 'x',
          extension: [{ url: 'http://example.org/deep', valueReference: { reference: p } }],
        },
      ],
    };
    const { status, body } = await send(bundle('transaction', [post(patient('tx-deep'), p), post(obs)]));
    assert.equal(status, 200, JSON.stringify(body));
    const patientRef = idOf(body.entry?.[0]);
    const stored = await read<Observation>(idOf(body.entry?.[1]));
    assert.equal(stored.extension?.[0]?.valueReference?.reference, patientRef);
    assert.equal(stored.component?.[0]?.extension?.[0]?.valueReference?.reference, patientRef);
    const contained = stored.contained?.[0] as { extension?: { valueReference?: { reference?: string } }[] };
    assert.equal(contained.extension?.[0]?.valueReference?.reference, patientRef);
    assert.ok(stored.text?.div.includes(`href="${patientRef}"`), stored.text?.div);
    assert.equal(stored.performer?.[0]?.reference, '#lab');
  });

  it('processes DELETE, then POST, then PUT/PATCH, then GET whatever the entry order', async () => {
    const doomed = idOf((await send(bundle('transaction', [post(patient('order-2'))]))).body.entry?.[0]);
    const existing = await read<Patient>(
      idOf((await send(bundle('transaction', [post(patient('order-1'))]))).body.entry?.[0]),
    );
    const { status, body } = await send(
      bundle('transaction', [
        { request: { method: 'GET', url: `Patient/${existing.id ?? ''}` } },
        {
          resource: { ...existing, gender: 'other' },
          request: { method: 'PUT', url: `Patient/${existing.id ?? ''}` },
        },
        // deleted first, so the conditional create below finds nothing and creates
        post(patient('order-2'), undefined, `identifier=${mrn}|order-2`),
        { request: { method: 'DELETE', url: `Patient?identifier=${mrn}|order-2` } },
      ]),
    );
    assert.equal(status, 200, JSON.stringify(body));
    const [get, put, create] = body.entry ?? [];
    assert.equal((get?.resource as Patient).gender, 'other', 'the GET sees the PUT');
    assert.equal(put?.response?.status, '200 OK');
    assert.equal(create?.response?.status, '201 Created');
    assert.notEqual(idOf(create), doomed);
    assert.equal((await server.fhir(`/${doomed}`)).status, 410);
    assert.equal(await total(`Patient?identifier=${mrn}|order-2`), 1);
  });

  it('writes nothing when the last entry fails, and names that entry', async () => {
    const before = await total(`Patient?identifier=${mrn}|rollback`);
    const { status, body } = await send(
      bundle('transaction', [
        post(patient('rollback')),
        post(observation('Patient/unknown-but-fine')),
        post({ resourceType: 'Patient', gender: 'not-a-gender' } as unknown as Patient),
      ]),
    );
    assert.equal(status, 422);
    assert.equal(body.resourceType, 'OperationOutcome');
    assert.match(body.issue[0]?.diagnostics ?? '', /^Bundle\.entry\[2\]/);
    assert.ok(
      body.issue.some((i) => i.expression?.[0]?.startsWith('Bundle.entry[2].resource.gender')),
      JSON.stringify(body),
    );
    assert.equal(await total(`Patient?identifier=${mrn}|rollback`), before);
    assert.equal(await total('Observation?subject=Patient/unknown-but-fine'), 0);
  });

  it('rolls back when an If-Match in the last entry is stale', async () => {
    const created = (await send(bundle('transaction', [post(patient('stale-1'))]))).body;
    const p = await read<Patient>(idOf(created.entry?.[0]));
    const { status, body } = await send(
      bundle('transaction', [
        post(patient('stale-2')),
        {
          resource: { ...p, active: true },
          request: { method: 'PUT', url: `Patient/${p.id ?? ''}`, ifMatch: 'W/"7"' },
        },
      ]),
    );
    assert.equal(status, 412, JSON.stringify(body));
    assert.match(body.issue[0]?.diagnostics ?? '', /^Bundle\.entry\[1\]/);
    assert.equal(await total(`Patient?identifier=${mrn}|stale-2`), 0);
  });

  it('resolves conditional references to exactly one stored match', async () => {
    await send(bundle('transaction', [post(patient('cond-ref-1'))]));
    const { status, body } = await send(
      bundle('transaction', [post(observation(`Patient?identifier=${mrn}|cond-ref-1`))]),
    );
    assert.equal(status, 200, JSON.stringify(body));
    const obs = await read<Observation>(idOf(body.entry?.[0]));
    const matches = (await (await server.fhir(`/Patient?identifier=${mrn}|cond-ref-1`)).json()) as Bundle;
    assert.equal(obs.subject?.reference, `Patient/${matches.entry?.[0]?.resource?.id ?? ''}`);

    const none = await send(bundle('transaction', [post(observation(`Patient?identifier=${mrn}|nobody`))]));
    assert.equal(none.status, 404);
    assert.match(none.body.issue[0]?.diagnostics ?? '', /matches no Patient/);

    await send(bundle('transaction', [post(patient('twin')), post(patient('twin'))]));
    const several = await send(bundle('transaction', [post(observation(`Patient?identifier=${mrn}|twin`))]));
    assert.equal(several.status, 412);
  });

  it('resolves a conditional reference to a Patient conditionally created in the same Bundle', async () => {
    const { status, body } = await send(
      bundle('transaction', [
        post(observation(`Patient?identifier=${mrn}|same-bundle`)),
        post(patient('same-bundle'), 'urn:uuid:sb', `identifier=${mrn}|same-bundle`),
      ]),
    );
    assert.equal(status, 200, JSON.stringify(body));
    const obs = await read<Observation>(idOf(body.entry?.[0]));
    assert.equal(obs.subject?.reference, idOf(body.entry?.[1]));
  });

  it('refuses two entries touching the same resource', async () => {
    const created = (await send(bundle('transaction', [post(patient('twice'))]))).body;
    const ref = idOf(created.entry?.[0]);
    const { status, body } = await send(
      bundle('transaction', [
        { request: { method: 'DELETE', url: ref } },
        { resource: { ...(await read<Patient>(ref)), active: true }, request: { method: 'PUT', url: ref } },
      ]),
    );
    assert.equal(status, 400);
    assert.match(body.issue[0]?.diagnostics ?? '', /both touch/);
    assert.equal((await server.fhir(`/${ref}`)).status, 200);
  });

  it('refuses a urn:uuid reference that no entry names', async () => {
    const { status, body } = await send(bundle('transaction', [post(observation('urn:uuid:missing'))]));
    assert.equal(status, 400);
    assert.deepEqual(body.issue[0]?.expression, ['Bundle.entry[0].resource']);
  });

  it('creates one Patient when two transactions conditionally create it at once', async () => {
    const tx = (): Bundle =>
      bundle('transaction', [
        post(patient('race-tx'), 'urn:uuid:race', `identifier=${mrn}|race-tx`),
        post(observation('urn:uuid:race')),
      ]);
    const results = await Promise.all(Array.from({ length: 6 }, () => send(tx())));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(6).fill(200),
    );
    assert.equal(await total(`Patient?identifier=${mrn}|race-tx`), 1);
    const patients = new Set(results.map((r) => idOf(r.body.entry?.[0])));
    assert.equal(patients.size, 1);
    const [patientRef] = [...patients];
    assert.equal(await total(`Observation?subject=${patientRef ?? ''}`), 6);
  });

  it('keeps batch entries independent, each with its own status', async () => {
    const { status, body } = await send(
      bundle('batch', [
        post(patient('batch-ok')),
        post({ resourceType: 'Patient', birthDate: '2020-02-30' } as Patient),
        { request: { method: 'GET', url: 'Patient/no-such-patient' } },
        { request: { method: 'GET', url: `Patient?identifier=${mrn}|batch-ok` } },
        { request: { method: 'FETCH', url: 'Patient' } } as unknown as Entry,
      ]),
    );
    assert.equal(status, 200);
    assert.equal(body.type, 'batch-response');
    const statuses = body.entry?.map((e) => e.response?.status);
    assert.deepEqual(statuses, [
      '201 Created',
      '422 Unprocessable Entity',
      '404 Not Found',
      '200 OK',
      '400 Bad Request',
    ]);
    assert.equal(body.entry?.[1]?.response?.outcome?.resourceType, 'OperationOutcome');
    assert.equal(await total(`Patient?identifier=${mrn}|batch-ok`), 1);
    assert.equal((body.entry[3]?.resource as Bundle).type, 'searchset');
  });

  it('returns the resources with Prefer: return=representation, and none by default', async () => {
    const minimal = await send(bundle('transaction', [post(patient('prefer-1'))]));
    assert.equal(minimal.body.entry?.[0]?.resource, undefined);
    const full = await send(bundle('transaction', [post(patient('prefer-2'))]), {
      Prefer: 'return=representation',
    });
    assert.equal((full.body.entry?.[0]?.resource as Patient).identifier?.[0]?.value, 'prefer-2');
    const outcome = await send(bundle('batch', [post(patient('prefer-3'))]), {
      Prefer: 'return=OperationOutcome',
    });
    assert.equal(outcome.body.entry?.[0]?.response?.outcome?.resourceType, 'OperationOutcome');
  });

  it('patches inside a transaction with JSON Patch (Binary) and FHIRPath Patch (Parameters)', async () => {
    const ref = idOf((await send(bundle('transaction', [post(patient('patch-1'))]))).body.entry?.[0]);
    const ref2 = idOf((await send(bundle('transaction', [post(patient('patch-2'))]))).body.entry?.[0]);
    const jsonPatch = [{ op: 'replace', path: '/gender', value: 'male' }];
    const { status, body } = await send(
      bundle('transaction', [
        {
          resource: {
            resourceType: 'Binary',
            contentType: 'application/json-patch+json',
            data: Buffer.from(JSON.stringify(jsonPatch)).toString('base64'),
          },
          request: { method: 'PATCH', url: ref },
        },
        {
          resource: {
            resourceType: 'Parameters',
            parameter: [
              {
                name: 'operation',
                part: [
                  { name: 'type', valueCode: 'replace' },
                  { name: 'path', valueString: 'Patient.name[0].family' },
                  { name: 'value', valueString: 'Byron' },
                ],
              },
            ],
          },
          request: { method: 'PATCH', url: ref2 },
        },
      ]),
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal((await read<Patient>(ref)).gender, 'male');
    assert.equal((await read<Patient>(ref2)).name?.[0]?.family, 'Byron');
  });

  it('stores a Synthea-style patient record of 301 entries linked by urn:uuid', async () => {
    const p = 'urn:uuid:f0000000-0000-4000-8000-000000000000';
    const entries: Entry[] = [post(patient('synthea-1'), p)];
    for (let i = 0; i < 100; i++) {
      const enc = `urn:uuid:e${String(i).padStart(7, '0')}-0000-4000-8000-000000000000`;
      entries.push(
        post(
          {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
            subject: { reference: p },
            period: { start: `2020-01-${String((i % 28) + 1).padStart(2, '0')}T09:00:00Z` },
          } as Resource,
          enc,
        ),
        post({ ...observation(p, '2345-7', 4 + i / 100), encounter: { reference: enc } } as Observation),
        post({
          resourceType: 'Condition',
          subject: { reference: p },
          encounter: { reference: enc },
          code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
        } as Resource),
      );
    }
    const { status, body } = await send(bundle('transaction', entries));
    assert.equal(status, 200, JSON.stringify(body).slice(0, 500));
    assert.equal(body.entry?.length, 301);
    const patientRef = idOf(body.entry[0]);
    const [, patientId] = patientRef.split('/');
    assert.equal(await total(`Patient/${patientId ?? ''}/Observation`), 100);
    assert.equal(await total(`Encounter?subject=${patientRef}`), 100);
    assert.equal(await total(`Condition?patient=${patientRef}`), 100);
    const obs = await read<Observation>(idOf(body.entry[2]));
    assert.equal(obs.encounter?.reference, idOf(body.entry[1]));
  });

  it('answers 413 for a Bundle over the entry limit, 400 for other Bundle types', async () => {
    const big = await send(
      bundle(
        'batch',
        Array.from({ length: 501 }, () => ({ request: { method: 'GET', url: 'Patient' } })),
      ),
    );
    assert.equal(big.status, 413);
    const document = await send({ resourceType: 'Bundle', type: 'document', entry: [] });
    assert.equal(document.status, 400);
    assert.deepEqual(document.body.issue[0]?.expression, ['Bundle.type']);
  });

  it('stores document, message and collection Bundles as resources at /Bundle', async () => {
    const doc: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ fullUrl: 'urn:uuid:c1', resource: patient('in-collection') }],
    };
    const res = await server.fhir('/Bundle', { method: 'POST', json: doc });
    assert.equal(res.status, 201);
    assert.equal(
      await total(`Patient?identifier=${mrn}|in-collection`),
      0,
      'a stored Bundle does not create its entries',
    );
  });
});

describe('transaction entries under an enforced profile', function () {
  this.timeout(60000);
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      FERRY_PROFILES: 'Observation=http://ferry.example.org/fhir/StructureDefinition/ferry-lab-result',
    });
  });
  after(async () => {
    await server.stop();
  });

  it('validates each entry against the profile exactly as a standalone write', async () => {
    const noSubject: Observation = observation('Patient/x');
    delete noSubject.subject;
    const standalone = await server.fhir('/Observation', { method: 'POST', json: noSubject });
    assert.equal(standalone.status, 422);
    const res = await server.fhir('', {
      method: 'POST',
      json: bundle('transaction', [post(patient('profiled')), post(noSubject)]),
    });
    assert.equal(res.status, 422);
    const outcome = (await res.json()) as OperationOutcome;
    assert.match(outcome.issue[0]?.diagnostics ?? '', /^Bundle\.entry\[1\]/);
    assert.ok(
      outcome.issue.some((i) => i.expression?.some((e) => e.startsWith('Bundle.entry[1].resource'))),
      JSON.stringify(outcome),
    );
  });
});
