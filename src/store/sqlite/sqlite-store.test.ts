import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSearchContract } from '../search.contract.js';
import { describeStoreContract, type StoreHarness } from '../store.contract.js';
import Database from 'better-sqlite3';
import type { SearchQuery } from '../../search/types.js';
import { StoreUnavailableError, type VersionWrite } from '../store.js';
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

  it('finds a date range member that is longer than every row indexed before it', async () => {
    const store = new SqliteStore(':memory:');
    const at = (iso: string): number => Date.parse(iso);
    let n = 0;
    const encounter = (low: string, high: string): VersionWrite => ({
      type: 'Encounter',
      id: `e${++n}`,
      versionId: 1,
      lastUpdated: new Date().toISOString(),
      deleted: false,
      json: '{}',
      expectedVersionId: null,
      index: [{ kind: 'date', param: 'date', low: at(low), high: at(high) }],
    });
    const inRange = (): SearchQuery => ({
      types: ['Encounter'],
      filters: [
        {
          param: 'date',
          type: 'date',
          values: [
            {
              kind: 'date',
              prefix: 'ge',
              low: at('2024-03-10T00:00:00Z'),
              high: at('2024-03-10T23:59:59.999Z'),
            },
          ],
        },
        {
          param: 'date',
          type: 'date',
          values: [
            {
              kind: 'date',
              prefix: 'lt',
              low: at('2024-03-11T00:00:00Z'),
              high: at('2024-03-11T23:59:59.999Z'),
            },
          ],
        },
      ],
      sort: [],
      count: 10,
      total: 'none',
      include: [],
      revinclude: [],
    });
    await store.write({ versions: [encounter('2024-03-10T09:00:00Z', '2024-03-10T10:00:00Z')] });
    assert.equal((await store.search(inRange())).matches.length, 1);
    // a 20-day stay that started well before the range still overlaps it
    await store.write({ versions: [encounter('2024-02-20T00:00:00Z', '2024-03-11T00:00:00Z')] });
    assert.deepEqual(
      (await store.search(inRange())).matches.map((m) => m.id),
      ['e1', 'e2'],
    );
    await store.close();
  });

  it('measures max_span when it opens a store made before it was kept', async () => {
    const path = file();
    const first = new SqliteStore(path);
    await first.write({
      versions: [
        {
          type: 'Encounter',
          id: 'old',
          versionId: 1,
          lastUpdated: new Date().toISOString(),
          deleted: false,
          json: '{}',
          expectedVersionId: null,
          index: [{ kind: 'date', param: 'date', low: 0, high: 5_000 }],
        },
      ],
    });
    await first.close();
    const raw = new Database(path);
    raw.exec('ALTER TABLE search_param DROP COLUMN max_span');
    raw.close();
    const upgraded = new SqliteStore(path);
    await upgraded.close();
    const check = new Database(path, { readonly: true });
    const row = check
      .prepare("SELECT max_span FROM search_param WHERE type = 'Encounter' AND code = 'date'")
      .get() as {
      max_span: number;
    };
    check.close();
    await harness.cleanup();
    assert.equal(row.max_span, 5_000);
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
