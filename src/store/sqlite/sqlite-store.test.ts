import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSearchContract } from '../search.contract.js';
import { describeStoreContract, type StoreHarness } from '../store.contract.js';
import { StoreUnavailableError } from '../store.js';
import { SqliteStore } from './sqlite-store.js';

let dir: string | undefined;
const file = (): string => join((dir ??= mkdtempSync(join(tmpdir(), 'ferry-sqlite-'))), 'ferry.db');

const harness: StoreHarness = {
  open: () => Promise.resolve(new SqliteStore(file())),
  reopen: async (store) => {
    await store.close();
    return new SqliteStore(file());
  },
  cleanup: () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    return Promise.resolve();
  },
};

describeStoreContract('SQLite', harness);
describeSearchContract('SQLite', harness);

describe('SqliteStore', () => {
  it('shares one commit among writes made in the same turn (group commit)', async () => {
    const store = new SqliteStore(':memory:');
    const writes = Array.from({ length: 50 }, (_, i) =>
      store.write({
        versions: [
          {
            type: 'Patient',
            id: `g${i}`,
            versionId: 1,
            lastUpdated: new Date().toISOString(),
            deleted: false,
            json: '{}',
            expectedVersionId: null,
          },
        ],
      }),
    );
    await Promise.all(writes);
    assert.equal(store.commitStats.items, 50);
    assert.ok(store.commitStats.commits < 5, `expected few commits, got ${store.commitStats.commits}`);
    await store.close();
  });

  it('answers StoreUnavailableError once closed', async () => {
    const store = new SqliteStore(':memory:');
    await store.close();
    await assert.rejects(store.readCurrent('Patient', 'a'), StoreUnavailableError);
  });

  it('streams from an in-memory database too', async () => {
    const store = new SqliteStore(':memory:');
    const lastUpdated = new Date().toISOString();
    await store.write({
      versions: Array.from({ length: 300 }, (_, i) => ({
        type: 'Patient',
        id: `m${i}`,
        versionId: 1,
        lastUpdated,
        deleted: false,
        json: '{}',
        expectedVersionId: null,
      })),
    });
    let n = 0;
    for await (const _ of store.streamCurrent({})) n++;
    assert.equal(n, 300);
    await store.close();
  });
});
