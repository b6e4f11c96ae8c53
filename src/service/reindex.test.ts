import assert from 'node:assert/strict';
import type { Observation, Patient, Resource } from 'fhir/r4.js';
import { silentLogger } from '../log.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { SearchQuery } from '../search/types.js';
import type { ServiceContext } from './context.js';
import { checkIndexVersion, reindex } from './reindex.js';
import { versionWrite } from './write-path.js';

const context = (): ServiceContext => ({
  store: new SqliteStore(':memory:'),
  baseUrl: 'http://localhost/fhir',
  log: silentLogger,
  now: () => new Date(),
});

const byGender = (gender: string): SearchQuery => ({
  types: ['Patient'],
  filters: [{ param: 'gender', type: 'token', values: [{ kind: 'token', code: gender }] }],
  sort: [],
  count: 10,
  total: 'none',
  include: [],
  revinclude: [],
});

/** A resource stored as an older Ferry would have: without any index rows or kept patient. */
async function storeOld(ctx: ServiceContext, id: string, resource: Resource): Promise<void> {
  const write = versionWrite(ctx, resource.resourceType, id, undefined, new Date().toISOString(), resource);
  write.index = [];
  delete write.patient;
  await ctx.store.write({ versions: [write] });
}

const storeUnindexed = (ctx: ServiceContext, id: string, gender: Patient['gender']): Promise<void> =>
  storeOld(ctx, id, { resourceType: 'Patient', gender } as Patient);

const observation = (subject?: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'glucose' },
  ...(subject ? { subject: { reference: subject } } : {}),
});

describe('reindex', () => {
  it('stamps an empty store as current, and calls a store indexed before the stamp stale', async () => {
    const fresh = context();
    assert.equal(await checkIndexVersion(fresh), 'current');
    assert.equal(await checkIndexVersion(fresh), 'current');
    await fresh.store.close();

    const old = context();
    await storeUnindexed(old, 'a', 'female');
    assert.equal(await checkIndexVersion(old), 'stale');
    await old.store.close();
  });

  it('rebuilds the index of every current resource and records the version', async () => {
    const ctx = context();
    for (let i = 0; i < 1200; i++) await storeUnindexed(ctx, `p${i}`, i % 2 ? 'male' : 'female');
    assert.equal((await ctx.store.search(byGender('male'))).matches.length, 0);
    const progress: number[] = [];
    const result = await reindex(ctx, { onProgress: (n) => progress.push(n) });
    assert.equal(result.resources, 1200);
    assert.deepEqual(progress, [500, 1000, 1200]);
    assert.equal((await ctx.store.search({ ...byGender('male'), count: 1000 })).matches.length, 600);
    assert.equal(await checkIndexVersion(ctx), 'current');
    await ctx.store.close();
  });

  it('leaves alone a resource written after the reindex read it', async () => {
    const ctx = context();
    await storeUnindexed(ctx, 'x', 'female');
    const current = await ctx.store.readCurrent('Patient', 'x');
    assert.ok(current);
    // a newer version lands, indexed as male, before the stale rewrite of version 1 arrives
    const next = versionWrite(ctx, 'Patient', 'x', current, new Date().toISOString(), {
      resourceType: 'Patient',
      gender: 'male',
    } as Patient);
    await ctx.store.write({ versions: [next] });
    await ctx.store.write({
      versions: [],
      reindex: [
        {
          type: 'Patient',
          id: 'x',
          versionId: 1,
          index: [{ kind: 'token', param: 'gender', system: null, code: 'female' }],
        },
      ],
    });
    assert.equal((await ctx.store.search(byGender('male'))).matches.length, 1);
    assert.equal((await ctx.store.search(byGender('female'))).matches.length, 0);
    await ctx.store.close();
  });

  it('keeps with each version the patient its new entries name', async () => {
    const ctx = context();
    await storeOld(ctx, 'o1', observation('Patient/p1'));
    await storeOld(ctx, 'o2', observation());
    await storeUnindexed(ctx, 'p1', 'female');
    for (const [type, id] of [
      ['Observation', 'o1'],
      ['Observation', 'o2'],
      ['Patient', 'p1'],
    ] as const)
      assert.equal((await ctx.store.readCurrent(type, id))?.patient, undefined, `${type}/${id} before`);
    await reindex(ctx);
    assert.equal((await ctx.store.readCurrent('Observation', 'o1'))?.patient, 'Patient/p1');
    assert.equal((await ctx.store.readCurrent('Observation', 'o2'))?.patient, null);
    assert.equal((await ctx.store.readCurrent('Patient', 'p1'))?.patient, 'Patient/p1');
    assert.equal((await ctx.store.readVersion('Observation', 'o1', 1))?.patient, 'Patient/p1');
    await ctx.store.close();
  });
});
