import assert from 'node:assert/strict';
import { FhirError } from '../errors.js';
import { parseSearch, type ParsedSearch, type SearchInput } from './parse-query.js';
import type { Filter, FilterValue, HasFilter, SearchParamDef, SearchParamType } from './types.js';

// A handful of R4 SearchParameters as parameters.ts would give them.
const sp = (id: string): string => `http://hl7.org/fhir/SearchParameter/${id}`;
const def = (
  base: string,
  code: string,
  type: SearchParamType,
  id: string,
  extra: Partial<SearchParamDef> = {},
): SearchParamDef => ({ code, base, type, expression: `${base}.${code}`, url: sp(id), ...extra });

const types = [
  'Patient',
  'Observation',
  'Encounter',
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Group',
  'Device',
  'Location',
  'RiskAssessment',
  'Questionnaire',
  'QuestionnaireResponse',
  'AuditEvent',
];
const defs: SearchParamDef[] = [
  ...types.flatMap((t) => [
    def(t, '_id', 'token', 'Resource-id'),
    def(t, '_lastUpdated', 'date', 'Resource-lastUpdated'),
    def(t, '_tag', 'token', 'Resource-tag'),
    def(t, '_profile', 'uri', 'Resource-profile'),
  ]),
  def('Patient', 'name', 'string', 'Patient-name'),
  def('Patient', 'birthdate', 'date', 'individual-birthdate'),
  def('Patient', 'identifier', 'token', 'Patient-identifier'),
  def('Patient', 'gender', 'token', 'individual-gender'),
  def('Patient', 'general-practitioner', 'reference', 'Patient-general-practitioner', {
    target: ['Organization', 'Practitioner', 'PractitionerRole'],
  }),
  def('Observation', 'code', 'token', 'clinical-code'),
  def('Observation', 'subject', 'reference', 'Observation-subject', {
    target: ['Group', 'Device', 'Patient', 'Location'],
  }),
  def('Observation', 'patient', 'reference', 'clinical-patient', { target: ['Patient'] }),
  def('Observation', 'encounter', 'reference', 'clinical-encounter', { target: ['Encounter'] }),
  def('Observation', 'date', 'date', 'clinical-date'),
  def('Observation', 'value-quantity', 'quantity', 'Observation-value-quantity'),
  def('Observation', 'category', 'token', 'Observation-category'),
  def('Observation', 'code-value-quantity', 'composite', 'Observation-code-value-quantity', {
    expression: 'Observation',
    components: [
      { definition: sp('clinical-code'), expression: 'code' },
      { definition: sp('Observation-value-quantity'), expression: 'value.ofType(Quantity)' },
    ],
  }),
  def('Encounter', 'subject', 'reference', 'Encounter-subject', { target: ['Group', 'Patient'] }),
  def('Practitioner', 'name', 'string', 'Practitioner-name'),
  def('Organization', 'name', 'string', 'Organization-name'),
  def('Location', 'name', 'string', 'Location-name'),
  def('Location', 'near', 'special', 'Location-near'),
  def('RiskAssessment', 'probability', 'number', 'RiskAssessment-probability'),
  def('QuestionnaireResponse', 'questionnaire', 'reference', 'QuestionnaireResponse-questionnaire', {
    target: ['Questionnaire'],
  }),
  def('AuditEvent', 'entity', 'reference', 'AuditEvent-entity'),
  def('AuditEvent', 'agent', 'reference', 'AuditEvent-agent', { target: ['Practitioner', 'Device'] }),
];
const lookupOf =
  (all: SearchParamDef[]) =>
  (type: string, code: string): SearchParamDef | undefined =>
    all.find((d) => d.base === type && d.code === code);
const lookup = lookupOf(defs);

const now = Date.parse('2026-01-01T00:00:00Z');
const at = (iso: string): number => Date.parse(iso);

function parse(
  type: string | string[],
  query: string | [string, string][],
  options: Partial<SearchInput> = {},
): ParsedSearch {
  return parseSearch({
    types: typeof type === 'string' ? [type] : type,
    params: typeof query === 'string' ? [...new URLSearchParams(query)] : query,
    strict: false,
    lookup,
    now,
    ...options,
  });
}

/** The only filter a query yields. */
function only(
  type: string,
  query: string | [string, string][],
  options: Partial<SearchInput> = {},
): Filter | HasFilter {
  const { filters } = parse(type, query, options).query;
  assert.equal(filters.length, 1, `one filter from ${JSON.stringify(query)}`);
  return filters[0] as Filter | HasFilter;
}

/** The values of the only filter. */
const values = (type: string, query: string | [string, string][]): FilterValue[] =>
  (only(type, query) as Filter).values;

/** Asserts a 400 whose expression is `expression` and whose text matches `text`. */
function rejects(
  type: string | string[],
  query: string | [string, string][],
  expression: string,
  text: RegExp,
  options: Partial<SearchInput> = {},
): void {
  assert.throws(
    () => parse(type, query, options),
    (e: unknown) => {
      assert.ok(e instanceof FhirError, `a FhirError, not ${String(e)}`);
      assert.equal(e.status, 400);
      const issue = e.outcome.issue[0];
      assert.deepEqual(issue?.expression, [expression]);
      assert.match(issue.diagnostics ?? '', text);
      return true;
    },
  );
}

describe('parseSearch', () => {
  describe('values of each parameter type', () => {
    const cases: [string, string, string, FilterValue[]][] = [
      // string
      ['a string', 'Patient', 'name=Lee', [{ kind: 'string', value: 'Lee' }]],
      ['a string that looks prefixed', 'Patient', 'name=gtLee', [{ kind: 'string', value: 'gtLee' }]],
      [
        'OR-ed strings',
        'Patient',
        'name=Lee,Ng',
        [
          { kind: 'string', value: 'Lee' },
          { kind: 'string', value: 'Ng' },
        ],
      ],
      // token
      ['a code', 'Patient', 'gender=male', [{ kind: 'token', code: 'male' }]],
      [
        'system|code',
        'Patient',
        'identifier=http://h.org/mrn|123',
        [{ kind: 'token', system: 'http://h.org/mrn', code: '123' }],
      ],
      ['|code (no system)', 'Patient', 'identifier=|123', [{ kind: 'token', system: null, code: '123' }]],
      [
        'system| (any code)',
        'Patient',
        'identifier=http://h.org/mrn|',
        [{ kind: 'token', system: 'http://h.org/mrn' }],
      ],
      ['_id', 'Patient', '_id=abc', [{ kind: 'token', code: 'abc' }]],
      ['_tag', 'Patient', '_tag=http://t.org|x', [{ kind: 'token', system: 'http://t.org', code: 'x' }]],
      // uri
      ['a uri', 'Patient', '_profile=http://p.org/a', [{ kind: 'uri', value: 'http://p.org/a' }]],
      // number: the interval the precision implies (R4 search.html#number)
      [
        '100',
        'RiskAssessment',
        'probability=100',
        [{ kind: 'number', prefix: 'eq', value: 100, low: 99.5, high: 100.5 }],
      ],
      [
        '100.00',
        'RiskAssessment',
        'probability=100.00',
        [{ kind: 'number', prefix: 'eq', value: 100, low: 99.995, high: 100.005 }],
      ],
      [
        '1e2',
        'RiskAssessment',
        'probability=1e2',
        [{ kind: 'number', prefix: 'eq', value: 100, low: 50, high: 150 }],
      ],
      [
        '1.0e2',
        'RiskAssessment',
        'probability=1.0e2',
        [{ kind: 'number', prefix: 'eq', value: 100, low: 95, high: 105 }],
      ],
      [
        '-1.5',
        'RiskAssessment',
        'probability=-1.5',
        [{ kind: 'number', prefix: 'eq', value: -1.5, low: -1.55, high: -1.45 }],
      ],
      [
        'gt0.8',
        'RiskAssessment',
        'probability=gt0.8',
        [{ kind: 'number', prefix: 'gt', value: 0.8, low: 0.75, high: 0.85 }],
      ],
      [
        'ap100 (±10%)',
        'RiskAssessment',
        'probability=ap100',
        [{ kind: 'number', prefix: 'ap', value: 100, low: 90, high: 110 }],
      ],
      // quantity
      [
        'number|system|code',
        'Observation',
        'value-quantity=5.4|http://unitsofmeasure.org|mg',
        [
          {
            kind: 'quantity',
            prefix: 'eq',
            value: 5.4,
            low: 5.35,
            high: 5.45,
            system: 'http://unitsofmeasure.org',
            code: 'mg',
          },
        ],
      ],
      [
        'number||code',
        'Observation',
        'value-quantity=le5.4||mg',
        [{ kind: 'quantity', prefix: 'le', value: 5.4, low: 5.35, high: 5.45, code: 'mg' }],
      ],
      [
        'a bare number',
        'Observation',
        'value-quantity=5',
        [{ kind: 'quantity', prefix: 'eq', value: 5, low: 4.5, high: 5.5 }],
      ],
      [
        'ap on a quantity',
        'Observation',
        'value-quantity=ap100',
        [{ kind: 'quantity', prefix: 'ap', value: 100, low: 90, high: 110 }],
      ],
      // reference
      [
        'Type/id',
        'Observation',
        'subject=Patient/123',
        [{ kind: 'reference', targetType: 'Patient', targetId: '123' }],
      ],
      ['an id', 'Observation', 'subject=123', [{ kind: 'reference', targetId: '123' }]],
      [
        'Type/id/_history/n (version dropped)',
        'Observation',
        'subject=Patient/123/_history/2',
        [{ kind: 'reference', targetType: 'Patient', targetId: '123' }],
      ],
      [
        'an absolute URL',
        'Observation',
        'subject=http://other.org/fhir/Patient/1',
        [{ kind: 'reference', url: 'http://other.org/fhir/Patient/1' }],
      ],
      [
        'a urn',
        'Observation',
        'subject=urn:uuid:9d2e0a61-1c8b-4b1e-a2ad-1d2c0f3e4b5a',
        [{ kind: 'reference', url: 'urn:uuid:9d2e0a61-1c8b-4b1e-a2ad-1d2c0f3e4b5a' }],
      ],
      [
        'a canonical url|version',
        'QuestionnaireResponse',
        'questionnaire=http://q.org/Questionnaire/phq9|2.0',
        [{ kind: 'reference', url: 'http://q.org/Questionnaire/phq9', version: '2.0' }],
      ],
      // composite: each component by its own type
      [
        'a composite',
        'Observation',
        'code-value-quantity=http://loinc.org|8480-6$gt100',
        [
          {
            kind: 'composite',
            components: [
              { kind: 'token', system: 'http://loinc.org', code: '8480-6' },
              { kind: 'quantity', prefix: 'gt', value: 100, low: 99.5, high: 100.5 },
            ],
          },
        ],
      ],
    ];
    for (const [what, type, query, expected] of cases) {
      it(`reads ${what}: ${type}?${query}`, () => assert.deepEqual(values(type, query), expected));
    }

    it('keeps the filter’s parameter and type', () => {
      assert.deepEqual(only('Patient', 'name=Lee'), {
        param: 'name',
        type: 'string',
        values: [{ kind: 'string', value: 'Lee' }],
      });
    });

    it('ANDs a repeated parameter and ORs a comma list', () => {
      const { filters } = parse('Patient', 'name=Lee,Ng&name=Ann').query;
      assert.deepEqual(
        filters.map((f) => (f as Filter).values.length),
        [2, 1],
      );
    });

    it('searches an absolute URL on this server as Type/id', () => {
      const filter = only('Observation', 'subject=https://ferry.example/fhir/Patient/9', {
        baseUrl: 'https://ferry.example/fhir/',
      });
      assert.deepEqual((filter as Filter).values, [
        { kind: 'reference', targetType: 'Patient', targetId: '9' },
      ]);
    });

    it('finds composite components by URL when given a URL lookup', () => {
      const byUrl = (type: string, url: string): SearchParamDef | undefined =>
        defs.find((d) => d.base === type && d.url === url);
      const filter = only('Observation', 'code-value-quantity=8480-6$100', { lookupByUrl: byUrl }) as Filter;
      assert.deepEqual(filter.values, [
        {
          kind: 'composite',
          components: [
            { kind: 'token', code: '8480-6' },
            { kind: 'quantity', prefix: 'eq', value: 100, low: 99.5, high: 100.5 },
          ],
        },
      ]);
    });
  });

  describe('escaping (R4 search.html#escaping)', () => {
    const cases: [string, string, string, FilterValue[]][] = [
      ['\\, is a comma, not OR', 'Patient', 'name=Lee\\,Ann', [{ kind: 'string', value: 'Lee,Ann' }]],
      [
        '\\\\ is a backslash',
        'Patient',
        'name=a\\\\,b',
        [
          { kind: 'string', value: 'a\\' },
          { kind: 'string', value: 'b' },
        ],
      ],
      [
        '\\| in a token is a bar, not system|code',
        'Patient',
        'identifier=urn:a\\|b|1',
        [{ kind: 'token', system: 'urn:a|b', code: '1' }],
      ],
      [
        '\\$ in a composite component',
        'Observation',
        'code-value-quantity=a\\$b$1',
        [
          {
            kind: 'composite',
            components: [
              { kind: 'token', code: 'a$b' },
              { kind: 'quantity', prefix: 'eq', value: 1, low: 0.5, high: 1.5 },
            ],
          },
        ],
      ],
      ['another backslash stays as written', 'Patient', 'name=a\\b', [{ kind: 'string', value: 'a\\b' }]],
    ];
    for (const [what, type, query, expected] of cases) {
      it(`reads ${what}`, () =>
        assert.deepEqual(
          values(type, [[query.split('=')[0]!, query.slice(query.indexOf('=') + 1)]]),
          expected,
        ));
    }
  });

  describe('dates at every precision (R4 search.html#date)', () => {
    const cases: [string, string, string][] = [
      ['2024', '2024-01-01T00:00:00.000Z', '2024-12-31T23:59:59.999Z'],
      ['2024-02', '2024-02-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z'],
      ['2023-02', '2023-02-01T00:00:00.000Z', '2023-02-28T23:59:59.999Z'],
      ['2024-02-29', '2024-02-29T00:00:00.000Z', '2024-02-29T23:59:59.999Z'],
      ['2024-02-29T10:00', '2024-02-29T10:00:00.000Z', '2024-02-29T10:00:59.999Z'],
      ['2024-02-29T10:00:00', '2024-02-29T10:00:00.000Z', '2024-02-29T10:00:00.999Z'],
      ['2024-02-29T10:00:00Z', '2024-02-29T10:00:00.000Z', '2024-02-29T10:00:00.999Z'],
      ['2024-02-29T10:00:00.123Z', '2024-02-29T10:00:00.123Z', '2024-02-29T10:00:00.123Z'],
      ['2024-02-29T10:00:00.1Z', '2024-02-29T10:00:00.100Z', '2024-02-29T10:00:00.199Z'],
      ['2024-02-29T10:00:00.123456Z', '2024-02-29T10:00:00.123Z', '2024-02-29T10:00:00.123Z'],
      ['2024-02-29T10:00:00+01:00', '2024-02-29T09:00:00.000Z', '2024-02-29T09:00:00.999Z'],
      ['2024-02-29T10:00-05:30', '2024-02-29T15:30:00.000Z', '2024-02-29T15:30:59.999Z'],
      ['0099-06', '0099-06-01T00:00:00.000Z', '0099-06-30T23:59:59.999Z'],
    ];
    for (const [text, low, high] of cases) {
      it(`reads ${text} as ${low} … ${high}`, () => {
        assert.deepEqual(values('Patient', [['birthdate', text]]), [
          { kind: 'date', prefix: 'eq', low: at(low), high: at(high) },
        ]);
      });
    }

    it('reads a + that arrived as a space (not percent-encoded) as +', () => {
      assert.deepEqual(values('Patient', 'birthdate=2024-02-29T10:00:00+01:00'), [
        { kind: 'date', prefix: 'eq', low: at('2024-02-29T09:00:00Z'), high: at('2024-02-29T09:00:00.999Z') },
      ]);
    });

    for (const prefix of ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'] as const) {
      it(`keeps the prefix ${prefix}`, () => {
        assert.deepEqual(values('Patient', `birthdate=${prefix}2024`), [
          { kind: 'date', prefix, low: at('2024-01-01T00:00:00Z'), high: at('2024-12-31T23:59:59.999Z') },
        ]);
      });
    }

    it('widens ap by 10% of the distance to now on both sides', () => {
      // now is 2026-01-01T00:00Z; the day ends 9 days + 1 ms before it, so the margin is 21.6 h
      assert.deepEqual(values('Patient', 'birthdate=ap2025-12-22'), [
        { kind: 'date', prefix: 'ap', low: at('2025-12-21T02:24:00Z'), high: at('2025-12-23T21:35:59.999Z') },
      ]);
    });

    it('does not widen ap when the value contains now', () => {
      assert.deepEqual(values('Patient', 'birthdate=ap2026'), [
        { kind: 'date', prefix: 'ap', low: at('2026-01-01T00:00:00Z'), high: at('2026-12-31T23:59:59.999Z') },
      ]);
    });

    it('reads _lastUpdated as a date', () => {
      assert.deepEqual(only('Patient', '_lastUpdated=gt2024-01-01'), {
        param: '_lastUpdated',
        type: 'date',
        values: [
          {
            kind: 'date',
            prefix: 'gt',
            low: at('2024-01-01T00:00:00Z'),
            high: at('2024-01-01T23:59:59.999Z'),
          },
        ],
      });
    });

    const invalid = [
      '2024-13',
      '2023-02-29',
      '2024-04-31',
      '2024-00',
      '2024-02-29T24:00',
      '2024-02-29T10:60',
      '2024-02-29T10:00:60',
      '2024-1-1',
      '24',
      '2024-02-29T10',
      '2024-02-29T10:00:00+15:00',
      '2024-02-29 10:00',
      'today',
    ];
    for (const text of invalid) {
      it(`refuses the date ${text}`, () =>
        rejects('Patient', [['birthdate', text]], 'birthdate', /not a valid date|prefix/));
    }
  });

  describe('modifiers', () => {
    const cases: [string, string, Partial<Filter>][] = [
      ['Patient', 'name:exact=Lee', { modifier: 'exact', values: [{ kind: 'string', value: 'Lee' }] }],
      ['Patient', 'name:contains=ee', { modifier: 'contains', values: [{ kind: 'string', value: 'ee' }] }],
      [
        'Observation',
        'code:text=blood pressure',
        { modifier: 'text', values: [{ kind: 'token', text: 'blood pressure' }] },
      ],
      ['Patient', 'gender:not=male', { modifier: 'not', values: [{ kind: 'token', code: 'male' }] }],
      [
        'Observation',
        'code:above=http://snomed.info/sct|123',
        { modifier: 'above', values: [{ kind: 'token', system: 'http://snomed.info/sct', code: '123' }] },
      ],
      [
        'Observation',
        'code:below=http://snomed.info/sct|123',
        { modifier: 'below', values: [{ kind: 'token', system: 'http://snomed.info/sct', code: '123' }] },
      ],
      [
        'Observation',
        'code:in=http://v.org/ValueSet/bp',
        { modifier: 'in', values: [{ kind: 'uri', value: 'http://v.org/ValueSet/bp' }] },
      ],
      [
        'Observation',
        'code:not-in=http://v.org/ValueSet/bp',
        { modifier: 'not-in', values: [{ kind: 'uri', value: 'http://v.org/ValueSet/bp' }] },
      ],
      [
        'Patient',
        'identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345',
        {
          modifier: 'of-type',
          values: [
            {
              kind: 'token',
              typeSystem: 'http://terminology.hl7.org/CodeSystem/v2-0203',
              typeCode: 'MR',
              code: '12345',
            },
          ],
        },
      ],
      [
        'Observation',
        'subject:Patient=123',
        {
          modifier: 'type',
          targetType: 'Patient',
          values: [{ kind: 'reference', targetId: '123', targetType: 'Patient' }],
        },
      ],
      [
        'Observation',
        'subject:Patient=Patient/123',
        {
          modifier: 'type',
          targetType: 'Patient',
          values: [{ kind: 'reference', targetType: 'Patient', targetId: '123' }],
        },
      ],
      [
        'Observation',
        'subject:identifier=http://h.org/mrn|MRN1',
        {
          modifier: 'identifier',
          values: [{ kind: 'reference', identifierSystem: 'http://h.org/mrn', identifierValue: 'MRN1' }],
        },
      ],
      [
        'Observation',
        'subject:identifier=MRN1',
        { modifier: 'identifier', values: [{ kind: 'reference', identifierValue: 'MRN1' }] },
      ],
      [
        'Observation',
        'subject:identifier=|MRN1',
        { modifier: 'identifier', values: [{ kind: 'reference', identifierValue: 'MRN1' }] },
      ],
      [
        'QuestionnaireResponse',
        'questionnaire:below=http://q.org/Questionnaire/phq9',
        { modifier: 'below', values: [{ kind: 'reference', url: 'http://q.org/Questionnaire/phq9' }] },
      ],
      [
        'QuestionnaireResponse',
        'questionnaire:above=http://q.org/Questionnaire/phq9|2.0',
        {
          modifier: 'above',
          values: [{ kind: 'reference', url: 'http://q.org/Questionnaire/phq9', version: '2.0' }],
        },
      ],
      [
        'Patient',
        '_profile:below=http://p.org/',
        { modifier: 'below', values: [{ kind: 'uri', value: 'http://p.org/' }] },
      ],
      [
        'Patient',
        '_profile:above=http://p.org/a/b',
        { modifier: 'above', values: [{ kind: 'uri', value: 'http://p.org/a/b' }] },
      ],
    ];
    for (const [type, query, expected] of cases) {
      it(`reads ${type}?${query}`, () => {
        const filter = only(type, query) as Filter;
        assert.deepEqual(
          { ...filter, param: undefined, type: undefined },
          { param: undefined, type: undefined, ...expected },
        );
      });
    }

    const missing: [string, string][] = [
      ['Patient', 'name'],
      ['Patient', 'birthdate'],
      ['Patient', 'identifier'],
      ['Patient', 'general-practitioner'],
      ['Patient', '_profile'],
      ['Observation', 'value-quantity'],
      ['Observation', 'code-value-quantity'],
      ['RiskAssessment', 'probability'],
    ];
    for (const [type, code] of missing) {
      it(`reads :missing on ${code} (${type})`, () => {
        const t = lookup(type, code)!.type;
        assert.deepEqual(only(type, `${code}:missing=true`), {
          param: code,
          type: t,
          modifier: 'missing',
          values: [{ kind: 'missing', missing: true }],
        });
        assert.deepEqual((only(type, `${code}:missing=false`) as Filter).values, [
          { kind: 'missing', missing: false },
        ]);
      });
    }
  });

  describe('chaining (R4 search.html#chaining)', () => {
    it('follows subject:Patient.name to the Patient’s name', () => {
      assert.deepEqual(only('Observation', 'subject:Patient.name=Lee'), {
        param: 'subject',
        type: 'reference',
        modifier: 'type',
        targetType: 'Patient',
        chain: {
          targetTypes: ['Patient'],
          query: { param: 'name', type: 'string', values: [{ kind: 'string', value: 'Lee' }] },
        },
        values: [{ kind: 'reference' }],
      });
    });

    it('follows subject.name to every target that has a name', () => {
      const filter = only('Observation', 'subject.name=Lee') as Filter;
      assert.deepEqual(filter.chain?.targetTypes, ['Patient', 'Location']);
      assert.equal(filter.modifier, undefined);
    });

    it('keeps only the targets with the chained parameter', () => {
      const filter = only('Patient', 'general-practitioner.name:exact=Ng') as Filter;
      assert.deepEqual(filter.chain, {
        targetTypes: ['Organization', 'Practitioner'],
        query: {
          param: 'name',
          type: 'string',
          modifier: 'exact',
          values: [{ kind: 'string', value: 'Ng' }],
        },
      });
    });

    it('nests chains: encounter.subject:Patient.birthdate=ge1970', () => {
      const filter = only('Observation', 'encounter.subject:Patient.birthdate=ge1970') as Filter;
      assert.deepEqual(filter.chain, {
        targetTypes: ['Encounter'],
        query: {
          param: 'subject',
          type: 'reference',
          modifier: 'type',
          targetType: 'Patient',
          chain: {
            targetTypes: ['Patient'],
            query: {
              param: 'birthdate',
              type: 'date',
              values: [
                {
                  kind: 'date',
                  prefix: 'ge',
                  low: at('1970-01-01T00:00:00Z'),
                  high: at('1970-12-31T23:59:59.999Z'),
                },
              ],
            },
          },
          values: [{ kind: 'reference' }],
        },
      });
    });

    it('reads a modifier at the end of a chain', () => {
      assert.deepEqual((only('Observation', 'patient.name:missing=true') as Filter).chain?.query, {
        param: 'name',
        type: 'string',
        modifier: 'missing',
        values: [{ kind: 'missing', missing: true }],
      });
    });
  });

  describe('reverse chaining (R4 search.html#has)', () => {
    it('reads _has:Observation:subject:code', () => {
      assert.deepEqual(only('Patient', '_has:Observation:subject:code=1234-5'), {
        sourceType: 'Observation',
        referenceParam: 'subject',
        filter: { param: 'code', type: 'token', values: [{ kind: 'token', code: '1234-5' }] },
      });
    });

    it('reads a modifier on the last parameter', () => {
      const has = only('Patient', '_has:Observation:subject:code:text=pressure') as HasFilter;
      assert.deepEqual(has.filter, {
        param: 'code',
        type: 'token',
        modifier: 'text',
        values: [{ kind: 'token', text: 'pressure' }],
      });
    });

    it('nests _has', () => {
      assert.deepEqual(
        only('Patient', '_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/1'),
        {
          sourceType: 'Observation',
          referenceParam: 'patient',
          filter: {
            sourceType: 'AuditEvent',
            referenceParam: 'entity',
            filter: {
              param: 'agent',
              type: 'reference',
              values: [{ kind: 'reference', targetType: 'Practitioner', targetId: '1' }],
            },
          },
        },
      );
    });

    it('allows a chain after _has', () => {
      const has = only('Patient', '_has:Observation:subject:encounter.subject:Patient.name=Lee') as HasFilter;
      assert.equal((has.filter as Filter).chain?.targetTypes[0], 'Encounter');
    });
  });

  describe('result parameters', () => {
    it('uses defaults when none are given', () => {
      const { query, summary, elements } = parse('Patient', 'name=Lee');
      assert.deepEqual(
        { ...query, filters: [] },
        {
          types: ['Patient'],
          filters: [],
          sort: [],
          count: 20,
          total: 'estimate',
          include: [],
          revinclude: [],
        },
      );
      assert.equal(summary, undefined);
      assert.equal(elements, undefined);
    });

    it('reads _sort with - for descending', () => {
      assert.deepEqual(parse('Observation', '_sort=-date,code,_lastUpdated').query.sort, [
        { param: 'date', descending: true, type: 'date' },
        { param: 'code', descending: false, type: 'token' },
        { param: '_lastUpdated', descending: false, type: 'date' },
      ]);
    });

    const counts: [string, number][] = [
      ['10', 10],
      ['0', 0],
      ['007', 7],
      ['1000', 1000],
      ['5000', 1000],
    ];
    for (const [text, count] of counts) {
      it(`reads _count=${text} as ${count}`, () =>
        assert.equal(parse('Patient', `_count=${text}`).query.count, count));
    }

    for (const total of ['none', 'estimate', 'accurate'] as const) {
      it(`reads _total=${total}`, () => assert.equal(parse('Patient', `_total=${total}`).query.total, total));
    }

    it('reads _summary, and _summary=count asks for the total only', () => {
      assert.equal(parse('Patient', '_summary=true').summary, 'true');
      const { query, summary } = parse('Patient', '_summary=count&_total=none&_count=50');
      assert.deepEqual([summary, query.count, query.total], ['count', 0, 'accurate']);
    });

    it('reads _elements', () =>
      assert.deepEqual(parse('Patient', '_elements=name,birthDate,name').elements, ['name', 'birthDate']));

    it('passes _cursor through', () =>
      assert.equal(parse('Patient', '_cursor=WzEsIjIiXQ_-').query.cursor, 'WzEsIjIiXQ_-'));

    it('accepts _format and _pretty without filtering by them', () => {
      const parsed = parse('Patient', '_format=json&_pretty=true');
      assert.deepEqual(parsed.query.filters, []);
      assert.deepEqual(parsed.ignored, []);
      assert.deepEqual(parsed.selfParams, [
        ['_format', 'json'],
        ['_pretty', 'true'],
      ]);
    });

    const includes: [string, string, string, unknown][] = [
      [
        'Observation',
        '_include',
        'Observation:subject',
        { sourceType: 'Observation', param: 'subject', iterate: false },
      ],
      [
        'Observation',
        '_include',
        'Observation:subject:Patient',
        { sourceType: 'Observation', param: 'subject', targetType: 'Patient', iterate: false },
      ],
      ['Observation', '_include', 'Observation:*', { sourceType: 'Observation', param: '*', iterate: false }],
      ['Observation', '_include', '*', { sourceType: 'Observation', param: '*', iterate: false }],
      [
        'Observation',
        '_include:iterate',
        'Patient:general-practitioner',
        { sourceType: 'Patient', param: 'general-practitioner', iterate: true },
      ],
      [
        'Observation',
        '_include:recurse',
        'Patient:general-practitioner',
        { sourceType: 'Patient', param: 'general-practitioner', iterate: true },
      ],
      [
        'Patient',
        '_revinclude',
        'Observation:subject',
        { sourceType: 'Observation', param: 'subject', iterate: false },
      ],
      ['Patient', '_revinclude', 'Observation:*', { sourceType: 'Observation', param: '*', iterate: false }],
      [
        'Patient',
        '_revinclude:iterate',
        'AuditEvent:agent',
        { sourceType: 'AuditEvent', param: 'agent', iterate: true },
      ],
    ];
    for (const [type, name, value, spec] of includes) {
      it(`reads ${type}?${name}=${value}`, () => {
        const { query } = parse(type, [[name, value]]);
        assert.deepEqual(name.startsWith('_include') ? query.include : query.revinclude, [spec]);
      });
    }

    it('reads _type at system level, and filters on every type named', () => {
      const { query } = parse([], '_type=Patient,Practitioner&name=Lee');
      assert.deepEqual(query.types, ['Patient', 'Practitioner']);
      assert.deepEqual(query.filters, [
        { param: 'name', type: 'string', values: [{ kind: 'string', value: 'Lee' }] },
      ]);
    });

    it('ignores a parameter not defined on every type in _type', () => {
      const parsed = parse([], '_type=Patient,Observation&name=Lee');
      assert.deepEqual(parsed.query.filters, []);
      assert.deepEqual(
        parsed.ignored.map((i) => i.param),
        ['name'],
      );
    });

    it('searches every known type at system level without _type', () => {
      const { query } = parse([], '_id=1', { resourceTypes: ['Patient', 'Observation'] });
      assert.deepEqual([query.types, query.filters.length], [['Patient', 'Observation'], 1]);
    });

    it('says to name types when a system-level search has neither _type nor the list of types', () => {
      const parsed = parse([], 'name=Lee');
      assert.deepEqual(parsed.query.types, []);
      assert.match(parsed.ignored[0]?.reason ?? '', /_type/);
    });

    it('accepts _type naming the type of a type-level search', () => {
      assert.deepEqual(parse('Patient', '_type=Patient').query.types, ['Patient']);
    });
  });

  describe('self link parameters', () => {
    it('lists the parameters used, as given, with _count as applied', () => {
      const parsed = parse('Patient', 'name=Lee\\,Ann&foo=bar&_count=5000&_sort=-birthdate&_list=42');
      assert.deepEqual(parsed.selfParams, [
        ['name', 'Lee\\,Ann'],
        ['_count', '1000'],
        ['_sort', '-birthdate'],
      ]);
    });
  });

  describe('unknown and unsupported parameters (R4 search.html#errors)', () => {
    const unsupported = ['_list', '_query', '_filter'];
    for (const name of unsupported) {
      it(`ignores and reports ${name}, or refuses it under strict handling`, () => {
        const parsed = parse('Patient', `${name}=x&name=Lee`);
        assert.equal(parsed.query.filters.length, 1);
        assert.deepEqual(
          parsed.ignored.map((i) => i.param),
          [name],
        );
        assert.match(parsed.ignored.map((i) => i.reason).join(), /not supported/);
        rejects('Patient', `${name}=x`, name, /not supported.*strict/, { strict: true });
      });
    }

    it('ignores and reports an unknown parameter, or refuses it under strict handling', () => {
      assert.deepEqual(parse('Patient', 'foo=bar&foo:exact=').ignored, [
        { param: 'foo', reason: 'unknown search parameter for Patient' },
        { param: 'foo:exact', reason: 'unknown search parameter for Patient' },
      ]);
      rejects('Patient', 'foo=bar', 'foo', /Unknown search parameter 'foo' for Patient/, { strict: true });
      rejects('Patient', 'foo.name=bar', 'foo.name', /Unknown search parameter 'foo'/, { strict: true });
    });

    it('refuses near (a special parameter) whatever the handling', () => {
      assert.throws(
        () => parse('Location', 'near=42.256|-83.694|11.20|km'),
        (e: unknown) =>
          e instanceof FhirError &&
          e.status === 400 &&
          e.outcome.issue[0]?.code === 'not-supported' &&
          e.outcome.issue[0].expression?.[0] === 'near',
      );
    });
  });

  describe('400s, each naming the parameter as given', () => {
    const cases: [string | string[], string | [string, string][], string, RegExp, Partial<SearchInput>?][] = [
      // empty values
      ['Patient', 'name=', 'name', /empty value.*name:missing=true/],
      ['Patient', 'name=Lee,,Ng', 'name', /empty value in its comma-separated list/],
      ['Patient', 'identifier=|', 'identifier', /a token is code, system\|code/],
      ['Observation', 'subject:Patient.name=', 'subject:Patient.name', /empty value/],
      // prefixes and numbers
      ['Patient', 'birthdate=xx2024', 'birthdate', /Unknown prefix 'xx'.*eq, ne/],
      ['RiskAssessment', 'probability=abc', 'probability', /not a number/],
      ['RiskAssessment', 'probability=1..5', 'probability', /not a number/],
      ['RiskAssessment', 'probability=Infinity', 'probability', /Unknown prefix|not a number/],
      ['RiskAssessment', 'probability=0x10', 'probability', /not a number/],
      ['RiskAssessment', 'probability=1e999', 'probability', /not a number/],
      // quantity
      ['Observation', 'value-quantity=5.4|mg', 'value-quantity', /number\|system\|code or number\|\|code/],
      ['Observation', 'value-quantity=5.4||', 'value-quantity', /a quantity is/],
      ['Observation', 'value-quantity=mg', 'value-quantity', /not a number/],
      // token
      ['Patient', 'identifier=a|b|c', 'identifier', /escape a literal \|/],
      [
        'Patient',
        'identifier:of-type=http://t.org|MR',
        'identifier:of-type',
        /system\|code\|value, all three/,
      ],
      // reference
      ['Observation', 'subject=Foo/1', 'subject', /'Foo' is not a resource type/],
      [
        'Observation',
        'subject=Encounter/1',
        'subject',
        /cannot refer to a Encounter; it refers to Group, Device, Patient, Location/,
      ],
      [
        'Observation',
        'subject:Patient=Group/1',
        'subject:Patient',
        /names a Group but the modifier asks for Patient/,
      ],
      ['Observation', 'subject=not an id', 'subject', /use an id, Type\/id or an absolute URL/],
      ['Observation', 'subject=Patient/1|2', 'subject', /only a canonical URL can carry \|version/],
      ['QuestionnaireResponse', 'questionnaire=http://q.org/q|', 'questionnaire', /url or url\|version/],
      ['Observation', 'subject:identifier=a|b|c', 'subject:identifier', /value or system\|value/],
      ['Observation', 'subject:identifier=sys|', 'subject:identifier', /value or system\|value/],
      ['Observation', 'subject:Foo=1', 'subject:Foo', /'Foo' is not a resource type/],
      ['Observation', 'subject:Encounter=1', 'subject:Encounter', /cannot refer to a Encounter/],
      // modifiers
      [
        'Patient',
        'name:text=x',
        'name:text',
        /modifier :text is not supported on name.*:exact, :contains, :missing/,
      ],
      ['Patient', 'birthdate:exact=2024', 'birthdate:exact', /modifier :exact is not supported/],
      ['Patient', 'gender:foo=x', 'gender:foo', /modifier :foo/],
      ['Patient', 'name:exact:contains=x', 'name:exact:contains', /one modifier/],
      ['Observation', 'subject:type=1', 'subject:type', /modifier :type is not supported.*:\[type\]/],
      ['Patient', 'name:missing=yes', 'name:missing', /true or false/],
      // chains
      [
        'Observation',
        'subject.foo=x',
        'subject.foo',
        /none of Group, Device, Patient, Location has a search parameter 'foo'/,
      ],
      ['Patient', 'name.family=x', 'name.family', /only references can be chained/],
      ['Observation', 'subject:Foo.name=x', 'subject:Foo.name', /'Foo' is not a resource type/],
      ['Observation', 'subject:Encounter.name=x', 'subject:Encounter.name', /cannot refer to a Encounter/],
      ['Observation', 'subject:missing.name=x', 'subject:missing.name', /only a resource type/],
      [
        'Observation',
        'subject._has:Observation:subject:code=x',
        'subject._has:Observation:subject:code',
        /_has cannot follow a chain/,
      ],
      ['Observation', 'subject..name=x', 'subject..name', /empty parameter name/],
      [
        'Observation',
        'subject:Patient.foo=x',
        'subject:Patient.foo',
        /none of Patient has a search parameter 'foo'/,
      ],
      // _has
      [
        'Patient',
        '_has:Observation:subject=1',
        '_has:Observation:subject',
        /use _has:Type:reference:parameter=value/,
      ],
      ['Patient', '_has=1', '_has', /use _has:Type:reference:parameter=value/],
      ['Patient', '_has:Foo:subject:code=1', '_has:Foo:subject:code', /'Foo' is not a resource type/],
      [
        'Patient',
        '_has:Observation:code:code=1',
        '_has:Observation:code:code',
        /code is not a reference parameter of Observation/,
      ],
      [
        'Patient',
        '_has:Observation:subject:foo=1',
        '_has:Observation:subject:foo',
        /Observation has no search parameter 'foo'/,
      ],
      [
        'Organization',
        '_has:Observation:patient:code=1',
        '_has:Observation:patient:code',
        /refers to Patient, never to Organization/,
      ],
      // composite
      [
        'Observation',
        'code-value-quantity=http://loinc.org|8480-6',
        'code-value-quantity',
        /takes 2 values joined by \$ \(code\$value-quantity\)/,
      ],
      [
        'Observation',
        'code-value-quantity=http://loinc.org|8480-6$',
        'code-value-quantity',
        /takes 2 values/,
      ],
      [
        'Observation',
        'code-value-quantity=http://loinc.org|8480-6$abc',
        'code-value-quantity',
        /not a number/,
      ],
      // result parameters
      ['Observation', '_sort=foo', '_sort', /foo is not a search parameter of Observation/],
      ['Observation', '_sort=', '_sort', /comma list of search parameters/],
      ['Observation', '_sort=date,', '_sort', /comma list of search parameters/],
      ['Patient', '_sort=name:exact', '_sort', /comma list of search parameters/],
      ['Observation', '_sort=code-value-quantity', '_sort', /cannot sort by code-value-quantity/],
      ['Patient', '_count=-1', '_count', /non-negative integer/],
      ['Patient', '_count=abc', '_count', /non-negative integer/],
      ['Patient', '_count=1.5', '_count', /non-negative integer/],
      ['Patient', '_count=', '_count', /non-negative integer/],
      ['Patient', '_count=1&_count=2', '_count', /may appear only once/],
      ['Patient', '_count:exact=1', '_count:exact', /takes no modifier/],
      ['Patient', '_total=maybe', '_total', /none, estimate or accurate/],
      ['Patient', '_summary=yes', '_summary', /true, text, data, count, false/],
      ['Patient', '_elements=name,,gender', '_elements', /'' is not one/],
      ['Patient', '_elements=Patient.name', '_elements', /'Patient.name' is not one/],
      ['Patient', '_cursor=a/b', '_cursor', /not a paging cursor/],
      ['Patient', `_cursor=${'a'.repeat(201)}`, '_cursor', /not a paging cursor/],
      [
        'Observation',
        '_include=Observation:foo',
        '_include',
        /foo is not a reference parameter of Observation/,
      ],
      ['Observation', '_include=Observation:code', '_include', /code is not a reference parameter/],
      ['Observation', '_include=Foo:subject', '_include', /'Foo' is not a resource type/],
      ['Observation', '_include=Observation:subject:Encounter', '_include', /never refers to a Encounter/],
      ['Observation', '_include=Observation', '_include', /use Type:parameter/],
      [
        'Observation',
        '_include=Observation:subject,Observation:patient',
        '_include',
        /takes one value; repeat _include/,
      ],
      [
        'Observation',
        '_include=Patient:general-practitioner',
        '_include',
        /Patient is not the type searched.*_revinclude.*:iterate/,
      ],
      [
        'Observation',
        '_include:deep=Observation:subject',
        '_include:deep',
        /only modifier of _include is :iterate/,
      ],
      ['Patient', '_revinclude=*', '_revinclude', /name the source type/],
      [
        'Practitioner',
        '_revinclude=Observation:patient',
        '_revinclude',
        /refers to Patient, never to Practitioner/,
      ],
      [
        'Patient',
        '_revinclude=Observation:subject:Group',
        '_revinclude',
        /refers to Group, never to Patient/,
      ],
      [[], '_type=Patient,Foo', '_type', /'Foo' is not a resource type/],
      [[], '_type=', '_type', /'' is not a resource type/],
      ['Patient', '_type=Observation', '_type', /_type is for system-level search/],
    ];
    for (const [type, query, expression, text, options] of cases) {
      it(`refuses ${String(type) || '(system)'}?${typeof query === 'string' ? query.slice(0, 70) : 'params'}`, () =>
        rejects(type, query, expression, text, options));
    }

    it('refuses a parameter whose type differs between the types searched', () => {
      const clash = lookupOf([...defs, def('Practitioner', 'gender', 'string', 'made-up-clash')]);
      rejects(
        [],
        '_type=Patient,Practitioner&gender=x',
        'gender',
        /token parameter on Patient but a string parameter on Practitioner/,
        { lookup: clash },
      );
    });

    it('refuses a composite whose component cannot be found', () => {
      const broken = lookupOf([
        ...defs,
        def('Observation', 'code-value-x', 'composite', 'Observation-code-value-x', {
          components: [
            { definition: sp('clinical-code'), expression: 'code' },
            { definition: sp('nowhere'), expression: 'x' },
          ],
        }),
      ]);
      rejects(
        'Observation',
        'code-value-x=a$b',
        'code-value-x',
        /component .*nowhere is not a parameter of Observation/,
        { lookup: broken },
      );
    });
  });
});
