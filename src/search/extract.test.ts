import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Observation, Patient } from 'fhir/r4.js';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { extractIndexEntries } from './extract.js';
import { compilePath } from './extract-path.js';
import { dateRange, numberRange, openHigh, openLow } from './extract-ranges.js';
import { searchParameter, searchParameters, splitUnion } from './parameters.js';
import type { IndexEntry, SearchParamDef } from './types.js';

const utc = Date.UTC;

type WithoutParam<T> = T extends unknown ? Omit<T, 'param'> : never;

/** The entries of one parameter, with `param` left out for brevity. */
function entriesOf(resource: { resourceType: string }, param: string): WithoutParam<IndexEntry>[] {
  const { entries, failures } = extractIndexEntries(resource);
  assert.deepEqual(failures, []);
  return entries.filter((e) => e.param === param).map(({ param: _, ...rest }) => rest);
}

const ref = (
  targetType: string | null,
  targetId: string | null,
  url: string | null = null,
  version: string | null = null,
) => ({
  kind: 'reference',
  targetType,
  targetId,
  url,
  version,
  identifierSystem: null,
  identifierValue: null,
});

function observation(extra: Partial<Observation>): Observation {
  return { resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra };
}

describe('extractIndexEntries', () => {
  describe('tokens', () => {
    it('indexes each coding of a CodeableConcept, and its text for :text', () => {
      const obs = observation({
        code: {
          coding: [
            { system: 'http://loinc.org', code: '2345-7', display: 'Glucose  [Mass/volume]' },
            { system: 'http://snomed.info/sct', code: '33747003' },
          ],
          text: 'Glucose Lévels',
        },
      });
      assert.deepEqual(entriesOf(obs, 'code'), [
        { kind: 'token', system: 'http://loinc.org', code: '2345-7', text: 'glucose [mass/volume]' },
        { kind: 'token', system: 'http://snomed.info/sct', code: '33747003' },
        { kind: 'token', system: null, code: null, text: 'glucose levels' },
      ]);
    });

    it('indexes codes, booleans and Codings as written: tokens are case-sensitive', () => {
      const patient: Patient = {
        resourceType: 'Patient',
        active: true,
        gender: 'female',
        meta: { tag: [{ system: 'http://example.org/tags', code: 'VIP' }] },
      };
      assert.deepEqual(entriesOf(patient, 'active'), [{ kind: 'token', system: null, code: 'true' }]);
      assert.deepEqual(entriesOf(patient, 'gender'), [{ kind: 'token', system: null, code: 'female' }]);
      assert.deepEqual(entriesOf(patient, '_tag'), [
        { kind: 'token', system: 'http://example.org/tags', code: 'VIP' },
      ]);
    });

    it('indexes an Identifier with its type text, and a ContactPoint with its system', () => {
      const patient: Patient = {
        resourceType: 'Patient',
        identifier: [
          {
            system: 'http://hospital.example.org/mrn',
            value: 'MRN-1',
            type: { text: 'Medical Record Number' },
          },
        ],
        telecom: [
          { system: 'phone', value: '+1 555 0100' },
          { system: 'email', value: 'Amy@Example.org' },
        ],
      };
      assert.deepEqual(entriesOf(patient, 'identifier'), [
        {
          kind: 'token',
          system: 'http://hospital.example.org/mrn',
          code: 'MRN-1',
          text: 'medical record number',
        },
      ]);
      assert.deepEqual(entriesOf(patient, 'email'), [
        { kind: 'token', system: 'email', code: 'Amy@Example.org' },
      ]);
      assert.equal(entriesOf(patient, 'telecom').length, 2);
      assert.deepEqual(entriesOf(patient, '_id'), []);
    });
  });

  describe('strings', () => {
    it('indexes each part of a HumanName, normalised and as written', () => {
      const patient: Patient = {
        resourceType: 'Patient',
        name: [
          { family: 'Müller', given: ['Amélie', 'Zoë  Anne'], prefix: ['Dr.'], text: 'Dr. Amélie Müller' },
        ],
      };
      assert.deepEqual(entriesOf(patient, 'name'), [
        { kind: 'string', normalized: 'muller', exact: 'Müller' },
        { kind: 'string', normalized: 'amelie', exact: 'Amélie' },
        { kind: 'string', normalized: 'zoe anne', exact: 'Zoë  Anne' },
        { kind: 'string', normalized: 'dr.', exact: 'Dr.' },
        { kind: 'string', normalized: 'dr. amelie muller', exact: 'Dr. Amélie Müller' },
      ]);
      assert.deepEqual(entriesOf(patient, 'family'), [
        { kind: 'string', normalized: 'muller', exact: 'Müller' },
      ]);
    });

    it('indexes the parts of an Address', () => {
      const patient: Patient = {
        resourceType: 'Patient',
        address: [{ line: ['1 Rue de l’Église'], city: 'Genève', postalCode: '1204', country: 'CH' }],
      };
      assert.deepEqual(
        entriesOf(patient, 'address').map((e) => (e.kind === 'string' ? e.normalized : '')),
        ['1 rue de l’eglise', 'geneve', '1204', 'ch'],
      );
      assert.deepEqual(entriesOf(patient, 'address-city'), [
        { kind: 'string', normalized: 'geneve', exact: 'Genève' },
      ]);
    });
  });

  describe('dates', () => {
    it('covers a year, a month and a day by their precision', () => {
      assert.deepEqual(dateRange('2020'), [utc(2020, 0, 1), utc(2021, 0, 1) - 1]);
      assert.deepEqual(dateRange('2020-02'), [utc(2020, 1, 1), utc(2020, 1, 29, 23, 59, 59, 999)]);
      assert.deepEqual(dateRange('2020-12-31'), [utc(2020, 11, 31), utc(2020, 11, 31, 23, 59, 59, 999)]);
      assert.deepEqual(dateRange('0099-01-01'), [
        Date.parse('0099-01-01T00:00:00Z'),
        Date.parse('0099-01-01T23:59:59.999Z'),
      ]);
    });

    it('covers a second, or a millisecond, and honours the zone offset', () => {
      assert.deepEqual(dateRange('2020-03-04T10:20:30+02:00'), [
        utc(2020, 2, 4, 8, 20, 30),
        utc(2020, 2, 4, 8, 20, 30, 999),
      ]);
      assert.deepEqual(dateRange('2020-03-04T10:20:30-05:30'), [
        utc(2020, 2, 4, 15, 50, 30),
        utc(2020, 2, 4, 15, 50, 30, 999),
      ]);
      assert.deepEqual(dateRange('2020-03-04T10:20:30.123Z'), [
        utc(2020, 2, 4, 10, 20, 30, 123),
        utc(2020, 2, 4, 10, 20, 30, 123),
      ]);
      assert.deepEqual(dateRange('2020-03-04T10:20:30.5Z'), [
        utc(2020, 2, 4, 10, 20, 30, 500),
        utc(2020, 2, 4, 10, 20, 30, 599),
      ]);
      assert.deepEqual(dateRange('2020-03-04T10:20'), [
        utc(2020, 2, 4, 10, 20),
        utc(2020, 2, 4, 10, 20, 59, 999),
      ]);
      assert.equal(dateRange('2020-13-01'), undefined);
      assert.equal(dateRange('yesterday'), undefined);
    });

    it('indexes date, dateTime and instant elements', () => {
      const patient: Patient = { resourceType: 'Patient', birthDate: '1974-12' };
      assert.deepEqual(entriesOf(patient, 'birthdate'), [
        { kind: 'date', low: utc(1974, 11, 1), high: utc(1975, 0, 1) - 1 },
      ]);
      const obs = observation({
        effectiveInstant: '2021-06-01T12:00:00.250Z',
        meta: { lastUpdated: '2021-06-02T00:00:00Z' },
      });
      assert.deepEqual(entriesOf(obs, 'date'), [
        { kind: 'date', low: utc(2021, 5, 1, 12, 0, 0, 250), high: utc(2021, 5, 1, 12, 0, 0, 250) },
      ]);
      assert.deepEqual(entriesOf(obs, '_lastUpdated'), [
        { kind: 'date', low: utc(2021, 5, 2), high: utc(2021, 5, 2, 0, 0, 0, 999) },
      ]);
    });

    it('indexes a Period from its start’s low to its end’s high, open ends unbounded', () => {
      const closed = observation({ effectivePeriod: { start: '2020-01-01', end: '2020-01-31' } });
      assert.deepEqual(entriesOf(closed, 'date'), [
        { kind: 'date', low: utc(2020, 0, 1), high: utc(2020, 1, 1) - 1 },
      ]);
      const noEnd = observation({ effectivePeriod: { start: '2020-01-01T08:00:00Z' } });
      assert.deepEqual(entriesOf(noEnd, 'date'), [{ kind: 'date', low: utc(2020, 0, 1, 8), high: openHigh }]);
      const noStart = observation({ effectivePeriod: { end: '2020' } });
      assert.deepEqual(entriesOf(noStart, 'date'), [
        { kind: 'date', low: openLow, high: utc(2021, 0, 1) - 1 },
      ]);
    });

    it('indexes a Timing by the outer limits of its events and bounds', () => {
      const obs = observation({
        effectiveTiming: {
          event: ['2020-03-05', '2020-01-01'],
          repeat: { boundsPeriod: { start: '2020-02-01', end: '2020-06-01' } },
        },
      });
      assert.deepEqual(entriesOf(obs, 'date'), [
        { kind: 'date', low: utc(2020, 0, 1), high: utc(2020, 5, 2) - 1 },
      ]);
    });
  });

  describe('numbers and quantities', () => {
    it('gives a number the interval its precision implies', () => {
      assert.deepEqual(numberRange(100), [99.5, 100.5]);
      assert.deepEqual(numberRange(1.5), [1.45, 1.55]);
      assert.deepEqual(numberRange(0.001), [0.0005, 0.0015]);
      assert.deepEqual(numberRange(-2.25), [-2.255, -2.245]);
      assert.deepEqual(numberRange(1e-7), [5e-8, 1.5e-7]);
    });

    it('indexes a number element', () => {
      const risk = {
        resourceType: 'RiskAssessment',
        status: 'final',
        subject: { reference: 'Patient/1' },
        prediction: [{ probabilityDecimal: 0.25 }],
      };
      assert.deepEqual(entriesOf(risk, 'probability'), [
        { kind: 'number', value: 0.25, low: 0.245, high: 0.255 },
      ]);
    });

    it('indexes a quantity with its UCUM canonical form, so mg/dL and g/L compare', () => {
      const [mgdl] = entriesOf(
        observation({
          valueQuantity: { value: 100, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
        }),
        'value-quantity',
      );
      const [gl] = entriesOf(
        observation({
          valueQuantity: { value: 1, unit: 'g/L', system: 'http://unitsofmeasure.org', code: 'g/L' },
        }),
        'value-quantity',
      );
      assert.deepEqual(mgdl, {
        kind: 'quantity',
        value: 100,
        low: 99.5,
        high: 100.5,
        system: 'http://unitsofmeasure.org',
        code: 'mg/dL',
        unit: 'mg/dL',
        canonical: { value: 1000, low: 995, high: 1005, code: 'g.m-3' },
      });
      assert.ok(gl?.kind === 'quantity' && mgdl.kind === 'quantity');
      assert.deepEqual(
        [gl.canonical?.value, gl.canonical?.code],
        [mgdl.canonical.value, mgdl.canonical.code],
      );
    });

    it('puts mmol/L and mol/m3 on the same canonical scale', () => {
      const ucum = 'http://unitsofmeasure.org';
      const [mmol] = entriesOf(
        observation({ valueQuantity: { value: 1, system: ucum, code: 'mmol/L' } }),
        'value-quantity',
      );
      const [mol] = entriesOf(
        observation({ valueQuantity: { value: 1, system: ucum, code: 'mol/m3' } }),
        'value-quantity',
      );
      assert.ok(mmol?.kind === 'quantity' && mol?.kind === 'quantity');
      assert.equal(mmol.canonical?.code, 'm-3');
      assert.equal(mmol.canonical.value, mol.canonical?.value);
    });

    it('leaves out the canonical form of a unit UCUM cannot convert, or of another system', () => {
      const [arbitrary] = entriesOf(
        observation({ valueQuantity: { value: 5, system: 'http://unitsofmeasure.org', code: '[IU]' } }),
        'value-quantity',
      );
      const [other] = entriesOf(
        observation({ valueQuantity: { value: 5, system: 'http://example.org/units', code: 'mg' } }),
        'value-quantity',
      );
      assert.ok(arbitrary?.kind === 'quantity' && other?.kind === 'quantity');
      assert.equal(arbitrary.canonical, undefined);
      assert.equal(other.canonical, undefined);
    });

    it('opens the interval on the comparator’s side instead of failing on it', () => {
      const obs = observation({
        valueQuantity: { value: 5, comparator: '<', system: 'http://unitsofmeasure.org', code: 'mg' },
      });
      const [entry] = entriesOf(obs, 'value-quantity');
      assert.ok(entry?.kind === 'quantity');
      assert.equal(entry.value, 5);
      assert.equal(entry.low, -Number.MAX_VALUE);
      assert.equal(entry.high, 5.5);
      assert.equal(entry.canonical?.low, -Number.MAX_VALUE);
      assert.equal(entry.canonical.high, 0.0055);
    });
  });

  describe('references', () => {
    it('reads relative, versioned and absolute references', () => {
      const obs = observation({
        performer: [
          { reference: 'Practitioner/p1' },
          { reference: 'Practitioner/p2/_history/3' },
          { reference: 'https://other.example.org/fhir/Organization/o1' },
          { reference: 'urn:uuid:5b1f6a8e-0c59-4b0c-8f53-5a1b7f0e2c11' },
        ],
      });
      assert.deepEqual(entriesOf(obs, 'performer'), [
        ref('Practitioner', 'p1'),
        ref('Practitioner', 'p2'),
        ref('Organization', 'o1', 'https://other.example.org/fhir/Organization/o1'),
        ref(null, null, 'urn:uuid:5b1f6a8e-0c59-4b0c-8f53-5a1b7f0e2c11'),
      ]);
    });

    it('keeps a contained reference as a url and a logical reference as its identifier', () => {
      const obs = observation({
        contained: [{ resourceType: 'Specimen', id: 's1', subject: { reference: 'Patient/1' } }],
        specimen: { reference: '#s1' },
        basedOn: [{ identifier: { system: 'http://orders.example.org', value: 'ORD-9' } }],
      });
      assert.deepEqual(entriesOf(obs, 'specimen'), [ref(null, null, '#s1')]);
      assert.deepEqual(entriesOf(obs, 'based-on'), [
        { ...ref(null, null), identifierSystem: 'http://orders.example.org', identifierValue: 'ORD-9' },
      ]);
    });

    it('splits a canonical into url and version', () => {
      const response = {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: 'http://example.org/fhir/Questionnaire/phq-9|2.0',
      };
      assert.deepEqual(entriesOf(response, 'questionnaire'), [
        ref('Questionnaire', 'phq-9', 'http://example.org/fhir/Questionnaire/phq-9', '2.0'),
      ]);
    });

    it('indexes `patient` only for references that point at a Patient', () => {
      const toPatient = observation({ subject: { reference: 'Patient/1' } });
      assert.deepEqual(entriesOf(toPatient, 'patient'), [ref('Patient', '1')]);
      const toGroup = observation({ subject: { reference: 'Group/1' } });
      assert.deepEqual(entriesOf(toGroup, 'patient'), []);
      assert.deepEqual(entriesOf(toGroup, 'subject'), [ref('Group', '1')]);
      const absolute = observation({
        subject: { reference: 'https://x.example.org/fhir/Patient/7/_history/2' },
      });
      assert.deepEqual(entriesOf(absolute, 'patient'), [
        ref('Patient', '7', 'https://x.example.org/fhir/Patient/7/_history/2'),
      ]);
    });

    it('indexes `patient` for a contained Patient and for an identifier-only reference typed Patient', () => {
      const contained = observation({
        contained: [{ resourceType: 'Patient', id: 'p' }],
        subject: { reference: '#p' },
      });
      assert.deepEqual(entriesOf(contained, 'patient'), [ref(null, null, '#p')]);
      const logical = observation({
        subject: { type: 'Patient', identifier: { system: 'urn:mrn', value: '42' } },
      });
      assert.deepEqual(entriesOf(logical, 'patient'), [
        { ...ref(null, null), identifierSystem: 'urn:mrn', identifierValue: '42' },
      ]);
    });
  });

  it('indexes uris as written', () => {
    const obs = observation({
      meta: { profile: ['http://example.org/StructureDefinition/Lab'], source: 'urn:lab:1' },
    });
    assert.deepEqual(entriesOf(obs, '_profile'), [
      { kind: 'uri', value: 'http://example.org/StructureDefinition/Lab' },
    ]);
    assert.deepEqual(entriesOf(obs, '_source'), [{ kind: 'uri', value: 'urn:lab:1' }]);
  });

  describe('composites', () => {
    const ucum = 'http://unitsofmeasure.org';
    const bp = observation({
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [
        {
          code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
          valueQuantity: { value: 120, system: ucum, code: 'mm[Hg]' },
        },
        {
          code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] },
          valueQuantity: { value: 80, system: ucum, code: 'mm[Hg]' },
        },
      ],
    });

    it('pairs each component’s code with its own value, never another component’s', () => {
      const pairs = entriesOf(bp, 'component-code-value-quantity').map((e) => {
        assert.ok(e.kind === 'composite');
        const [code, value] = e.components;
        assert.ok(code?.kind === 'token' && value?.kind === 'quantity');
        return [code.param, code.code, value.param, value.value];
      });
      assert.deepEqual(pairs, [
        ['component-code', '8480-6', 'component-value-quantity', 120],
        ['component-code', '8462-4', 'component-value-quantity', 80],
      ]);
      assert.deepEqual(entriesOf(bp, 'code-value-quantity'), []);
      assert.equal(entriesOf(bp, 'combo-code-value-quantity').length, 2);
    });

    it('pairs the Observation’s own code and value', () => {
      const glucose = observation({
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }], text: 'Glucose' },
        valueQuantity: { value: 6.3, system: ucum, code: 'mmol/L' },
      });
      const [entry, ...rest] = entriesOf(glucose, 'code-value-quantity');
      assert.deepEqual(rest, []);
      assert.ok(entry?.kind === 'composite');
      assert.deepEqual(
        entry.components.map((c) => c.kind),
        ['token', 'quantity'],
      );
    });
  });

  describe('failures', () => {
    it('records a failing expression and still indexes the other parameters', () => {
      const broken: SearchParamDef = {
        code: 'subject-name',
        base: 'Observation',
        type: 'string',
        expression: 'Observation.subject.resolve().name',
        url: 'http://example.org/SearchParameter/broken',
      };
      const unparsable: SearchParamDef = { ...broken, code: 'garbage', expression: 'Observation.((' };
      const status = searchParameter('Observation', 'status');
      assert.ok(status);
      const { entries, failures } = extractIndexEntries(
        observation({ subject: { reference: 'Patient/1' } }),
        [broken, unparsable, status],
      );
      assert.deepEqual(
        entries.filter((e) => e.kind !== 'text'),
        [{ kind: 'token', param: 'status', system: null, code: 'final' }],
      );
      assert.deepEqual(
        failures.map((f) => f.param),
        ['subject-name', 'garbage'],
      );
      assert.match(failures[0]?.message ?? '', /resolve/);
    });

    it('runs fhirpath for expressions the direct accessors do not cover', () => {
      const deceased: Patient = { resourceType: 'Patient', deceasedDateTime: '2020-01-01' };
      const alive: Patient = { resourceType: 'Patient', deceasedBoolean: false };
      assert.deepEqual(entriesOf(deceased, 'deceased'), [{ kind: 'token', system: null, code: 'true' }]);
      assert.deepEqual(entriesOf(alive, 'deceased'), [{ kind: 'token', system: null, code: 'false' }]);
    });
  });

  describe('the official R4 examples', () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
    const examples = (): [string, { resourceType: string }][] =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.json') && f !== 'package.json')
        .map((f): [string, { resourceType?: unknown }] => [
          f,
          JSON.parse(readFileSync(join(dir, f), 'utf8')) as object,
        ])
        .filter((e): e is [string, { resourceType: string }] => typeof e[1].resourceType === 'string');

    it('are all extracted with no exception and no failure', function () {
      this.timeout(120_000);
      const failures: string[] = [];
      let resources = 0;
      for (const [file, resource] of examples()) {
        resources++;
        const result = extractIndexEntries(resource);
        for (const f of result.failures) failures.push(`${file} ${f.param}: ${f.message}`);
      }
      if (failures.length > 0) console.log(failures.join('\n'));
      assert.ok(resources > 5000, `only ${resources} examples found`);
      assert.deepEqual(failures, []);
    });

    it('get from the direct accessors exactly what fhirpath selects, part by part', function () {
      this.timeout(120_000);
      const evaluators = new Map<string, (resource: unknown) => unknown[]>();
      const differences: string[] = [];
      let compared = 0;
      for (const [file, resource] of examples()) {
        for (const def of searchParameters(resource.resourceType).values()) {
          for (const part of splitUnion(def.expression)) {
            const fast = compilePath(part, def.base);
            if (!fast.fast || part.includes('resolve()')) continue; // fhirpath.js cannot resolve() synchronously
            let evaluate = evaluators.get(part);
            if (!evaluate) {
              const compiled = fhirpath.compile(part, r4);
              evaluate = (r) => compiled(r) as unknown[];
              evaluators.set(part, evaluate);
            }
            const expected = JSON.stringify(evaluate(resource));
            const actual = JSON.stringify(fast.evaluate(resource, resource).map((t) => t.value));
            compared++;
            if (actual !== expected) differences.push(`${file} ${part}: ${actual} <> ${expected}`);
          }
        }
      }
      assert.ok(compared > 100_000);
      assert.deepEqual(differences.slice(0, 5), []);
    });
  });
});
