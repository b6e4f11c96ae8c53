import assert from 'node:assert/strict';
import type { Bundle, Observation, OperationOutcome } from 'fhir/r4.js';
import { startServer, type FhirInit, type RunningServer } from './harness.js';

const loinc = 'http://loinc.org';

function observation(
  id: string,
  patient: string,
  code: string,
  when: string,
  value: number,
  unit = 'mmol/L',
): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
        ],
      },
    ],
    code: { coding: [{ system: loinc, code }], text: code === '2345-7' ? 'Glucose' : 'Hemoglobin' },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: when,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

describe('FHIR search over HTTP', function () {
  let server: RunningServer;
  const ids = async (path: string, init?: FhirInit): Promise<string[]> => {
    const res = await server.fhir(path, init);
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    const bundle = (await res.json()) as Bundle;
    assert.equal(bundle.type, 'searchset');
    return (bundle.entry ?? [])
      .filter((e) => e.search?.mode === 'match')
      .map((e) => e.resource?.id ?? '')
      .sort();
  };

  before(async () => {
    server = await startServer();
    const put = async (resource: { resourceType: string; id?: string }): Promise<void> => {
      const res = await server.fhir(`/${resource.resourceType}/${resource.id ?? ''}`, {
        method: 'PUT',
        json: resource,
      });
      assert.ok(res.status < 300, await res.text());
    };
    await put({
      resourceType: 'Patient',
      id: 'ann',
      name: [{ family: 'Lee', given: ['Ann'] }],
      gender: 'female',
      birthDate: '1970-03-04',
    } as never);
    await put({
      resourceType: 'Patient',
      id: 'bo',
      name: [{ family: 'Brönsted', given: ['Bo'] }],
      gender: 'male',
      birthDate: '1985-11-30',
    } as never);
    await put(observation('g1', 'ann', '2345-7', '2024-01-10T08:00:00Z', 5.4));
    await put(observation('g2', 'bo', '2345-7', '2024-02-01T09:30:00Z', 7.9));
    await put(observation('g3', 'ann', '2345-7', '2024-03-05T07:15:00Z', 98, 'mg/dL'));
    await put(observation('h1', 'ann', '718-7', '2024-01-10T08:00:00Z', 13.5, 'g/dL'));
  });
  after(async () => {
    await server.stop();
  });

  it('finds codes in a ValueSet (shipped or stored), not in one, and below or above a code', async () => {
    const actCode = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
    for (const [id, code] of [
      ['e-amb', 'AMB'],
      ['e-imp', 'IMP'],
      ['e-acute', 'ACUTE'],
    ] as const) {
      const res = await server.fhir(`/Encounter/${id}`, {
        method: 'PUT',
        json: { resourceType: 'Encounter', id, status: 'finished', class: { system: actCode, code } },
      });
      assert.ok(res.status < 300, await res.text());
    }
    const glucose = 'http://example.org/fhir/ValueSet/glucose';
    const stored = await server.fhir('/ValueSet/glucose', {
      method: 'PUT',
      json: {
        resourceType: 'ValueSet',
        id: 'glucose',
        url: glucose,
        status: 'active',
        compose: { include: [{ system: loinc, concept: [{ code: '2345-7' }] }] },
      },
    });
    assert.ok(stored.status < 300, await stored.text());
    const q = encodeURIComponent;
    assert.deepEqual(await ids(`/Encounter?class:below=${q(`${actCode}|IMP`)}`), ['e-acute', 'e-imp']);
    assert.deepEqual(await ids(`/Encounter?class:above=${q(`${actCode}|ACUTE`)}`), ['e-acute', 'e-imp']);
    assert.deepEqual(await ids(`/Encounter?class:below=${q(`${actCode}|_ActEncounterCode`)}`), [
      'e-acute',
      'e-amb',
      'e-imp',
    ]);
    assert.deepEqual(
      await ids(`/Observation?status:in=${q('http://hl7.org/fhir/ValueSet/observation-status')}`),
      ['g1', 'g2', 'g3', 'h1'],
    );
    assert.deepEqual(await ids(`/Observation?code:in=${q(glucose)}`), ['g1', 'g2', 'g3']);
    assert.deepEqual(await ids(`/Observation?code:not-in=${q(glucose)}`), ['h1']);
    const unknown = await server.fhir(
      `/Observation?code:in=${q('http://example.org/fhir/ValueSet/nothing')}`,
    );
    assert.equal(unknown.status, 400);
    const noHierarchy = await server.fhir(`/Observation?code:below=${q(`${loinc}|2345-7`)}`);
    assert.equal(noHierarchy.status, 400);
    assert.deepEqual(((await noHierarchy.json()) as OperationOutcome).issue[0]?.expression, ['code:below']);
  });

  it('searches a part-of hierarchy with :below and :above on a reference', async () => {
    const put = async (resource: { resourceType: string; id: string }): Promise<void> => {
      const res = await server.fhir(`/${resource.resourceType}/${resource.id}`, {
        method: 'PUT',
        json: resource,
      });
      assert.ok(res.status < 300, await res.text());
    };
    await put({ resourceType: 'Location', id: 'hospital', name: 'Hospital' } as never);
    await put({
      resourceType: 'Location',
      id: 'ward-a',
      partOf: { reference: 'Location/hospital' },
    } as never);
    await put({ resourceType: 'Location', id: 'room-1', partOf: { reference: 'Location/ward-a' } } as never);
    await put({ resourceType: 'Location', id: 'clinic' });
    for (const [id, at] of [
      ['v-hospital', 'hospital'],
      ['v-ward', 'ward-a'],
      ['v-room', 'room-1'],
      ['v-clinic', 'clinic'],
    ] as const) {
      await put({
        resourceType: 'Encounter',
        id,
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        location: [{ location: { reference: `Location/${at}` } }],
      } as never);
    }
    assert.deepEqual(await ids('/Location?partof:below=Location/hospital'), ['room-1', 'ward-a']);
    assert.deepEqual(await ids('/Encounter?location:below=Location/ward-a'), ['v-room', 'v-ward']);
    assert.deepEqual(await ids('/Encounter?location:above=Location/room-1'), [
      'v-hospital',
      'v-room',
      'v-ward',
    ]);
    assert.deepEqual(await ids('/Encounter?location:below=clinic'), ['v-clinic']);
    const noHierarchy = await server.fhir('/Observation?performer:below=Practitioner/p1');
    assert.equal(noHierarchy.status, 400);
  });

  it('finds by token, with and without system', async () => {
    assert.deepEqual(await ids('/Observation?code=2345-7'), ['g1', 'g2', 'g3']);
    assert.deepEqual(await ids(`/Observation?code=${encodeURIComponent(`${loinc}|718-7`)}`), ['h1']);
    assert.deepEqual(await ids('/Patient?gender=male'), ['bo']);
  });

  it('finds by string prefix regardless of case and accents', async () => {
    assert.deepEqual(await ids('/Patient?name=bronst'), ['bo']);
    assert.deepEqual(await ids('/Patient?family:exact=Lee'), ['ann']);
  });

  it('finds by reference, by date range and by a chain', async () => {
    assert.deepEqual(await ids('/Observation?subject=Patient/ann'), ['g1', 'g3', 'h1']);
    assert.deepEqual(await ids('/Observation?patient=bo'), ['g2']);
    assert.deepEqual(await ids('/Observation?date=ge2024-01-15&date=lt2024-03'), ['g2']);
    assert.deepEqual(await ids('/Observation?date=2024-01-10'), ['g1', 'h1']);
    assert.deepEqual(await ids('/Observation?subject:Patient.name=lee&code=718-7'), ['h1']);
    assert.deepEqual(await ids('/Patient?_has:Observation:subject:code=718-7'), ['ann']);
  });

  it('compares quantities across UCUM units', async () => {
    // 98 mg/dL of glucose is a different dimension from mmol/L; 5.4 and 7.9 mmol/L compare directly
    assert.deepEqual(
      await ids(`/Observation?value-quantity=${encodeURIComponent('gt6|http://unitsofmeasure.org|mmol/L')}`),
      ['g2'],
    );
    assert.deepEqual(
      await ids(
        `/Observation?value-quantity=${encodeURIComponent('lt0.006|http://unitsofmeasure.org|mol/L')}`,
      ),
      ['g1'],
    );
  });

  it('matches composite parameters on one combination', async () => {
    const query = (v: string): string => `/Observation?code-value-quantity=${encodeURIComponent(v)}`;
    assert.deepEqual(await ids(query(`${loinc}|2345-7$gt6|http://unitsofmeasure.org|mmol/L`)), ['g2']);
    assert.deepEqual(await ids(query(`${loinc}|718-7$gt6|http://unitsofmeasure.org|mmol/L`)), []);
    assert.deepEqual(await ids(`${query(`${loinc}|2345-7$lt6`)}&subject=Patient/ann`), ['g1']);
  });

  it('sorts and pages with next links until the end, with a total', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/Observation?_sort=-date&_count=2&_total=accurate';
    let total: number | undefined;
    while (path) {
      const bundle = (await (await server.fhir(path)).json()) as Bundle;
      total ??= bundle.total;
      seen.push(...(bundle.entry ?? []).map((e) => e.resource?.id ?? ''));
      path = bundle.link?.find((l) => l.relation === 'next')?.url.replace('http://localhost/fhir', '');
    }
    assert.equal(total, 4);
    assert.deepEqual(seen.slice(0, 2), ['g3', 'g2']);
    assert.deepEqual(seen.slice(2).sort(), ['g1', 'h1']);
  });

  it('pages back with previous links to the same first page', async () => {
    const link = (bundle: Bundle, relation: string): string | undefined =>
      bundle.link?.find((l) => l.relation === relation)?.url.replace('http://localhost/fhir', '');
    const first = (await (await server.fhir('/Observation?_sort=-date&_count=2')).json()) as Bundle;
    assert.equal(link(first, 'previous'), undefined);
    const second = (await (await server.fhir(link(first, 'next') ?? '')).json()) as Bundle;
    const back = (await (await server.fhir(link(second, 'previous') ?? '')).json()) as Bundle;
    assert.deepEqual(
      back.entry?.map((e) => e.resource?.id),
      first.entry?.map((e) => e.resource?.id),
    );
    assert.equal(link(back, 'previous'), undefined);
    assert.ok(link(back, 'next'));
  });

  it('answers POST _search with a form body like GET', async () => {
    const body = new URLSearchParams({ code: '2345-7', subject: 'Patient/ann' }).toString();
    assert.deepEqual(
      await ids('/Observation/_search', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }),
      ['g1', 'g3'],
    );
  });

  it('includes referenced resources and counts with _summary=count', async () => {
    const bundle = (await (
      await server.fhir('/Observation?code=718-7&_include=Observation:subject')
    ).json()) as Bundle;
    assert.deepEqual(
      bundle.entry?.map((e) => [e.search?.mode, e.resource?.id]),
      [
        ['match', 'h1'],
        ['include', 'ann'],
      ],
    );
    const count = (await (await server.fhir('/Observation?_summary=count')).json()) as Bundle;
    assert.equal(count.total, 4);
    assert.equal(count.entry?.length ?? 0, 0);
  });

  it('searches several types at once at system level', async () => {
    assert.deepEqual(await ids('/?_type=Patient,Observation&_id=bo,h1'), ['bo', 'h1']);
    // with no filter: every resource of the types named, or of every type
    const patients = await ids('/Patient?_count=1000');
    const observations = await ids('/Observation?_count=1000');
    assert.deepEqual(
      await ids('/?_type=Patient,Observation&_count=1000'),
      [...patients, ...observations].sort(),
    );
    const everything = await ids('/?_count=1000');
    assert.ok([...patients, ...observations].every((id) => everything.includes(id)));
    assert.deepEqual(
      await ids('/?_type=Patient,Observation&_count=1000&_sort=_id'),
      [...patients, ...observations].sort(),
    );
  });

  it('ignores an unknown parameter by default, says so, and refuses it under handling=strict', async () => {
    const bundle = (await (await server.fhir('/Patient?colour=blue&gender=male')).json()) as Bundle;
    const outcome = bundle.entry?.find((e) => e.search?.mode === 'outcome')?.resource as
      OperationOutcome | undefined;
    assert.deepEqual(outcome?.issue[0]?.expression, ['colour']);
    assert.ok(!bundle.link?.find((l) => l.relation === 'self')?.url.includes('colour'));
    const strict = await server.fhir('/Patient?colour=blue', { headers: { Prefer: 'handling=strict' } });
    assert.equal(strict.status, 400);
  });

  it('answers a malformed value with 400 naming the parameter', async () => {
    for (const query of [
      'birthdate=1970-13-01',
      'code:nonsense=1',
      'value-quantity=gtfive',
      '_count=-3',
      '_sort=colour',
    ]) {
      const res = await server.fhir(
        `/Observation?${query}`.replace('/Observation?birthdate', '/Patient?birthdate'),
      );
      assert.equal(res.status, 400, query);
      const outcome = (await res.json()) as OperationOutcome;
      assert.ok(outcome.issue[0]?.expression?.[0], query);
    }
  });

  it('finds words anywhere in a resource (_content) or in its narrative (_text)', async () => {
    assert.deepEqual(await ids('/Observation?_content=hemoglobin'), ['h1']);
    assert.deepEqual(await ids('/Patient?_content=Brönsted'), ['bo']);
    assert.deepEqual(await ids('/Patient?_content=bronsted,lee'), ['ann', 'bo']);
    await server.fhir('/Patient/tx', {
      method: 'PUT',
      json: {
        resourceType: 'Patient',
        id: 'tx',
        text: {
          status: 'generated',
          div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Allergic to <b>penicillin</b></p></div>',
        },
      },
    });
    assert.deepEqual(await ids('/Patient?_text=penicillin'), ['tx']);
    assert.deepEqual(await ids('/Patient?_text=allergic%20penicillin'), ['tx']);
    assert.deepEqual(await ids('/Patient?_text=Lee'), []);
    await server.fhir('/Patient/tx', { method: 'DELETE' });
    assert.deepEqual(await ids('/Patient?_text=penicillin'), []);
  });

  it('searches within a patient compartment', async () => {
    assert.deepEqual(await ids('/Patient/ann/Observation'), ['g1', 'g3', 'h1']);
    assert.deepEqual(await ids('/Patient/ann/Observation?code=718-7'), ['h1']);
    assert.deepEqual(await ids('/Patient/ann/Patient'), ['ann']);
    assert.equal((await server.fhir('/Patient/ann/Practitioner')).status, 400);
    assert.equal((await server.fhir('/Device/d1/Observation')).status, 404);
  });

  it('forgets what an update or delete removed', async () => {
    await server.fhir('/Patient/bo', {
      method: 'PUT',
      json: { resourceType: 'Patient', id: 'bo', gender: 'other' },
    });
    assert.deepEqual(await ids('/Patient?gender=male'), []);
    await server.fhir('/Observation/g2', { method: 'DELETE' });
    assert.deepEqual(await ids('/Observation?code=2345-7'), ['g1', 'g3']);
  });
});
