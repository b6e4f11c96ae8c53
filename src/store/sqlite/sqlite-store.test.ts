import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditFixture, auditSearchCases, describeAuditSearchContract } from '../audit-search.contract.js';
import { describeSearchContract, f, ids, q, tok } from '../search.contract.js';
import { describeStoreContract, type StoreHarness } from '../store.contract.js';
import Database from 'better-sqlite3';
import type { SearchQuery } from '../../search/types.js';
import { StoreUnavailableError, type VersionWrite } from '../store.js';
import { deferredIndexes } from './schema.js';
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
describeAuditSearchContract('SQLite', harness);

/** A first version of an Observation, with the patient to keep (none given when undefined). */
const observationWrite = (id: string, patient?: string | null): VersionWrite => ({
  type: 'Observation',
  id,
  versionId: 1,
  lastUpdated: new Date().toISOString(),
  deleted: false,
  json: '{}',
  expectedVersionId: null,
  index: [],
  ...(patient === undefined ? {} : { patient }),
});

describe('SqliteStore', () => {
  afterEach(() => harness.cleanup());

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

  it('checkpoints the log on a thread of its own and answers each write once the log is synced', async () => {
    const path = file();
    const store = new SqliteStore(path);
    const version = (i: number): VersionWrite => ({
      type: 'Patient',
      id: `c${i}`,
      versionId: 1,
      lastUpdated: new Date().toISOString(),
      deleted: false,
      json: `{"resourceType":"Patient","id":"c${i}"}`,
      expectedVersionId: null,
    });
    for (let i = 0; i < 100; i++) await store.write({ versions: [version(i)] });
    for (let wait = 0; wait < 100 && store.commitStats.checkpoints === 0; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stats = store.commitStats;
    assert.equal(stats.syncs, stats.commits, 'one at a time: each commit had a sync of its own');
    assert.ok(stats.checkpoints > 0, 'the checkpoint thread ran');
    await store.close();
    const reopened = new SqliteStore(path);
    assert.equal((await reopened.readCurrent('Patient', 'c99'))?.versionId, 1);
    await reopened.close();
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

  it('answers _lastUpdated from the current row, writing no date row for it', async () => {
    const path = file();
    const store = new SqliteStore(path);
    const lastUpdated = '2024-05-01T12:00:00.000Z';
    const at = Date.parse(lastUpdated);
    await store.write({
      versions: [
        {
          type: 'Patient',
          id: 'lu',
          versionId: 1,
          lastUpdated,
          deleted: false,
          json: '{}',
          expectedVersionId: null,
          index: [
            { kind: 'date', param: '_lastUpdated', low: at, high: at },
            { kind: 'date', param: 'birthdate', low: at, high: at + 86_399_999 },
          ],
        },
      ],
    });
    const found = await store.search({
      types: ['Patient'],
      filters: [
        { param: '_lastUpdated', type: 'date', values: [{ kind: 'date', prefix: 'ge', low: at, high: at }] },
      ],
      sort: [{ param: '_lastUpdated', descending: true, type: 'date' }],
      count: 10,
      total: 'none',
      include: [],
      revinclude: [],
    });
    assert.deepEqual(
      found.matches.map((m) => m.id),
      ['lu'],
    );
    await store.close();
    const check = new Database(path, { readonly: true });
    const params = check
      .prepare('SELECT p.code FROM idx_date d JOIN search_param p ON p.pid = d.pid ORDER BY p.code')
      .all() as { code: string }[];
    check.close();
    assert.deepEqual(
      params.map((p) => p.code),
      ['birthdate'],
    );
  });

  it("stores each distinct set of an AuditEvent's token and string entries once", async () => {
    const path = file();
    const store = new SqliteStore(path);
    await store.write({ versions: auditFixture() });
    await store.close();
    const check = new Database(path, { readonly: true });
    const count = (sql: string): number => (check.prepare(sql).get() as { n: number }).n;
    const sets = count('SELECT COUNT(*) AS n FROM idx_facet_set');
    const members = count('SELECT COUNT(*) AS n FROM idx_facet');
    const own = count(
      `SELECT COUNT(*) AS n FROM (SELECT rid FROM idx_token UNION ALL SELECT rid FROM idx_string)
       WHERE rid IN (SELECT rid FROM resource_current WHERE type = 'AuditEvent')`,
    );
    const shared = count('SELECT COUNT(*) AS n FROM idx_token WHERE rid < 0');
    const sharedRefs = count('SELECT COUNT(*) AS n FROM idx_reference WHERE rid < 0');
    // an event keeps the references that name a resource: its patient and entity, e3's agent
    const ownRefs = count(
      `SELECT COUNT(*) AS n FROM idx_reference
       WHERE rid IN (SELECT rid FROM resource_current WHERE type = 'AuditEvent')`,
    );
    const ownIdentifierOnly = count(
      `SELECT COUNT(*) AS n FROM idx_reference WHERE rid > 0 AND target_id IS NULL`,
    );
    check.close();
    // e1, e2 and e5 share a set; e3 and e4 have one each; e6 has no such entries
    assert.equal(sets, 3);
    assert.equal(members, 5);
    assert.equal(own, 0);
    assert.equal(shared, 3 * 4);
    // agent and source in two sets; only the source in e3's
    assert.equal(sharedRefs, 2 + 2 + 1);
    assert.equal(ownRefs, 4 * 2 + 1);
    assert.equal(ownIdentifierOnly, 0);
  });

  it('answers AuditEvent searches alike over events indexed before shared entries', async () => {
    const path = file();
    const store = new SqliteStore(path);
    await store.write({ versions: auditFixture() });
    await store.close();
    // the layout of a store indexed before facets: every event its own rows
    const raw = new Database(path);
    raw.exec(`INSERT INTO idx_token (rid, pid, grp, system, code, text)
        SELECT m.rid, t.pid, t.grp, t.system, t.code, t.text FROM idx_facet m JOIN idx_token t ON t.rid = m.facet;
      INSERT INTO idx_string (rid, pid, grp, normalized, exact)
        SELECT m.rid, s.pid, s.grp, s.normalized, s.exact FROM idx_facet m JOIN idx_string s ON s.rid = m.facet;
      INSERT INTO idx_reference (rid, pid, grp, target_type, target_id, url, version, identifier_system, identifier_value)
        SELECT m.rid, x.pid, x.grp, x.target_type, x.target_id, x.url, x.version, x.identifier_system, x.identifier_value
        FROM idx_facet m JOIN idx_reference x ON x.rid = m.facet;
      DELETE FROM idx_token WHERE rid < 0;
      DELETE FROM idx_string WHERE rid < 0;
      DELETE FROM idx_reference WHERE rid < 0;
      DELETE FROM idx_facet;
      DELETE FROM idx_facet_set;`);
    raw.close();
    const legacy = new SqliteStore(path);
    try {
      for (const [what, query, expected] of auditSearchCases) {
        assert.deepEqual(await ids(legacy, query), expected, what);
      }
      // an event written now shares its set; the old ones keep their rows, and both are found
      const events = auditFixture().filter((v) => v.type === 'AuditEvent');
      const e5 = events.find((v) => v.id === 'e5');
      assert.ok(e5);
      await legacy.write({ versions: [{ ...e5, id: 'e7' }] });
      const byAction = q(['AuditEvent'], [f('action', 'token', [tok('R')])]);
      assert.deepEqual(await ids(legacy, byAction), ['e1', 'e2', 'e4', 'e5', 'e7']);
      const byClient = q(
        ['AuditEvent'],
        [
          f('agent', 'reference', [{ kind: 'reference', identifierValue: 'app-a' }], {
            modifier: 'identifier',
          }),
        ],
      );
      assert.deepEqual(await ids(legacy, byClient), ['e1', 'e2', 'e4', 'e5', 'e7']);
      // a reindex moves the old events' rows into shared sets; the answers stay the same
      await legacy.write({
        versions: [],
        reindex: events.map((v) => ({
          type: v.type,
          id: v.id,
          versionId: v.versionId,
          index: v.index ?? [],
        })),
      });
      for (const [what, query, expected] of auditSearchCases) {
        const found = (await ids(legacy, query)).filter((id) => id !== 'e7');
        assert.deepEqual(found, expected, what);
      }
    } finally {
      await legacy.close();
    }
    const check = new Database(path, { readonly: true });
    const own = check
      .prepare(
        `SELECT COUNT(*) AS n FROM idx_token WHERE rid IN (SELECT rid FROM resource_current WHERE type = 'AuditEvent')`,
      )
      .get() as { n: number };
    check.close();
    assert.equal(own.n, 0);
  });

  it('upgrades a store made before versions kept their patient: its versions have none kept', async () => {
    const path = file();
    const first = new SqliteStore(path);
    await first.write({ versions: [observationWrite('old', 'Patient/p')] });
    await first.close();
    const raw = new Database(path);
    raw.exec('ALTER TABLE resource_version DROP COLUMN patient');
    raw.close();
    const upgraded = new SqliteStore(path);
    try {
      const old = await upgraded.readCurrent('Observation', 'old');
      assert.ok(old && !('patient' in old), 'the column came back empty');
      await upgraded.write({ versions: [observationWrite('new', 'Patient/q')] });
      assert.equal((await upgraded.readCurrent('Observation', 'new'))?.patient, 'Patient/q');
    } finally {
      await upgraded.close();
    }
  });

  it('answers searches with the patient kept with each match', async () => {
    const store = new SqliteStore(file());
    try {
      await store.write({ versions: [observationWrite('a', 'Patient/p'), observationWrite('b', null)] });
      const page = await store.search(q(['Observation'], []));
      assert.deepEqual(page.matches.map((m) => [m.id, m.patient]).sort(), [
        ['a', 'Patient/p'],
        ['b', null],
      ]);
    } finally {
      await store.close();
    }
  });

  it('upgrades a store made before max_span, the single reference index and the covering indexes', async () => {
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
    raw.exec(`ALTER TABLE search_param DROP COLUMN max_span;
      DROP INDEX idx_date_low;
      CREATE INDEX idx_date_low ON idx_date (pid, low);
      DROP INDEX idx_reference_inbound;
      CREATE INDEX idx_reference_target ON idx_reference (pid, target_id, rid);
      CREATE INDEX idx_reference_inbound ON idx_reference (target_id, target_type, pid);`);
    raw.close();
    const upgraded = new SqliteStore(path);
    await upgraded.close();
    const check = new Database(path, { readonly: true });
    const row = check
      .prepare("SELECT max_span FROM search_param WHERE type = 'Encounter' AND code = 'date'")
      .get() as {
      max_span: number;
    };
    const indexes = check
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'idx_reference'")
      .all() as { name: string }[];
    const inbound = check.prepare('PRAGMA index_info(idx_reference_inbound)').all() as { name: string }[];
    const low = check.prepare('PRAGMA index_info(idx_date_low)').all() as { name: string }[];
    check.close();
    await harness.cleanup();
    assert.equal(row.max_span, 5_000);
    assert.ok(!indexes.some((i) => i.name === 'idx_reference_target'));
    assert.deepEqual(
      inbound.map((c) => c.name),
      ['target_id', 'target_type', 'pid', 'rid'],
    );
    assert.deepEqual(
      low.map((c) => c.name),
      ['pid', 'low', 'high', 'rid'],
    );
  });

  it('pages forward and back the same way along the sort index and the type walk', async () => {
    const store = new SqliteStore(':memory:');
    const day = 86_400_000;
    const start = Date.parse('2024-01-01T00:00:00Z');
    const versions: VersionWrite[] = Array.from({ length: 3000 }, (_, i) => ({
      type: 'Observation',
      id: `o${i}`,
      versionId: 1,
      lastUpdated: new Date().toISOString(),
      deleted: false,
      json: '{}',
      expectedVersionId: null,
      index: [
        { kind: 'token', param: 'code', system: null, code: i % 4 === 0 ? 'rare' : 'common' },
        // a few share a date; every 50th has none
        ...(i % 50 === 0
          ? []
          : [
              {
                kind: 'date' as const,
                param: 'date',
                low: start + (i % 700) * day,
                high: start + (i % 700) * day + 999,
              },
            ]),
      ],
    }));
    await store.write({ versions });
    const base = { sort: [], total: 'none' as const, include: [], revinclude: [] };
    const code = {
      param: 'code',
      type: 'token' as const,
      values: [{ kind: 'token' as const, code: 'common' }],
    };
    const range = (prefix: 'ge' | 'lt', iso: string) => ({
      param: 'date',
      type: 'date' as const,
      values: [{ kind: 'date' as const, prefix, low: Date.parse(iso), high: Date.parse(iso) + day - 1 }],
    });
    const shapes: SearchQuery[] = [
      {
        ...base,
        types: ['Observation'],
        filters: [code],
        sort: [{ param: 'date', descending: true, type: 'date' }],
        count: 300,
      },
      {
        ...base,
        types: ['Observation'],
        filters: [range('ge', '2024-01-01'), range('lt', '2025-12-01')],
        count: 400,
      },
      {
        ...base,
        types: ['Observation'],
        filters: [range('ge', '2024-01-15'), range('lt', '2025-12-01')],
        sort: [{ param: 'date', descending: false, type: 'date' }],
        count: 250,
      },
      // no filter at all: the sort index alone drives (those without a value come last)
      {
        ...base,
        types: ['Observation'],
        filters: [],
        sort: [{ param: 'date', descending: true, type: 'date' }],
        count: 500,
      },
      {
        ...base,
        types: ['Observation'],
        filters: [],
        sort: [{ param: 'code', descending: false, type: 'token' }],
        count: 500,
      },
    ];
    for (const query of shapes) {
      const forward: string[][] = [];
      let page = await store.search(query);
      forward.push(page.matches.map((m) => m.id));
      while (page.next !== undefined) {
        page = await store.search({ ...query, cursor: page.next });
        forward.push(page.matches.map((m) => m.id));
      }
      const all = forward.flat();
      assert.equal(new Set(all).size, all.length, 'no resource twice');
      if (query.filters.length === 0) assert.equal(all.length, versions.length, 'every resource once');
      assert.ok(forward.length > 3, `several pages (${forward.length})`);
      const back: string[][] = [forward[forward.length - 1] ?? []];
      while (page.previous !== undefined) {
        page = await store.search({ ...query, cursor: page.previous });
        back.unshift(page.matches.map((m) => m.id));
      }
      assert.deepEqual(back, forward);
    }
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

  it('builds the value indexes once at the end of a bulk load, and at the next open when it was cut short', async () => {
    const path = file();
    const indexNames = (): string[] => {
      const raw = new Database(path, { readonly: true });
      try {
        return (
          raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]
        ).map((r) => r.name);
      } finally {
        raw.close();
      }
    };
    const store = new SqliteStore(path);
    const during = await store.bulkLoad(() => Promise.resolve(indexNames()));
    for (const index of deferredIndexes) assert.ok(!during.includes(index), `${index} deferred`);
    assert.ok(during.includes('idx_token_rid'));
    for (const index of deferredIndexes) assert.ok(indexNames().includes(index), `${index} built`);
    // a load cut short (the process ended mid-way) leaves them to the next open
    const raw = new Database(path);
    for (const index of deferredIndexes) raw.exec(`DROP INDEX ${index}`);
    raw.close();
    await store.close();
    const reopened = new SqliteStore(path);
    for (const index of deferredIndexes) assert.ok(indexNames().includes(index), `${index} rebuilt at open`);
    await reopened.close();
  });
});
