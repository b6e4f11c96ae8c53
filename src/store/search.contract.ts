/**
 * The search half of the store contract: given index entries written with versions, a store
 * answers SearchQuery exactly so. Stores run it beside store.contract.ts.
 */
import assert from 'node:assert/strict';
import type {
  Filter,
  FilterValue,
  HasFilter,
  IndexEntry,
  QueryFilter,
  SearchQuery,
} from '../search/types.js';
import type { StoreHarness } from './store.contract.js';
import type { ResourceStore, VersionWrite } from './store.js';

export const day = (d: string): [number, number] => [
  Date.parse(`${d}T00:00:00Z`),
  Date.parse(`${d}T23:59:59.999Z`),
];
export const at = (instant: string): number => Date.parse(instant);

export const token = (param: string, system: string | null, code: string, text?: string): IndexEntry => ({
  kind: 'token',
  param,
  system,
  code,
  ...(text === undefined ? {} : { text }),
});
export const str = (param: string, exact: string): IndexEntry => ({
  kind: 'string',
  param,
  exact,
  normalized: exact
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase(),
});
export const date = (param: string, low: number, high: number): IndexEntry => ({
  kind: 'date',
  param,
  low,
  high,
});
export const ref = (param: string, targetType: string, targetId: string): IndexEntry => ({
  kind: 'reference',
  param,
  targetType,
  targetId,
  url: null,
  version: null,
  identifierSystem: null,
  identifierValue: null,
});
const qty = (param: string, value: number, code: string): IndexEntry => ({
  kind: 'quantity',
  param,
  value,
  low: value - 0.05,
  high: value + 0.05,
  system: 'http://unitsofmeasure.org',
  code,
  unit: code,
});

let n = 0;
export function put(type: string, id: string, index: IndexEntry[], versionId = 1): VersionWrite {
  const lastUpdated = new Date(Date.parse('2026-03-01T00:00:00Z') + ++n * 1000).toISOString();
  return {
    type,
    id,
    versionId,
    lastUpdated,
    deleted: false,
    expectedVersionId: versionId === 1 ? null : versionId - 1,
    json: JSON.stringify({ resourceType: type, id }),
    index,
  };
}

export const q = (
  types: string[],
  filters: QueryFilter[],
  extra: Partial<SearchQuery> = {},
): SearchQuery => ({
  types,
  filters,
  sort: [],
  count: 50,
  total: 'none',
  include: [],
  revinclude: [],
  ...extra,
});
export const f = (
  param: string,
  type: Filter['type'],
  values: FilterValue[],
  extra: Partial<Filter> = {},
): Filter => ({
  param,
  type,
  values,
  ...extra,
});
export const tok = (code?: string, system?: string | null): FilterValue => ({
  kind: 'token',
  ...(code === undefined ? {} : { code }),
  ...(system === undefined ? {} : { system }),
});
export const dt = (prefix: 'eq' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ne', d: string): FilterValue => {
  const [low, high] = day(d);
  return { kind: 'date', prefix, low, high };
};

export async function ids(store: ResourceStore, query: SearchQuery): Promise<string[]> {
  const page = await store.search(query);
  return page.matches.map((m) => m.id).sort();
}

const loinc = 'http://loinc.org';

export function describeSearchContract(name: string, harness: StoreHarness): void {
  describe(`${name} store search contract`, () => {
    let store: ResourceStore;
    before(async () => {
      store = await harness.open();
      await store.write({
        versions: [
          put('Patient', 'ann', [
            str('name', 'Ann'),
            str('name', 'Lee'),
            token('gender', null, 'female'),
            date('birthdate', ...day('1970-03-04')),
          ]),
          put('Patient', 'bo', [
            str('name', 'Bø'),
            str('name', 'Brønsted'),
            token('gender', null, 'male'),
            date('birthdate', ...day('1985-11-30')),
          ]),
          put('Patient', 'cy', [str('name', 'Cy'), str('name', 'Lee-Smith'), token('gender', null, 'other')]),
          put('Observation', 'o1', [
            token('code', loinc, '2345-7', 'glucose'),
            token('status', null, 'final'),
            ref('subject', 'Patient', 'ann'),
            date('date', at('2024-01-10T08:00:00Z'), at('2024-01-10T08:00:00Z')),
            qty('value-quantity', 5.4, 'mmol/L'),
          ]),
          put('Observation', 'o2', [
            token('code', loinc, '2345-7', 'glucose'),
            token('status', null, 'preliminary'),
            ref('subject', 'Patient', 'bo'),
            date('date', at('2024-02-01T09:30:00Z'), at('2024-02-01T09:30:00Z')),
            qty('value-quantity', 7.9, 'mmol/L'),
          ]),
          put('Observation', 'o3', [
            token('code', 'http://acme.org/codes', '2345-7'),
            token('status', null, 'final'),
            ref('subject', 'Patient', 'ann'),
            date('date', ...day('2023-12-24')),
          ]),
          put('Observation', 'o4', [
            token('code', loinc, '718-7', 'hemoglobin'),
            ref('subject', 'Patient', 'cy'),
          ]),
        ],
      });
    });
    after(async () => {
      await store.close();
      await harness.cleanup();
    });

    it('finds tokens by code, by system and code, by system alone and with no system', async () => {
      assert.deepEqual(await ids(store, q(['Observation'], [f('code', 'token', [tok('2345-7')])])), [
        'o1',
        'o2',
        'o3',
      ]);
      assert.deepEqual(await ids(store, q(['Observation'], [f('code', 'token', [tok('2345-7', loinc)])])), [
        'o1',
        'o2',
      ]);
      assert.deepEqual(await ids(store, q(['Observation'], [f('code', 'token', [tok(undefined, loinc)])])), [
        'o1',
        'o2',
        'o4',
      ]);
      assert.deepEqual(await ids(store, q(['Patient'], [f('gender', 'token', [tok('male', null)])])), ['bo']);
    });

    it('ORs the values of one parameter and ANDs parameters', async () => {
      const query = q(
        ['Observation'],
        [f('code', 'token', [tok('718-7'), tok('2345-7', loinc)]), f('status', 'token', [tok('final')])],
      );
      assert.deepEqual(await ids(store, query), ['o1']);
    });

    it('finds by :not (including resources without the element), :missing and :text', async () => {
      assert.deepEqual(
        await ids(store, q(['Observation'], [f('status', 'token', [tok('final')], { modifier: 'not' })])),
        ['o2', 'o4'],
      );
      assert.deepEqual(
        await ids(
          store,
          q(
            ['Observation'],
            [f('status', 'token', [{ kind: 'missing', missing: true }], { modifier: 'missing' })],
          ),
        ),
        ['o4'],
      );
      assert.deepEqual(
        await ids(
          store,
          q(
            ['Patient'],
            [f('birthdate', 'date', [{ kind: 'missing', missing: false }], { modifier: 'missing' })],
          ),
        ),
        ['ann', 'bo'],
      );
      assert.deepEqual(
        await ids(
          store,
          q(['Observation'], [f('code', 'token', [{ kind: 'token', text: 'Gluc' }], { modifier: 'text' })]),
        ),
        ['o1', 'o2'],
      );
    });

    it('matches strings by prefix without case or accents, and by :exact and :contains', async () => {
      assert.deepEqual(
        await ids(store, q(['Patient'], [f('name', 'string', [{ kind: 'string', value: 'lee' }])])),
        ['ann', 'cy'],
      );
      assert.deepEqual(
        await ids(store, q(['Patient'], [f('name', 'string', [{ kind: 'string', value: 'BRØN' }])])),
        ['bo'],
      );
      assert.deepEqual(
        await ids(
          store,
          q(['Patient'], [f('name', 'string', [{ kind: 'string', value: 'Lee' }], { modifier: 'exact' })]),
        ),
        ['ann'],
      );
      assert.deepEqual(
        await ids(
          store,
          q(['Patient'], [f('name', 'string', [{ kind: 'string', value: 'smi' }], { modifier: 'contains' })]),
        ),
        ['cy'],
      );
    });

    it('compares dates by range with every prefix', async () => {
      const obs = (v: FilterValue): Promise<string[]> =>
        ids(store, q(['Observation'], [f('date', 'date', [v])]));
      assert.deepEqual(await obs(dt('eq', '2024-01-10')), ['o1']);
      assert.deepEqual(await obs(dt('gt', '2024-01-10')), ['o2']);
      assert.deepEqual(await obs(dt('ge', '2024-01-10')), ['o1', 'o2']);
      assert.deepEqual(await obs(dt('lt', '2024-01-10')), ['o3']);
      assert.deepEqual(await obs(dt('le', '2024-01-10')), ['o1', 'o3']);
      assert.deepEqual(await obs(dt('sa', '2023-12-24')), ['o1', 'o2']);
      assert.deepEqual(await obs(dt('eb', '2024-02-01')), ['o1', 'o3']);
      assert.deepEqual(await obs(dt('ne', '2024-01-10')), ['o2', 'o3']);
      const [low, high] = [at('2024-01-01T00:00:00Z'), at('2024-01-31T23:59:59.999Z')];
      assert.deepEqual(await obs({ kind: 'date', prefix: 'eq', low, high }), ['o1']);
    });

    it('matches date bounds on one parameter against one value, long and open periods included', async () => {
      const far = 8640000000000000;
      await store.write({
        versions: [
          put('Encounter', 'open', [date('date', at('2020-05-01T00:00:00Z'), far)]),
          put('Encounter', 'year', [date('date', at('2023-06-01T00:00:00Z'), at('2024-06-01T00:00:00Z'))]),
          put('Encounter', 'inside', [date('date', at('2024-02-01T10:00:00Z'), at('2024-02-01T11:00:00Z'))]),
          put('Encounter', 'edge', [date('date', at('2024-01-20T00:00:00Z'), at('2024-02-01T00:30:00Z'))]),
          put('Encounter', 'before', [date('date', ...day('2024-01-10'))]),
          put('Encounter', 'after', [date('date', ...day('2024-03-10'))]),
          // neither of its two values falls in the range, though one is before and one after it
          put('Encounter', 'split', [date('date', ...day('2024-01-05')), date('date', ...day('2024-03-05'))]),
        ],
      });
      const enc = (...values: FilterValue[]): Promise<string[]> =>
        ids(
          store,
          q(
            ['Encounter'],
            values.map((v) => f('date', 'date', [v])),
          ),
        );
      assert.deepEqual(await enc(dt('ge', '2024-02-01'), dt('lt', '2024-02-03')), [
        'edge',
        'inside',
        'open',
        'year',
      ]);
      assert.deepEqual(await enc(dt('gt', '2024-01-31'), dt('le', '2024-02-01')), [
        'edge',
        'inside',
        'open',
        'year',
      ]);
      assert.deepEqual(await enc(dt('ge', '2024-03-01')), ['after', 'open', 'split', 'year']);
      assert.deepEqual(await enc(dt('sa', '2024-01-31'), dt('eb', '2024-03-09')), ['inside', 'split']);
      const [low, high] = day('2024-02-01');
      assert.deepEqual(await enc({ kind: 'date', prefix: 'ap', low, high }), [
        'edge',
        'inside',
        'open',
        'year',
      ]);
    });

    it('compares quantities with their unit', async () => {
      const v = (prefix: 'gt' | 'lt' | 'eq', value: number): FilterValue => ({
        kind: 'quantity',
        prefix,
        value,
        low: value - 0.05,
        high: value + 0.05,
        code: 'mmol/L',
      });
      assert.deepEqual(
        await ids(store, q(['Observation'], [f('value-quantity', 'quantity', [v('gt', 6)])])),
        ['o2'],
      );
      assert.deepEqual(
        await ids(store, q(['Observation'], [f('value-quantity', 'quantity', [v('eq', 5.4)])])),
        ['o1'],
      );
    });

    it('finds references by id, by type and id, and through a chain', async () => {
      const subject = (value: FilterValue, extra: Partial<Filter> = {}): Promise<string[]> =>
        ids(store, q(['Observation'], [f('subject', 'reference', [value], extra)]));
      assert.deepEqual(await subject({ kind: 'reference', targetId: 'ann' }), ['o1', 'o3']);
      assert.deepEqual(await subject({ kind: 'reference', targetType: 'Patient', targetId: 'bo' }), ['o2']);
      assert.deepEqual(await subject({ kind: 'reference', targetId: 'bo' }, { targetType: 'Group' }), []);
      const chained = f('subject', 'reference', [{ kind: 'reference' }], {
        chain: { targetTypes: ['Patient'], query: f('name', 'string', [{ kind: 'string', value: 'lee' }]) },
      });
      assert.deepEqual(await ids(store, q(['Observation'], [chained])), ['o1', 'o3', 'o4']);
    });

    it('finds resources referred to by matching ones (_has)', async () => {
      const has: HasFilter = {
        sourceType: 'Observation',
        referenceParam: 'subject',
        filter: f('code', 'token', [tok('718-7')]),
      };
      assert.deepEqual(await ids(store, q(['Patient'], [has])), ['cy']);
    });

    it('filters by _id and _lastUpdated', async () => {
      assert.deepEqual(await ids(store, q(['Patient'], [f('_id', 'token', [tok('bo'), tok('cy')])])), [
        'bo',
        'cy',
      ]);
      const recent = await ids(
        store,
        q(
          ['Patient'],
          [
            f('_lastUpdated', 'date', [
              { kind: 'date', prefix: 'gt', low: 0, high: at('2026-03-01T00:00:00Z') },
            ]),
          ],
        ),
      );
      assert.deepEqual(recent, ['ann', 'bo', 'cy']);
    });

    it('sorts on several keys and pages with a cursor that survives concurrent writes', async () => {
      const query = q(['Observation'], [], {
        sort: [{ param: 'date', descending: true, type: 'date' }],
        count: 2,
      });
      const first = await store.search(query);
      assert.deepEqual(
        first.matches.map((m) => m.id),
        ['o2', 'o1'],
      );
      assert.ok(first.next);
      await store.write({ versions: [put('Observation', 'o0', [date('date', ...day('2030-01-01'))])] });
      const second = await store.search({ ...query, cursor: first.next });
      assert.deepEqual(
        second.matches.map((m) => m.id),
        ['o3', 'o4'],
      ); // o4 has no date: last
      assert.equal(second.next, undefined);
      const byName = await store.search(
        q(['Patient'], [], { sort: [{ param: 'name', descending: false, type: 'string' }] }),
      );
      assert.deepEqual(
        byName.matches.map((m) => m.id),
        ['ann', 'bo', 'cy'],
      );
    });

    it('pages back with previous cursors through the same pages, values missing or not', async () => {
      const shapes: SearchQuery[] = [
        q(['Observation'], [], { count: 1 }),
        q(['Observation'], [], { sort: [{ param: 'date', descending: true, type: 'date' }], count: 2 }),
        q(['Patient'], [], { sort: [{ param: 'birthdate', descending: false, type: 'date' }], count: 1 }),
        q(['Observation'], [], {
          sort: [
            { param: 'status', descending: false, type: 'token' },
            { param: 'date', descending: false, type: 'date' },
          ],
          count: 2,
        }),
      ];
      for (const query of shapes) {
        const forward: string[][] = [];
        let page = await store.search(query);
        assert.equal(page.previous, undefined, 'the first page has no previous page');
        forward.push(page.matches.map((m) => m.id));
        while (page.next !== undefined) {
          page = await store.search({ ...query, cursor: page.next });
          assert.ok(page.previous, 'a later page has a previous page');
          forward.push(page.matches.map((m) => m.id));
        }
        const back: string[][] = [forward[forward.length - 1] ?? []];
        while (page.previous !== undefined) {
          page = await store.search({ ...query, cursor: page.previous });
          assert.ok(page.next, 'a page before another has a next page');
          back.unshift(page.matches.map((m) => m.id));
        }
        assert.deepEqual(back, forward, JSON.stringify(query.sort));
      }
    });

    it('counts all matches when a total is asked, even with _count=0', async () => {
      const page = await store.search(
        q(['Observation'], [f('code', 'token', [tok('2345-7')])], { total: 'accurate', count: 0 }),
      );
      assert.equal(page.total, 3);
      assert.equal(page.matches.length, 0);
    });

    it('adds _include and _revinclude resources, once each', async () => {
      const page = await store.search(
        q(['Observation'], [f('code', 'token', [tok('2345-7', loinc)])], {
          include: [{ sourceType: 'Observation', param: 'subject', iterate: false }],
        }),
      );
      assert.deepEqual(page.included.map((i) => i.id).sort(), ['ann', 'bo']);
      const rev = await store.search(
        q(['Patient'], [f('_id', 'token', [tok('ann')])], {
          revinclude: [{ sourceType: 'Observation', param: 'subject', iterate: false }],
        }),
      );
      assert.deepEqual(rev.included.map((i) => i.id).sort(), ['o1', 'o3']);
    });

    it('finds the members of a compartment through any of its parameters', async () => {
      const inCompartment = { compartment: 'Patient', id: 'ann', params: ['subject', 'performer'] };
      assert.deepEqual(await ids(store, q(['Observation'], [inCompartment])), ['o1', 'o3']);
      assert.deepEqual(
        await ids(store, q(['Observation'], [f('status', 'token', [tok('final')]), inCompartment])),
        ['o1', 'o3'],
      );
    });

    it('searches across several types at once', async () => {
      assert.deepEqual(
        await ids(store, q(['Patient', 'Observation'], [f('_id', 'token', [tok('ann'), tok('o4')])])),
        ['ann', 'o4'],
      );
      // with no filter: every resource of the types
      const each = [...(await ids(store, q(['Patient'], []))), ...(await ids(store, q(['Observation'], [])))];
      assert.deepEqual(await ids(store, q(['Patient', 'Observation'], [])), each.sort());
    });

    it('forgets the old index entries of an updated or deleted resource', async () => {
      await store.write({
        versions: [put('Patient', 'bo', [str('name', 'Bodil'), token('gender', null, 'female')], 2)],
      });
      assert.deepEqual(await ids(store, q(['Patient'], [f('gender', 'token', [tok('male')])])), []);
      assert.deepEqual(
        await ids(store, q(['Patient'], [f('name', 'string', [{ kind: 'string', value: 'bodil' }])])),
        ['bo'],
      );
      const tombstone: VersionWrite = { ...put('Patient', 'bo', [], 3), deleted: true };
      delete tombstone.json;
      await store.write({ versions: [tombstone] });
      assert.deepEqual(
        await ids(store, q(['Patient'], [f('name', 'string', [{ kind: 'string', value: 'bodil' }])])),
        [],
      );
      assert.deepEqual(await ids(store, q(['Patient'], [])), ['ann', 'cy']);
    });
  });
}
