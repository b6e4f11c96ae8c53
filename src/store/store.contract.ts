/**
 * The store contract: behaviour every ResourceStore must show, whatever its database. Each
 * store's test file runs this suite against a fresh instance.
 */
import assert from 'node:assert/strict';
import {
  RecordExistsError,
  StoreConflictError,
  type ResourceStore,
  type StoredVersion,
  type VersionWrite,
} from './store.js';

export interface StoreHarness {
  /** A new, empty store. */
  open(): Promise<ResourceStore>;
  /** Closes the store and opens the same data again (durability). */
  reopen(store: ResourceStore): Promise<ResourceStore>;
  cleanup(): Promise<void>;
}

let clock = Date.parse('2026-01-01T00:00:00.000Z');
const tick = (): string => new Date((clock += 1000)).toISOString();

function version(type: string, id: string, versionId: number, body?: object, deleted = false): VersionWrite {
  const lastUpdated = tick();
  const v: VersionWrite = {
    type,
    id,
    versionId,
    lastUpdated,
    deleted,
    expectedVersionId: versionId === 1 ? null : versionId - 1,
  };
  if (!deleted)
    v.json = JSON.stringify({
      resourceType: type,
      id,
      meta: { versionId: String(versionId), lastUpdated },
      ...body,
    });
  return v;
}

async function collect(iterable: AsyncIterable<StoredVersion>): Promise<StoredVersion[]> {
  const out: StoredVersion[] = [];
  for await (const v of iterable) out.push(v);
  return out;
}

export function describeStoreContract(name: string, harness: StoreHarness): void {
  describe(`${name} store contract`, () => {
    let store: ResourceStore;
    beforeEach(async () => {
      store = await harness.open();
    });
    afterEach(async () => {
      await store.close();
      await harness.cleanup();
    });

    it('reads back the current version and every earlier one', async () => {
      await store.write({ versions: [version('Patient', 'a', 1, { gender: 'male' })] });
      await store.write({ versions: [version('Patient', 'a', 2, { gender: 'female' })] });
      const current = await store.readCurrent('Patient', 'a');
      assert.equal(current?.versionId, 2);
      assert.equal((JSON.parse(current.json ?? '{}') as { gender: string }).gender, 'female');
      const first = await store.readVersion('Patient', 'a', 1);
      assert.equal((JSON.parse(first?.json ?? '{}') as { gender: string }).gender, 'male');
      assert.equal(await store.readVersion('Patient', 'a', 3), undefined);
      assert.equal(await store.readCurrent('Patient', 'b'), undefined);
      assert.equal(await store.readCurrent('Observation', 'a'), undefined);
    });

    it("keeps each version's patient as written: named, none (null) or not given", async () => {
      const named = { ...version('Observation', 'o', 1), patient: 'Patient/p' };
      const none = { ...version('Observation', 'o', 2), patient: null };
      await store.write({ versions: [named] });
      await store.write({ versions: [none] });
      await store.write({ versions: [version('Observation', 'u', 1)] });
      assert.equal((await store.readVersion('Observation', 'o', 1))?.patient, 'Patient/p');
      assert.equal((await store.readVersion('Observation', 'o', 2))?.patient, null);
      assert.equal((await store.readCurrent('Observation', 'o'))?.patient, null);
      const unknown = await store.readCurrent('Observation', 'u');
      assert.ok(unknown && !('patient' in unknown), 'a patient not given is not made up');
    });

    it('keeps a delete as a tombstone version', async () => {
      await store.write({ versions: [version('Patient', 'a', 1)] });
      await store.write({ versions: [version('Patient', 'a', 2, undefined, true)] });
      const current = await store.readCurrent('Patient', 'a');
      assert.equal(current?.deleted, true);
      assert.equal(current.versionId, 2);
      assert.equal(current.json, undefined);
      assert.ok((await store.readVersion('Patient', 'a', 1))?.json);
    });

    it('refuses a write whose expected version is not current, and writes nothing of its set', async () => {
      await store.write({ versions: [version('Patient', 'a', 1)] });
      const stale = version('Patient', 'a', 2);
      stale.expectedVersionId = null;
      await assert.rejects(
        store.write({ versions: [version('Patient', 'b', 1), stale] }),
        (e: unknown) => e instanceof StoreConflictError && e.actualVersionId === 1,
      );
      assert.equal(await store.readCurrent('Patient', 'b'), undefined);
      assert.equal((await store.readCurrent('Patient', 'a'))?.versionId, 1);
    });

    it('lets concurrent write sets succeed or fail independently', async () => {
      await store.write({ versions: [version('Patient', 'x', 1)] });
      const results = await Promise.allSettled([
        store.write({ versions: [version('Patient', 'c1', 1)] }),
        store.write({ versions: [version('Patient', 'x', 1)] }), // conflict: x exists
        store.write({ versions: [version('Patient', 'c2', 1)] }),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.ok(await store.readCurrent('Patient', 'c1'));
      assert.ok(await store.readCurrent('Patient', 'c2'));
      assert.equal((await store.readCurrent('Patient', 'x'))?.versionId, 1);
    });

    it('serialises two writers racing for the same next version: one wins', async () => {
      await store.write({ versions: [version('Patient', 'r', 1)] });
      const results = await Promise.allSettled([
        store.write({ versions: [version('Patient', 'r', 2, { gender: 'male' })] }),
        store.write({ versions: [version('Patient', 'r', 2, { gender: 'female' })] }),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal((await store.readCurrent('Patient', 'r'))?.versionId, 2);
    });

    it('pages history newest first, by instance, type and system, with _since', async () => {
      await store.write({ versions: [version('Patient', 'a', 1)] });
      const since = tick();
      await store.write({ versions: [version('Observation', 'o', 1)] });
      await store.write({ versions: [version('Patient', 'a', 2)] });
      await store.write({ versions: [version('Patient', 'b', 1)] });
      const all = await store.history({ count: 10 });
      assert.deepEqual(
        all.versions.map((v) => `${v.type}/${v.id}/${v.versionId}`),
        ['Patient/b/1', 'Patient/a/2', 'Observation/o/1', 'Patient/a/1'],
      );
      assert.equal(all.next, undefined);
      const instance = await store.history({ type: 'Patient', id: 'a', count: 10 });
      assert.deepEqual(
        instance.versions.map((v) => v.versionId),
        [2, 1],
      );
      const type = await store.history({ type: 'Patient', count: 10, since });
      assert.deepEqual(
        type.versions.map((v) => `${v.id}/${v.versionId}`),
        ['b/1', 'a/2'],
      );
      const first = await store.history({ count: 3 });
      assert.equal(first.versions.length, 3);
      assert.ok(first.next);
      // a write between pages must neither shift nor repeat what the next page holds
      await store.write({ versions: [version('Patient', 'c', 1)] });
      const second = await store.history({ count: 3, cursor: first.next });
      assert.deepEqual(
        second.versions.map((v) => `${v.type}/${v.id}/${v.versionId}`),
        ['Patient/a/1'],
      );
      assert.equal(second.next, undefined);
    });

    it('streams every current, non-deleted resource, filtered by type and _since', async () => {
      await store.write({
        versions: [version('Patient', 'a', 1), version('Patient', 'b', 1), version('Observation', 'o', 1)],
      });
      const since = tick();
      await store.write({ versions: [version('Patient', 'a', 2)] });
      await store.write({ versions: [version('Patient', 'b', 2, undefined, true)] });
      const all = await collect(store.streamCurrent({}));
      assert.deepEqual(all.map((v) => `${v.type}/${v.id}/${v.versionId}`).sort(), [
        'Observation/o/1',
        'Patient/a/2',
      ]);
      const patients = await collect(store.streamCurrent({ types: ['Patient'] }));
      assert.deepEqual(
        patients.map((v) => v.id),
        ['a'],
      );
      const recent = await collect(store.streamCurrent({ since }));
      assert.deepEqual(
        recent.map((v) => v.id),
        ['a'],
      );
    });

    it('streams a consistent snapshot while writes go on', async () => {
      const many = Array.from({ length: 600 }, (_, i) =>
        version('Patient', `p${String(i).padStart(4, '0')}`, 1),
      );
      await store.write({ versions: many });
      const seen: string[] = [];
      let wrote = false;
      for await (const v of store.streamCurrent({ types: ['Patient'] })) {
        seen.push(v.id);
        if (!wrote) {
          wrote = true;
          await store.write({ versions: [version('Patient', 'p9999', 1)] });
        }
      }
      assert.equal(seen.length, 600);
      assert.ok(!seen.includes('p9999'));
    });

    it('keeps small keyed records, with if-absent and expiry', async () => {
      await store.write({
        versions: [],
        records: [{ namespace: 'client', key: 'lab', value: { scope: 'x' } }],
      });
      assert.deepEqual(await store.getRecord('client', 'lab'), { scope: 'x' });
      await assert.rejects(
        store.write({
          versions: [],
          records: [{ namespace: 'client', key: 'lab', value: {}, ifAbsent: true }],
        }),
        RecordExistsError,
      );
      await store.write({
        versions: [],
        records: [{ namespace: 'jti', key: 'old', value: 1, expiresAt: Date.now() - 1 }],
      });
      assert.equal(await store.getRecord('jti', 'old'), undefined);
      await store.write({
        versions: [],
        records: [{ namespace: 'jti', key: 'old', value: 2, ifAbsent: true }],
      });
      assert.equal(await store.getRecord('jti', 'old'), 2);
      await store.write({
        versions: [],
        records: [{ namespace: 'client', key: 'ehr', value: { scope: 'y' } }],
      });
      assert.deepEqual(
        (await store.listRecords('client')).map((r) => r.key),
        ['ehr', 'lab'],
      );
      await assert.rejects(
        store.write({
          versions: [],
          records: [{ namespace: 'client', key: 'lab', value: { scope: 'z' }, expectValue: { scope: 'w' } }],
        }),
        RecordExistsError,
      );
      await store.write({
        versions: [],
        records: [{ namespace: 'client', key: 'lab', value: { scope: 'z' }, expectValue: { scope: 'x' } }],
      });
      assert.deepEqual(await store.getRecord('client', 'lab'), { scope: 'z' });
      await store.write({ versions: [], records: [{ namespace: 'client', key: 'lab', value: null }] });
      assert.equal(await store.getRecord('client', 'lab'), undefined);
    });

    it('takes a snapshot that later writes do not change, with every version and record', async () => {
      await store.write({
        versions: [version('Patient', 'a', 1, { gender: 'male' })],
        records: [{ namespace: 'client', key: 'lab', value: { scope: 'x' } }],
      });
      await store.write({ versions: [version('Patient', 'a', 2, undefined, true)] });
      await store.write({ versions: [version('Observation', 'o', 1)] });
      const snapshot = await store.snapshot();
      try {
        await store.write({
          versions: [version('Patient', 'b', 1), version('Observation', 'o', 2)],
          records: [{ namespace: 'client', key: 'ehr', value: {} }],
        });
        const versions = [];
        for await (const v of snapshot.versions()) versions.push(v);
        assert.deepEqual(
          versions.map(
            (v) =>
              `${v.type}/${v.id}/${v.versionId}${v.deleted ? ' deleted' : ''}${v.current ? ' current' : ''}`,
          ),
          ['Patient/a/1', 'Patient/a/2 deleted current', 'Observation/o/1 current'],
        );
        assert.equal(versions[1]?.json, undefined);
        const records = [];
        for await (const r of snapshot.records()) records.push(r);
        assert.deepEqual(records, [{ namespace: 'client', key: 'lab', json: '{"scope":"x"}' }]);
        const links = [];
        for await (const l of snapshot.auditLinks()) links.push(l);
        assert.deepEqual(links, []);
      } finally {
        await snapshot.close();
      }
    });

    it('counts what it holds, and erases all of it', async () => {
      await store.write({
        versions: [version('Patient', 'e', 1, { gender: 'male' })],
        records: [{ namespace: 'client', key: 'lab', value: 1 }],
      });
      assert.deepEqual(await store.contents(), { versions: 1, auditLinks: 0, records: { client: 1 } });
      await store.erase();
      assert.deepEqual(await store.contents(), { versions: 0, auditLinks: 0, records: {} });
      assert.equal(await store.readCurrent('Patient', 'e'), undefined);
      await store.write({ versions: [version('Patient', 'e', 1)] });
      assert.equal((await store.readCurrent('Patient', 'e'))?.versionId, 1);
    });

    it('runs a bulk load and keeps what it wrote, also when the load fails', async () => {
      const result = await store.bulkLoad(async () => {
        await store.write({ versions: [version('Patient', 'bulk', 1)] });
        return 42;
      });
      assert.equal(result, 42);
      await assert.rejects(
        store.bulkLoad(async () => {
          await store.write({ versions: [version('Patient', 'bulk2', 1)] });
          throw new Error('stopped');
        }),
        /stopped/,
      );
      store = await harness.reopen(store);
      assert.equal((await store.readCurrent('Patient', 'bulk'))?.versionId, 1);
      assert.equal((await store.readCurrent('Patient', 'bulk2'))?.versionId, 1);
    });

    it('takes restored audit links only where they continue the chain', async () => {
      await assert.rejects(
        store.write({ versions: [], auditLinks: [{ sequence: 2, id: 'x', hash: 'h' }] }),
        /does not follow the chain/,
      );
      await store.write({
        versions: [],
        auditLinks: [
          { sequence: 1, id: 'x', hash: 'h1' },
          { sequence: 2, id: 'y', hash: 'h2' },
        ],
      });
      assert.equal((await store.contents()).auditLinks, 2);
    });

    it('still has everything after it is closed and opened again', async () => {
      await store.write({
        versions: [version('Patient', 'd', 1)],
        records: [{ namespace: 'k', key: 'v', value: 1 }],
      });
      store = await harness.reopen(store);
      assert.equal((await store.readCurrent('Patient', 'd'))?.versionId, 1);
      assert.equal(await store.getRecord('k', 'v'), 1);
      await store.ping();
    });
  });
}
