import assert from 'node:assert/strict';
import type { Bundle, OperationOutcome, Patient } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

const patient = (extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  name: [{ family: 'Lee', given: ['Ann'] }],
  gender: 'female',
  birthDate: '1970-03-04',
  ...extra,
});

async function outcomeOf(res: Response): Promise<OperationOutcome> {
  assert.match(res.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  const body = (await res.json()) as OperationOutcome;
  assert.equal(body.resourceType, 'OperationOutcome');
  return body;
}

describe('FHIR REST over HTTP', function () {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  describe('create, read, vread, update, delete', () => {
    it('creates with a server-assigned id and answers 201 with Location, ETag and Last-Modified', async () => {
      const res = await server.fhir('/Patient', { method: 'POST', json: patient({ id: 'ignored' }) });
      assert.equal(res.status, 201);
      const body = (await res.json()) as Patient;
      assert.notEqual(body.id, 'ignored');
      assert.equal(body.meta?.versionId, '1');
      assert.equal(res.headers.get('etag'), 'W/"1"');
      assert.equal(res.headers.get('location'), `http://localhost/fhir/Patient/${body.id}/_history/1`);
      assert.equal(res.headers.get('last-modified'), new Date(body.meta.lastUpdated ?? '').toUTCString());
      const read = await server.fhir(`/Patient/${body.id}`);
      assert.equal(read.status, 200);
      assert.deepEqual(await read.json(), body);
    });

    it('updates as create, then versions each change, keeping every version readable', async () => {
      const created = await server.fhir('/Patient/upd-1', { method: 'PUT', json: patient({ id: 'upd-1' }) });
      assert.equal(created.status, 201);
      const updated = await server.fhir('/Patient/upd-1', {
        method: 'PUT',
        json: patient({ id: 'upd-1', gender: 'other' }),
      });
      assert.equal(updated.status, 200);
      assert.equal(updated.headers.get('etag'), 'W/"2"');
      const v1 = (await (await server.fhir('/Patient/upd-1/_history/1')).json()) as Patient;
      const v2 = (await (await server.fhir('/Patient/upd-1/_history/2')).json()) as Patient;
      assert.equal(v1.gender, 'female');
      assert.equal(v2.gender, 'other');
      assert.equal((await server.fhir('/Patient/upd-1/_history/3')).status, 404);
      assert.equal((await server.fhir('/Patient/upd-1/_history/x')).status, 404);
    });

    it('writes no new version when an update changes nothing', async () => {
      await server.fhir('/Patient/same', { method: 'PUT', json: patient({ id: 'same' }) });
      const again = await server.fhir('/Patient/same', { method: 'PUT', json: patient({ id: 'same' }) });
      assert.equal(again.status, 200);
      assert.equal(again.headers.get('etag'), 'W/"1"');
    });

    it('honours If-Match with 412 on a stale version', async () => {
      await server.fhir('/Patient/im', { method: 'PUT', json: patient({ id: 'im' }) });
      const stale = await server.fhir('/Patient/im', {
        method: 'PUT',
        headers: { 'If-Match': 'W/"7"' },
        json: patient({ id: 'im', gender: 'male' }),
      });
      assert.equal(stale.status, 412);
      assert.equal((await outcomeOf(stale)).issue[0]?.code, 'conflict');
      const fresh = await server.fhir('/Patient/im', {
        method: 'PUT',
        headers: { 'If-Match': 'W/"1"' },
        json: patient({ id: 'im', gender: 'male' }),
      });
      assert.equal(fresh.status, 200);
      const bad = await server.fhir('/Patient/im', {
        method: 'PUT',
        headers: { 'If-Match': 'yesterday' },
        json: patient({ id: 'im' }),
      });
      assert.equal(bad.status, 400);
    });

    it('gives exactly one winner when two clients update the same version with If-Match', async () => {
      await server.fhir('/Patient/race', { method: 'PUT', json: patient({ id: 'race' }) });
      const attempts = await Promise.all(
        ['male', 'other', 'unknown'].map((gender) =>
          server.fhir('/Patient/race', {
            method: 'PUT',
            headers: { 'If-Match': 'W/"1"' },
            json: patient({ id: 'race', gender: gender as Patient['gender'] }),
          }),
        ),
      );
      assert.deepEqual(attempts.map((r) => r.status).sort(), [200, 412, 412]);
    });

    it('deletes to a tombstone: 410 on read, the old version still readable, delete again is fine', async () => {
      await server.fhir('/Patient/del', { method: 'PUT', json: patient({ id: 'del' }) });
      const del = await server.fhir('/Patient/del', { method: 'DELETE' });
      assert.equal(del.status, 200);
      assert.equal(del.headers.get('etag'), 'W/"2"');
      const gone = await server.fhir('/Patient/del');
      assert.equal(gone.status, 410);
      assert.equal((await outcomeOf(gone)).issue[0]?.code, 'deleted');
      assert.equal((await server.fhir('/Patient/del/_history/1')).status, 200);
      assert.equal((await server.fhir('/Patient/del/_history/2')).status, 410);
      assert.equal((await server.fhir('/Patient/del', { method: 'DELETE' })).status, 200);
      const revived = await server.fhir('/Patient/del', { method: 'PUT', json: patient({ id: 'del' }) });
      assert.equal(revived.status, 201);
      assert.equal(revived.headers.get('etag'), 'W/"3"');
    });

    it('answers Prefer: return=minimal and return=OperationOutcome', async () => {
      const minimal = await server.fhir('/Patient', {
        method: 'POST',
        headers: { Prefer: 'return=minimal' },
        json: patient(),
      });
      assert.equal(minimal.status, 201);
      assert.equal(await minimal.text(), '');
      assert.ok(minimal.headers.get('location'));
      const oo = await server.fhir('/Patient', {
        method: 'POST',
        headers: { Prefer: 'return=OperationOutcome' },
        json: patient(),
      });
      assert.equal(oo.status, 201);
      assert.equal((await outcomeOf(oo)).issue[0]?.severity, 'information');
    });
  });

  describe('conditional read', () => {
    it('answers 304 to If-None-Match and If-Modified-Since when nothing changed', async () => {
      const created = await server.fhir('/Patient/cr', { method: 'PUT', json: patient({ id: 'cr' }) });
      const lastModified = created.headers.get('last-modified') ?? '';
      assert.equal((await server.fhir('/Patient/cr', { headers: { 'If-None-Match': 'W/"1"' } })).status, 304);
      assert.equal((await server.fhir('/Patient/cr', { headers: { 'If-None-Match': 'W/"0"' } })).status, 200);
      assert.equal(
        (await server.fhir('/Patient/cr', { headers: { 'If-Modified-Since': lastModified } })).status,
        304,
      );
      assert.equal(
        (
          await server.fhir('/Patient/cr', {
            headers: { 'If-Modified-Since': 'Thu, 01 Jan 2015 00:00:00 GMT' },
          })
        ).status,
        200,
      );
    });
  });

  describe('JSON Patch', () => {
    it('applies a patch as a new version', async () => {
      await server.fhir('/Patient/pt', { method: 'PUT', json: patient({ id: 'pt' }) });
      const res = await server.fhir('/Patient/pt', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json', 'If-Match': 'W/"1"' },
        body: JSON.stringify([
          { op: 'test', path: '/gender', value: 'female' },
          { op: 'replace', path: '/gender', value: 'male' },
          { op: 'add', path: '/name/0/given/-', value: 'Jo' },
        ]),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Patient;
      assert.equal(body.gender, 'male');
      assert.deepEqual(body.name?.[0]?.given, ['Ann', 'Jo']);
      assert.equal(body.meta?.versionId, '2');
    });

    it('refuses a failed test with 422, a malformed patch with 400, a bad result with 422', async () => {
      await server.fhir('/Patient/pt2', { method: 'PUT', json: patient({ id: 'pt2' }) });
      const patch = (ops: unknown): Promise<Response> =>
        server.fhir('/Patient/pt2', {
          method: 'PATCH',
          headers: { 'content-type': 'application/json-patch+json' },
          body: JSON.stringify(ops),
        });
      assert.equal((await patch([{ op: 'test', path: '/gender', value: 'male' }])).status, 422);
      assert.equal((await patch({ op: 'replace' })).status, 400);
      assert.equal((await patch([{ op: 'jump', path: '/gender' }])).status, 400);
      const invalid = await patch([{ op: 'replace', path: '/gender', value: 'robot' }]);
      assert.equal(invalid.status, 422);
      assert.deepEqual((await outcomeOf(invalid)).issue[0]?.expression, ['Patient.gender']);
      assert.equal((await patch([{ op: 'replace', path: '/id', value: 'other' }])).status, 422);
      const unchanged = (await (await server.fhir('/Patient/pt2')).json()) as Patient;
      assert.equal(unchanged.meta?.versionId, '1');
      const wrongType = await server.fhir('/Patient/pt2', {
        method: 'PATCH',
        json: [{ op: 'remove', path: '/gender' }],
      });
      assert.equal(wrongType.status, 415);
    });
  });

  describe('FHIRPath Patch', () => {
    it('applies a Parameters patch sent as application/fhir+json', async () => {
      await server.fhir('/Patient/fp', { method: 'PUT', json: patient({ id: 'fp' }) });
      const res = await server.fhir('/Patient/fp', {
        method: 'PATCH',
        json: {
          resourceType: 'Parameters',
          parameter: [
            {
              name: 'operation',
              part: [
                { name: 'type', valueCode: 'replace' },
                { name: 'path', valueString: 'Patient.gender' },
                { name: 'value', valueCode: 'male' },
              ],
            },
            {
              name: 'operation',
              part: [
                { name: 'type', valueCode: 'add' },
                { name: 'path', valueString: 'Patient' },
                { name: 'name', valueString: 'deceased' },
                { name: 'value', valueBoolean: false },
              ],
            },
          ],
        },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Patient;
      assert.equal(body.gender, 'male');
      assert.equal(body.deceasedBoolean, false);
      assert.equal(body.meta?.versionId, '2');
    });

    it('answers 422 naming the operation when a path matches nothing to replace', async () => {
      await server.fhir('/Patient/fp2', { method: 'PUT', json: patient({ id: 'fp2' }) });
      const res = await server.fhir('/Patient/fp2', {
        method: 'PATCH',
        json: {
          resourceType: 'Parameters',
          parameter: [
            {
              name: 'operation',
              part: [
                { name: 'type', valueCode: 'replace' },
                { name: 'path', valueString: 'Patient.deceasedBoolean' },
                { name: 'value', valueBoolean: true },
              ],
            },
          ],
        },
      });
      assert.equal(res.status, 422);
      assert.deepEqual((await outcomeOf(res)).issue[0]?.expression, ['Parameters.parameter[0]']);
    });
  });

  describe('the audit trail', () => {
    it('refuses every client write to AuditEvent with 405, in a transaction too', async () => {
      const event = {
        resourceType: 'AuditEvent',
        id: 'forged',
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
        recorded: '2026-01-01T00:00:00Z',
        agent: [{ requestor: true }],
        source: { observer: { display: 'x' } },
      };
      const statuses = [
        (await server.fhir('/AuditEvent', { method: 'POST', json: event })).status,
        (await server.fhir('/AuditEvent/forged', { method: 'PUT', json: event })).status,
        (
          await server.fhir('/AuditEvent/forged', {
            method: 'PATCH',
            headers: { 'content-type': 'application/json-patch+json' },
            body: '[]',
          })
        ).status,
        (await server.fhir('/AuditEvent/forged', { method: 'DELETE' })).status,
        (await server.fhir('/AuditEvent?_id=forged', { method: 'DELETE' })).status,
        (
          await server.fhir('', {
            method: 'POST',
            json: {
              resourceType: 'Bundle',
              type: 'transaction',
              entry: [{ resource: event, request: { method: 'POST', url: 'AuditEvent' } }],
            },
          })
        ).status,
      ];
      assert.deepEqual(statuses, [405, 405, 405, 405, 405, 405]);
      assert.equal((await server.fhir('/AuditEvent?_count=1')).status, 200);
    });
  });

  describe('history', () => {
    it('lists instance history newest first with request and response per entry', async () => {
      await server.fhir('/Patient/h1', { method: 'PUT', json: patient({ id: 'h1' }) });
      await server.fhir('/Patient/h1', { method: 'PUT', json: patient({ id: 'h1', gender: 'male' }) });
      await server.fhir('/Patient/h1', { method: 'DELETE' });
      const bundle = (await (await server.fhir('/Patient/h1/_history')).json()) as Bundle;
      assert.equal(bundle.type, 'history');
      assert.deepEqual(
        bundle.entry?.map((e) => [e.request?.method, e.response?.etag]),
        [
          ['DELETE', 'W/"3"'],
          ['PUT', 'W/"2"'],
          ['POST', 'W/"1"'],
        ],
      );
      assert.equal(bundle.entry[0]?.resource, undefined);
    });

    it('pages type and system history with next links and honours _since', async () => {
      const before = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 5; i++)
        await server.fhir('/Observation', {
          method: 'POST',
          json: { resourceType: 'Observation', status: 'final', code: { text: `t${i}` } },
        });
      let url: string | undefined = `/Observation/_history?_count=2&_since=${encodeURIComponent(before)}`;
      const seen: string[] = [];
      while (url) {
        const page = (await (await server.fhir(url)).json()) as Bundle;
        assert.ok((page.entry?.length ?? 0) <= 2);
        for (const e of page.entry ?? []) seen.push(e.fullUrl ?? '');
        const next = page.link?.find((l) => l.relation === 'next')?.url;
        url = next?.replace('http://localhost/fhir', '');
      }
      assert.equal(seen.length, 5);
      assert.equal(new Set(seen).size, 5);
      const system = (await (await server.fhir('/_history?_count=3')).json()) as Bundle;
      assert.equal(system.entry?.length, 3);
    });

    it('refuses bad history parameters with a 400 naming them', async () => {
      for (const [query, name] of [
        ['_since=yesterday', '_since'],
        ['_count=-1', '_count'],
        ['_at=2020', '_at'],
      ] as const) {
        const res = await server.fhir(`/Patient/_history?${query}`);
        assert.equal(res.status, 400, query);
        assert.deepEqual((await outcomeOf(res)).issue[0]?.expression, [name]);
      }
    });
  });

  describe('formats and subsetting', () => {
    it('honours _format, Accept, _pretty, _summary and _elements', async () => {
      await server.fhir('/Patient/fmt', {
        method: 'PUT',
        json: patient({
          id: 'fmt',
          text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ann Lee</div>' },
        }),
      });
      const json = await server.fhir('/Patient/fmt?_format=json');
      assert.match(json.headers.get('content-type') ?? '', /^application\/fhir\+json/);
      const plain = await server.fhir('/Patient/fmt', { headers: { Accept: 'application/json' } });
      assert.match(plain.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal((await server.fhir('/Patient/fmt?_format=xml')).status, 406);
      assert.equal(
        (await server.fhir('/Patient/fmt', { headers: { Accept: 'application/fhir+xml' } })).status,
        406,
      );
      const pretty = await (await server.fhir('/Patient/fmt?_pretty=true')).text();
      assert.match(pretty, /\n {2}"resourceType"/);
      const summary = (await (await server.fhir('/Patient/fmt?_summary=true')).json()) as Patient;
      assert.equal(summary.text, undefined);
      assert.equal(summary.meta?.tag?.[0]?.code, 'SUBSETTED');
      const elements = (await (await server.fhir('/Patient/fmt?_elements=gender')).json()) as Patient;
      assert.deepEqual(Object.keys(elements).sort(), ['gender', 'id', 'meta', 'resourceType']);
      assert.equal((await server.fhir('/Patient/fmt?_summary=count')).status, 400);
    });
  });

  describe('errors', () => {
    it('answers malformed JSON with 400', async () => {
      const res = await server.fhir('/Patient', {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: '{"resourceType": "Patient",',
      });
      assert.equal(res.status, 400);
      assert.equal((await outcomeOf(res)).issue[0]?.code, 'structure');
    });

    it('answers an unknown type or route with 404, a wrong method with 405', async () => {
      assert.equal((await server.fhir('/Spaceship/1')).status, 404);
      assert.equal(
        (await server.fhir('/Spaceship', { method: 'POST', json: { resourceType: 'Spaceship' } })).status,
        404,
      );
      assert.equal((await fetch(`${server.origin}/nowhere`)).status, 404);
      const wrong = await server.fhir('/metadata', { method: 'DELETE' });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get('allow'), 'GET');
      await outcomeOf(wrong);
    });

    it('answers an unsupported media type with 415 and a missing body with 400', async () => {
      const xml = await server.fhir('/Patient', {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+xml' },
        body: '<Patient/>',
      });
      assert.equal(xml.status, 415);
      const empty = await server.fhir('/Patient', {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
      });
      assert.equal(empty.status, 400);
    });

    it('answers a body over the limit with 413', async () => {
      const huge = patient({ name: [{ family: 'x'.repeat(17 * 1024 * 1024) }] });
      const res = await server.fhir('/Patient', { method: 'POST', json: huge });
      assert.equal(res.status, 413);
      await outcomeOf(res);
    });

    it('answers an invalid resource with 422 and an expression per issue', async () => {
      const res = await server.fhir('/Patient', {
        method: 'POST',
        json: { resourceType: 'Patient', gender: 'mail', birthDate: '1970-13-01', nickname: 'x' },
      });
      assert.equal(res.status, 422);
      const { issue } = await outcomeOf(res);
      assert.deepEqual(issue.map((i) => i.expression?.[0]).sort(), [
        'Patient.birthDate',
        'Patient.gender',
        'Patient.nickname',
      ]);
    });

    it('answers a type or id mismatch with 400', async () => {
      const type = await server.fhir('/Patient/x1', {
        method: 'PUT',
        json: { resourceType: 'Observation', id: 'x1' },
      });
      assert.equal(type.status, 400);
      const id = await server.fhir('/Patient/x1', { method: 'PUT', json: patient({ id: 'x2' }) });
      assert.equal(id.status, 400);
      assert.deepEqual((await outcomeOf(id)).issue[0]?.expression, ['id']);
      const noId = await server.fhir('/Patient/x1', { method: 'PUT', json: patient() });
      assert.equal(noId.status, 400);
      const badId = await server.fhir(`/Patient/${'a'.repeat(65)}`);
      assert.equal(badId.status, 400);
    });

    it('never writes half of a refused request', async () => {
      await server.fhir('/Patient/half', {
        method: 'PUT',
        json: { resourceType: 'Patient', id: 'half', gender: 'robot' },
      });
      assert.equal((await server.fhir('/Patient/half')).status, 404);
      const history = (await (await server.fhir('/Patient/half/_history')).json()) as Bundle;
      assert.equal(history.entry?.length ?? 0, 0);
    });
  });

  describe('the HTTP shell', () => {
    it('serves a CapabilityStatement that lists what is implemented', async () => {
      const res = await server.fhir('/metadata');
      const cs = (await res.json()) as {
        fhirVersion: string;
        rest: { resource: { type: string; interaction: { code: string }[] }[] }[];
      };
      assert.equal(cs.fhirVersion, '4.0.1');
      const patientRest = cs.rest[0]?.resource.find((r) => r.type === 'Patient');
      assert.deepEqual(patientRest?.interaction.map((i) => i.code).sort(), [
        'create',
        'delete',
        'history-instance',
        'history-type',
        'patch',
        'read',
        'search-type',
        'update',
        'vread',
      ]);
      assert.equal(
        cs.rest[0]?.resource.some((r) => r.type === 'Parameters'),
        false,
      );
    });

    it('puts helmet headers and a request id on every response, echoing a sane one', async () => {
      const res = await server.fhir('/metadata', { headers: { 'X-Request-Id': 'abc-123' } });
      assert.equal(res.headers.get('x-request-id'), 'abc-123');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const other = await fetch(`${server.origin}/nowhere`, {
        headers: { 'X-Request-Id': 'bad id with spaces' },
      });
      assert.match(other.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      assert.equal(other.headers.get('x-frame-options'), 'SAMEORIGIN');
    });

    it('answers the health probes', async () => {
      assert.deepEqual(await (await fetch(`${server.origin}/healthz`)).json(), { status: 'up' });
      assert.deepEqual(await (await fetch(`${server.origin}/readyz`)).json(), { status: 'ready' });
    });

    it('logs JSON lines with the request id and no resource content', async () => {
      await server.fhir('/Patient/logged', {
        method: 'PUT',
        headers: { 'X-Request-Id': 'log-check' },
        json: patient({ id: 'logged', name: [{ family: 'Zanzibar' }] }),
      });
      await new Promise((r) => setTimeout(r, 50));
      const lines = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      const line = lines.find((l) => l.requestId === 'log-check');
      assert.equal(line?.event, 'http.request');
      assert.equal(line.status, 201);
      assert.ok(!server.logs.some((l) => l.includes('Zanzibar')));
    });
  });
});
