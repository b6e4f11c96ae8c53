import assert from 'node:assert/strict';
import { FhirError } from '../errors.js';
import { silentLogger } from '../log.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { defaultPolicy } from '../validation/validate.js';
import type { ServiceContext } from './context.js';
import { createResource } from './create.js';
import { patchResource } from './patch.js';
import { updateResource } from './update.js';
import { assertValid } from './write-path.js';

const lab = 'http://ferry.example.org/fhir/StructureDefinition/ferry-lab-result';

/** A lab result without value or dataAbsentReason: valid R4, but not a ferry-lab-result. */
const noValue = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-03-01',
};

const status = (error: unknown): number | undefined =>
  error instanceof FhirError ? error.status : undefined;

describe('the write path validates', () => {
  let store: SqliteStore;
  let ctx: ServiceContext;

  beforeEach(() => {
    store = new SqliteStore(':memory:');
    ctx = {
      store,
      baseUrl: 'http://localhost/fhir',
      log: silentLogger,
      now: () => new Date('2024-03-01T00:00:00Z'),
      validation: { ...defaultPolicy, enforce: { Observation: [lab] } },
    };
  });

  afterEach(async () => {
    await store.close();
  });

  it('refuses a create that breaks an enforced profile with 422 naming the invariant', async () => {
    await assert.rejects(createResource(ctx, 'Observation', noValue), (error: unknown) => {
      assert.equal(status(error), 422);
      const issue = (error as FhirError).outcome.issue.find((i) => i.severity === 'error');
      assert.match(issue?.diagnostics ?? '', /^ferry-lab-1: /);
      assert.deepEqual(issue?.expression, ['Observation']);
      return true;
    });
  });

  it('refuses an update and a patch that break it too', async () => {
    const { version } = await createResource(ctx, 'Observation', { ...noValue, valueString: 'ok' });
    const id = version.id;
    await assert.rejects(
      updateResource(ctx, 'Observation', id, { ...noValue, id }),
      (e) => status(e) === 422,
    );
    await assert.rejects(
      patchResource(ctx, 'Observation', id, [{ op: 'remove', path: '/valueString' }]),
      (e) => status(e) === 422,
    );
  });

  it('lets a trusted door lower the level for one write (a restore at level off)', async () => {
    const result = await createResource(ctx, 'Observation', noValue, { validation: 'off' });
    assert.equal(result.created, true);
    const schemaOnly = await updateResource(
      ctx,
      'Observation',
      result.version.id,
      { ...noValue, id: result.version.id, status: 'amended' },
      { validation: 'schema' },
    );
    assert.equal(schemaOnly.created, false);
  });

  it('validates at the policy level when the context names no policy', () => {
    assert.doesNotThrow(() => assertValid(noValue));
    assert.throws(
      () => assertValid({ ...noValue, dataAbsentReason: { text: 'x' }, valueString: 'a' } as never),
      (e) => status(e) === 422,
    );
    assert.doesNotThrow(() => assertValid(noValue, { policy: ctx.validation, level: 'schema' }));
  });
});
