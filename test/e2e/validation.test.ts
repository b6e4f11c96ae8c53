import assert from 'node:assert/strict';
import type { CapabilityStatement, Observation, OperationOutcome } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

const lab = 'http://ferry.example.org/fhir/StructureDefinition/ferry-lab-result';
const bp = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure';

const labResult = (extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-03-01T10:00:00Z',
  valueQuantity: { value: 13.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
  ...extra,
});

const noValue = (): Observation => {
  const { valueQuantity: _value, ...rest } = labResult();
  return rest;
};

async function outcomeOf(res: Response): Promise<OperationOutcome> {
  const body = (await res.json()) as OperationOutcome;
  assert.equal(body.resourceType, 'OperationOutcome');
  return body;
}

const errorsIn = (o: OperationOutcome) => o.issue.filter((i) => i.severity === 'error');

describe('Validation and profiles over HTTP', function () {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ FERRY_PROFILES: `Observation=${lab}` });
  });
  after(async () => {
    await server.stop();
  });

  describe('writes', () => {
    it('refuses an Observation that breaks the enforced lab-result profile with 422 naming the rule', async () => {
      const res = await server.fhir('/Observation', { method: 'POST', json: noValue() });
      assert.equal(res.status, 422);
      const [issue] = errorsIn(await outcomeOf(res));
      assert.equal(issue?.code, 'invariant');
      assert.deepEqual(issue.expression, ['Observation']);
      assert.match(issue.diagnostics ?? '', /^ferry-lab-1: .*ferry-lab-result/);
    });

    it('accepts an Observation that meets it', async () => {
      const res = await server.fhir('/Observation', { method: 'POST', json: labResult() });
      assert.equal(res.status, 201);
    });

    it('refuses an update that breaks an R4 invariant (obs-6), pointing at the resource', async () => {
      const res = await server.fhir('/Observation/o1', {
        method: 'PUT',
        json: labResult({ id: 'o1', dataAbsentReason: { text: 'lost' } }),
      });
      assert.equal(res.status, 422);
      assert.match(errorsIn(await outcomeOf(res))[0]?.diagnostics ?? '', /^obs-6: /);
    });
  });

  describe('$validate', () => {
    it('answers 200 with an all-clear issue for a valid resource, and stores nothing', async () => {
      const res = await server.fhir('/Observation/$validate', {
        method: 'POST',
        json: labResult({ id: 'v1' }),
      });
      assert.equal(res.status, 200);
      const outcome = await outcomeOf(res);
      assert.deepEqual(errorsIn(outcome), []);
      assert.ok(outcome.issue.some((i) => i.severity === 'information' || i.severity === 'warning'));
      assert.equal((await server.fhir('/Observation/v1')).status, 404);
    });

    it('answers 200 with every issue, each with severity and expression', async () => {
      const res = await server.fhir('/Observation/$validate', {
        method: 'POST',
        json: { ...noValue(), subject: undefined, method: { id: 'only-an-id' } },
      });
      assert.equal(res.status, 200);
      const errors = errorsIn(await outcomeOf(res));
      assert.deepEqual(errors.map((i) => i.expression?.[0]).sort(), [
        'Observation',
        'Observation.method',
        'Observation.subject',
      ]);
    });

    it('takes a Parameters body with resource, mode and profile', async () => {
      const res = await server.fhir('/Observation/$validate', {
        method: 'POST',
        json: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'resource', resource: labResult() },
            { name: 'mode', valueCode: 'create' },
            { name: 'profile', valueUri: bp },
          ],
        },
      });
      assert.equal(res.status, 200);
      const errors = errorsIn(await outcomeOf(res));
      assert.ok(
        errors.some((i) => i.expression?.[0] === 'Observation.category' && /VSCat/.test(i.diagnostics ?? '')),
      );
    });

    it('takes the profile from the query string', async () => {
      const res = await server.fhir(`/Observation/$validate?profile=${encodeURIComponent(bp)}`, {
        method: 'POST',
        json: labResult(),
      });
      assert.ok(errorsIn(await outcomeOf(res)).some((i) => i.expression?.[0] === 'Observation.component'));
    });

    it('answers 400 for a profile it does not know', async () => {
      const res = await server.fhir('/Observation/$validate?profile=http://example.org/nope', {
        method: 'POST',
        json: labResult(),
      });
      assert.equal(res.status, 400);
      await res.body?.cancel();
    });

    it('checks the id against the URL for mode=update at instance level', async () => {
      const res = await server.fhir('/Observation/abc/$validate?mode=update', {
        method: 'POST',
        json: labResult({ id: 'xyz' }),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(
        errorsIn(await outcomeOf(res)).map((i) => i.expression?.[0]),
        ['Observation.id'],
      );
    });

    it('answers for mode=delete from the stored resource: 404 when absent, all-clear when present', async () => {
      const missing = await server.fhir('/Observation/nope/$validate?mode=delete', { method: 'POST' });
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const created = await server.fhir('/Observation/d1', { method: 'PUT', json: labResult({ id: 'd1' }) });
      assert.equal(created.status, 201);
      const res = await server.fhir('/Observation/d1/$validate?mode=delete', { method: 'POST' });
      assert.equal(res.status, 200);
      assert.equal((await outcomeOf(res)).issue[0]?.severity, 'information');
    });

    it('answers that no AuditEvent may be created, updated or deleted', async () => {
      for (const mode of ['create', 'update', 'delete']) {
        const res = await server.fhir(`/AuditEvent/$validate?mode=${mode}`, {
          method: 'POST',
          json: { resourceType: 'AuditEvent' },
        });
        assert.equal(res.status, 200);
        assert.match(errorsIn(await outcomeOf(res))[0]?.diagnostics ?? '', /append-only/, mode);
      }
    });

    it('refuses other methods with 405', async () => {
      const res = await server.fhir('/Observation/$validate');
      assert.equal(res.status, 405);
      await res.body?.cancel();
    });

    it('is advertised in the CapabilityStatement with the supported profiles', async () => {
      const metadata = (await (await server.fhir('/metadata')).json()) as CapabilityStatement;
      const observation = metadata.rest?.[0]?.resource?.find((r) => r.type === 'Observation');
      assert.ok(observation);
      assert.ok(observation.operation?.some((o) => o.name === 'validate'));
      assert.ok(observation.supportedProfile?.includes(lab));
      assert.ok(observation.supportedProfile?.includes(bp));
    });
  });
});

describe('Validation levels over HTTP', function () {
  it('stores what breaks an invariant at FERRY_VALIDATION=schema, and anything at off', async () => {
    const schema = await startServer({ FERRY_VALIDATION: 'schema' });
    try {
      const res = await schema.fhir('/Observation', {
        method: 'POST',
        json: labResult({ dataAbsentReason: { text: 'lost' } }),
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
      const bad = await schema.fhir('/Observation', {
        method: 'POST',
        json: { resourceType: 'Observation' },
      });
      assert.equal(bad.status, 422);
      await bad.body?.cancel();
    } finally {
      await schema.stop();
    }
    const off = await startServer({ FERRY_VALIDATION: 'off' });
    try {
      const res = await off.fhir('/Observation', { method: 'POST', json: { resourceType: 'Observation' } });
      assert.equal(res.status, 201);
      await res.body?.cancel();
    } finally {
      await off.stop();
    }
  });

  it('refuses to start with an enforced profile it does not know, in one line', async () => {
    await assert.rejects(
      startServer({ FERRY_PROFILES: 'Observation=http://example.org/nope' }),
      /FERRY_PROFILES: /,
    );
  });
});
