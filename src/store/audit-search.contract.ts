/**
 * The audit trail's part of the search contract: AuditEvents share most of their token and
 * string entries (action, outcome, subtype, address…) and the references that name only an
 * identifier (the client, the source), and a store may keep them shared (the
 * embedded store does: schema.ts idx_facet). Whatever it keeps, every search answers as if each
 * event had its own.
 */
import assert from 'node:assert/strict';
import type { FilterValue, HasFilter, IndexEntry, SearchQuery } from '../search/types.js';
import { date, day, dt, f, ids, put, q, ref, str, tok, token } from './search.contract.js';
import type { StoreHarness } from './store.contract.js';
import type { ResourceStore, VersionWrite } from './store.js';

const dicom = 'http://dicom.nema.org/resources/ontology/DCM';
const rest = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const interaction = 'http://hl7.org/fhir/restful-interaction';

const clients = 'urn:ferry:client';
const sources = 'urn:ferry:source';

/** A reference that names no resource, only an identifier (agent.who of a client, source.observer). */
const idRef = (param: string, system: string, value: string, target?: [string, string]): IndexEntry => ({
  kind: 'reference',
  param,
  targetType: target?.[0] ?? null,
  targetId: target?.[1] ?? null,
  url: null,
  version: null,
  identifierSystem: system,
  identifierValue: value,
});

/** The entries of an access's AuditEvent, as the audit trail writes them. */
function access(
  action: string,
  outcome: string,
  subtype: string,
  address: string,
  day0: string,
  patient?: string,
  agent: IndexEntry = idRef('agent', clients, 'app-a'),
): IndexEntry[] {
  return [
    token('action', null, action),
    token('outcome', null, outcome),
    token('type', rest, 'rest', 'restful operation'),
    token('subtype', interaction, subtype),
    str('address', address),
    date('date', ...day(day0)),
    agent,
    idRef('source', sources, 'ferry-1'),
    ...(patient ? [ref('patient', 'Patient', patient), ref('entity', 'Patient', patient)] : []),
  ];
}

/**
 * Two patients and six AuditEvents; e1, e2 and e5 share every token, string and identifier-only
 * reference entry.
 */
export function auditFixture(): VersionWrite[] {
  return [
    put('Patient', 'ann', [str('name', 'Ann')]),
    put('Patient', 'bo', [str('name', 'Bo')]),
    put('AuditEvent', 'e1', access('R', '0', 'read', '10.0.0.1', '2026-01-01', 'ann')),
    put('AuditEvent', 'e2', access('R', '0', 'read', '10.0.0.1', '2026-01-02', 'bo')),
    // a user who is a Practitioner here, with an identifier as well
    put(
      'AuditEvent',
      'e3',
      access(
        'C',
        '0',
        'create',
        '10.0.0.2',
        '2026-01-03',
        'ann',
        idRef('agent', clients, 'app-b', ['Practitioner', 'p1']),
      ),
    ),
    put('AuditEvent', 'e4', access('R', '4', 'read', '10.0.0.1', '2026-01-04')),
    put('AuditEvent', 'e5', access('R', '0', 'read', '10.0.0.1', '2026-01-05', 'ann')),
    // an event with no token, string or reference entry at all
    put('AuditEvent', 'e6', [date('date', ...day('2026-01-06'))]),
  ];
}

const missing = (is: boolean): FilterValue => ({ kind: 'missing', missing: is });
const text = (value: string): FilterValue => ({ kind: 'string', value });
const idValue = (value: string, system?: string): FilterValue => ({
  kind: 'reference',
  identifierValue: value,
  ...(system === undefined ? {} : { identifierSystem: system }),
});
const audit = (filters: SearchQuery['filters'], extra: Partial<SearchQuery> = {}): SearchQuery =>
  q(['AuditEvent'], filters, extra);

/** Searches over auditFixture() and the ids each must find. */
export const auditSearchCases: [string, SearchQuery, string[]][] = [
  ['a code', audit([f('action', 'token', [tok('R')])]), ['e1', 'e2', 'e4', 'e5']],
  [
    'two codes ANDed',
    audit([f('action', 'token', [tok('R')]), f('outcome', 'token', [tok('0')])]),
    ['e1', 'e2', 'e5'],
  ],
  ['codes ORed', audit([f('subtype', 'token', [tok('create'), tok('vread')])]), ['e3']],
  ['system and code', audit([f('subtype', 'token', [tok('read', interaction)])]), ['e1', 'e2', 'e4', 'e5']],
  ['a system alone', audit([f('type', 'token', [tok(undefined, rest)])]), ['e1', 'e2', 'e3', 'e4', 'e5']],
  ['no system', audit([f('subtype', 'token', [tok('read', null)])]), []],
  ['another system', audit([f('type', 'token', [tok('rest', dicom)])]), []],
  ['a code never stored', audit([f('action', 'token', [tok('D')])]), []],
  ['a :not', audit([f('action', 'token', [tok('R')], { modifier: 'not' })]), ['e3', 'e6']],
  ['a :missing', audit([f('outcome', 'token', [missing(true)], { modifier: 'missing' })]), ['e6']],
  [
    'a :missing=false',
    audit([f('address', 'string', [missing(false)], { modifier: 'missing' })]),
    ['e1', 'e2', 'e3', 'e4', 'e5'],
  ],
  [
    'a :text',
    audit([f('type', 'token', [{ kind: 'token', text: 'RESTful' }], { modifier: 'text' })]),
    ['e1', 'e2', 'e3', 'e4', 'e5'],
  ],
  ['a string prefix', audit([f('address', 'string', [text('10.0.0.2')])]), ['e3']],
  [
    'a string :exact',
    audit([f('address', 'string', [text('10.0.0.1')], { modifier: 'exact' })]),
    ['e1', 'e2', 'e4', 'e5'],
  ],
  ['a string :contains', audit([f('address', 'string', [text('0.2')], { modifier: 'contains' })]), ['e3']],
  [
    'a code with a patient',
    audit([
      f('action', 'token', [tok('R')]),
      f('patient', 'reference', [{ kind: 'reference', targetType: 'Patient', targetId: 'ann' }]),
    ]),
    ['e1', 'e5'],
  ],
  [
    'a code with a date',
    audit([f('outcome', 'token', [tok('0')]), f('date', 'date', [dt('ge', '2026-01-02')])]),
    ['e2', 'e3', 'e5'],
  ],
  [
    "an agent's identifier",
    audit([f('agent', 'reference', [idValue('app-a', clients)], { modifier: 'identifier' })]),
    ['e1', 'e2', 'e4', 'e5'],
  ],
  [
    "an agent's identifier without a system, on a reference that also names a resource",
    audit([f('agent', 'reference', [idValue('app-b')], { modifier: 'identifier' })]),
    ['e3'],
  ],
  [
    'an identifier in another system',
    audit([f('agent', 'reference', [idValue('app-a', sources)], { modifier: 'identifier' })]),
    [],
  ],
  [
    "the source's identifier with a code",
    audit([
      f('action', 'token', [tok('R')]),
      f('source', 'reference', [idValue('ferry-1', sources)], { modifier: 'identifier' }),
    ]),
    ['e1', 'e2', 'e4', 'e5'],
  ],
  ['an agent :missing', audit([f('agent', 'reference', [missing(true)], { modifier: 'missing' })]), ['e6']],
  [
    'an agent :missing=false',
    audit([f('agent', 'reference', [missing(false)], { modifier: 'missing' })]),
    ['e1', 'e2', 'e3', 'e4', 'e5'],
  ],
  [
    'an agent by the resource it names',
    audit([f('agent', 'reference', [{ kind: 'reference', targetType: 'Practitioner', targetId: 'p1' }])]),
    ['e3'],
  ],
  [
    'a code in a compartment',
    audit([f('action', 'token', [tok('C')]), { compartment: 'Patient', id: 'ann', params: ['patient'] }]),
    ['e3'],
  ],
];

export function describeAuditSearchContract(name: string, harness: StoreHarness): void {
  describe(`${name} store search contract: the audit trail's shared entries`, () => {
    let store: ResourceStore;
    before(async () => {
      store = await harness.open();
      await store.write({ versions: auditFixture() });
    });
    after(async () => {
      await store.close();
      await harness.cleanup();
    });

    for (const [what, query, expected] of auditSearchCases) {
      it(`finds AuditEvents by ${what}`, async () => {
        assert.deepEqual(await ids(store, query), expected);
      });
    }

    it('finds the patients a matching AuditEvent names (_has)', async () => {
      const has: HasFilter = {
        sourceType: 'AuditEvent',
        referenceParam: 'patient',
        filter: f('action', 'token', [tok('C')]),
      };
      assert.deepEqual(await ids(store, q(['Patient'], [has])), ['ann']);
    });

    it('sorts by a shared entry, events without one last', async () => {
      const page = await store.search(
        audit([], { sort: [{ param: 'action', descending: false, type: 'token' }] }),
      );
      assert.deepEqual(
        page.matches.map((m) => m.id),
        ['e3', 'e1', 'e2', 'e4', 'e5', 'e6'],
      );
      const down = await store.search(
        audit([], { sort: [{ param: 'address', descending: true, type: 'string' }] }),
      );
      assert.deepEqual(down.matches[0]?.id, 'e3');
    });

    it('counts and pages the events a shared entry finds, each once', async () => {
      const query = audit([f('action', 'token', [tok('R')])], { count: 3, total: 'accurate' });
      const first = await store.search(query);
      assert.equal(first.total, 4);
      assert.equal(first.matches.length, 3);
      assert.ok(first.next);
      const second = await store.search({ ...query, cursor: first.next });
      const all = [...first.matches, ...second.matches].map((m) => m.id).sort();
      assert.deepEqual(all, ['e1', 'e2', 'e4', 'e5']);
    });

    it('forgets the shared entries an event no longer has', async () => {
      await store.write({
        versions: [put('AuditEvent', 'e4', access('D', '4', 'delete', '10.0.0.9', '2026-01-04'), 2)],
      });
      assert.deepEqual(await ids(store, audit([f('action', 'token', [tok('R')])])), ['e1', 'e2', 'e5']);
      assert.deepEqual(await ids(store, audit([f('action', 'token', [tok('D')])])), ['e4']);
      assert.deepEqual(await ids(store, audit([f('outcome', 'token', [tok('4')])])), ['e4']);
      assert.deepEqual(await ids(store, audit([f('address', 'string', [text('10.0.0.1')])])), [
        'e1',
        'e2',
        'e5',
      ]);
    });
  });
}
