import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Issue } from '../errors.js';
import { defaultPolicy, validate, type ValidateOptions } from './validate.js';

const lab = 'http://ferry.example.org/fhir/StructureDefinition/ferry-lab-result';
const bp = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure';
const usPatient = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';

const errors = (resource: unknown, options?: ValidateOptions): Issue[] =>
  validate(resource, options).filter((i) => i.severity === 'error');
const warnings = (resource: unknown, options?: ValidateOptions): Issue[] =>
  validate(resource, options).filter((i) => i.severity === 'warning');
const where = (issues: Issue[]): string[] => issues.flatMap((i) => i.expression ?? []);

const mmHg = (value: number) => ({
  value,
  unit: 'mmHg',
  system: 'http://unitsofmeasure.org',
  code: 'mm[Hg]',
});
const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] });

/** A lab result that meets ferry-lab-result. */
const labResult = () => ({
  resourceType: 'Observation',
  status: 'final',
  code: loinc('718-7'),
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-03-01T10:00:00Z',
  valueQuantity: { value: 13.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
});

/** A blood pressure that meets US Core 5.0.1. */
const bloodPressure = () => ({
  resourceType: 'Observation',
  status: 'final',
  category: [
    {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
    },
  ],
  code: loinc('85354-9'),
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-03-01T10:00:00Z',
  component: [
    { code: loinc('8480-6'), valueQuantity: mmHg(120) },
    { code: loinc('8462-4'), valueQuantity: mmHg(80) },
  ],
});

describe('validate', () => {
  describe('levels', () => {
    const broken = { ...labResult(), dataAbsentReason: { text: 'lost' } };

    it('checks nothing at level off', () => {
      assert.deepEqual(validate({ resourceType: 'Nope' }, { level: 'off' }), []);
    });

    it('checks only the schema at level schema', () => {
      assert.deepEqual(errors(broken, { level: 'schema' }), []);
      assert.equal(errors({ resourceType: 'Observation' }, { level: 'schema' }).length, 2);
    });

    it('adds invariants at level full, the default', () => {
      assert.equal(defaultPolicy.level, 'full');
      assert.deepEqual(where(errors(broken)), ['Observation']);
    });

    it('lets the level option override the policy', () => {
      assert.deepEqual(errors(broken, { policy: { ...defaultPolicy, level: 'schema' } }), []);
      assert.equal(
        errors(broken, { policy: { ...defaultPolicy, level: 'schema' }, level: 'full' }).length,
        1,
      );
    });
  });

  describe('R4 invariants', () => {
    it('rejects an Observation with both a value and a dataAbsentReason (obs-6)', () => {
      const [issue] = errors({ ...labResult(), dataAbsentReason: { text: 'lost' } });
      assert.equal(issue?.code, 'invariant');
      assert.match(issue.diagnostics ?? '', /^obs-6: /);
    });

    it('rejects an Observation whose value repeats in a component with its own code (obs-7)', () => {
      const obs = { ...labResult(), component: [{ code: loinc('718-7'), valueQuantity: { value: 1 } }] };
      assert.match(errors(obs)[0]?.diagnostics ?? '', /^obs-7: /);
    });

    it('rejects a contained resource that contains another (dom-2)', () => {
      const inner = { resourceType: 'Patient', id: 'b' };
      const obs = {
        ...labResult(),
        subject: { reference: '#a' },
        contained: [{ resourceType: 'Patient', id: 'a', contained: [inner] }],
      };
      assert.ok(errors(obs).some((i) => i.diagnostics?.startsWith('dom-2: ')));
    });

    it('checks a contained resource once, even when a profile applies to its container', () => {
      const obs = {
        ...labResult(),
        subject: { reference: '#a' },
        contained: [{ resourceType: 'Patient', id: 'a', name: [{ id: 'only-an-id' }] }],
      };
      const issues = errors(obs, { profiles: [lab] });
      assert.deepEqual(where(issues), ['Observation.contained[0].name[0]']);
    });

    it('rejects a contained resource nothing refers to (dom-3)', () => {
      const obs = { ...labResult(), contained: [{ resourceType: 'Patient', id: 'a' }] };
      assert.ok(errors(obs).some((i) => i.diagnostics?.startsWith('dom-3: ')));
    });

    it('rejects an extension with both a value and extensions (ext-1), naming it', () => {
      const obs = {
        ...labResult(),
        extension: [
          { url: 'http://example.org/x', valueString: 'a', extension: [{ url: 'y', valueString: 'b' }] },
        ],
      };
      const issues = errors(obs);
      assert.equal(issues.length, 1, 'reported once');
      assert.match(issues[0]?.diagnostics ?? '', /^ext-1: /);
      assert.deepEqual(issues[0]?.expression, ['Observation.extension[0]']);
    });

    it('rejects a broken extension on a primitive value (ext-1 in _status)', () => {
      const obs = {
        ...labResult(),
        _status: {
          extension: [
            { url: 'http://example.org/x', valueString: 'a', extension: [{ url: 'y', valueString: 'b' }] },
          ],
        },
      };
      const issues = errors(obs);
      assert.deepEqual(where(issues), ['Observation.status.extension[0]']);
      assert.match(issues[0]?.diagnostics ?? '', /^ext-1: /);
    });

    it('rejects an element that holds only an id (ele-1)', () => {
      const issues = errors({ ...labResult(), method: { id: 'm' } });
      assert.deepEqual(where(issues), ['Observation.method']);
      assert.match(issues[0]?.diagnostics ?? '', /^ele-1: /);
    });

    it('rejects a Period that ends before it starts (per-1)', () => {
      const obs = {
        ...labResult(),
        effectiveDateTime: undefined,
        effectivePeriod: { start: '2024-02', end: '2024-01' },
      };
      assert.deepEqual(where(errors(obs)), ['Observation.effectivePeriod']);
    });

    it('rejects a Quantity with a code but no system (qty-3)', () => {
      const issues = errors({ ...labResult(), valueQuantity: { value: 1, code: 'g/dL' } });
      assert.match(issues[0]?.diagnostics ?? '', /^qty-3: /);
      assert.deepEqual(where(issues), ['Observation.valueQuantity']);
    });

    it('rejects a comparator in a reference range bound, a SimpleQuantity (sqty-1)', () => {
      const obs = { ...labResult(), referenceRange: [{ low: { value: 1, comparator: '>' } }] };
      const issues = errors(obs);
      assert.ok(issues.some((i) => i.diagnostics?.startsWith('sqty-1: ')));
      assert.ok(where(issues).includes('Observation.referenceRange[0].low'));
    });

    it('warns about a resource without narrative (dom-6) without refusing it', () => {
      assert.ok(warnings(labResult()).some((i) => i.diagnostics?.startsWith('dom-6: ')));
      assert.deepEqual(errors(labResult()), []);
    });
  });

  describe('bindings', () => {
    const allergy = (code: string) => ({
      resourceType: 'AllergyIntolerance',
      patient: { reference: 'Patient/p1' },
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code }],
      },
    });

    it('accepts a CodeableConcept from its required ValueSet', () => {
      assert.deepEqual(errors(allergy('active')), []);
    });

    it('rejects a CodeableConcept outside its required ValueSet', () => {
      const [issue] = errors(allergy('dormant'));
      assert.equal(issue?.code, 'code-invalid');
      assert.deepEqual(issue.expression, ['AllergyIntolerance.clinicalStatus']);
      assert.match(issue.diagnostics ?? '', /allergyintolerance-clinical/);
    });

    it('only warns about a code outside an extensible ValueSet', () => {
      const system = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
      const obs = { ...labResult(), interpretation: [{ coding: [{ system, code: 'NOPE' }] }] };
      assert.deepEqual(errors(obs), []);
      assert.deepEqual(where(warnings(obs).filter((i) => i.code === 'code-invalid')), [
        'Observation.interpretation[0]',
      ]);
    });

    it('does not judge codes bound to a ValueSet it cannot expand (LOINC)', () => {
      const obs = { ...bloodPressure(), component: undefined, code: loinc('not-a-loinc') };
      assert.ok(!validate(obs).some((i) => i.code === 'code-invalid'));
    });
  });

  describe('the Ferry lab-result profile', () => {
    const options = { profiles: [lab] };

    it('accepts a lab result with subject, LOINC code, time, status and value', () => {
      assert.deepEqual(errors(labResult(), options), []);
    });

    it('accepts a lab result with a dataAbsentReason instead of a value', () => {
      const obs = { ...labResult(), valueQuantity: undefined, dataAbsentReason: { text: 'haemolysed' } };
      assert.deepEqual(errors(obs, options), []);
    });

    it('rejects an Observation with neither value nor dataAbsentReason', () => {
      const issues = errors({ ...labResult(), valueQuantity: undefined }, options);
      assert.deepEqual(where(issues), ['Observation']);
      assert.match(issues[0]?.diagnostics ?? '', /^ferry-lab-1: .*ferry-lab-result/);
    });

    it('rejects a lab result without subject or effective time', () => {
      const issues = errors({ ...labResult(), subject: undefined, effectiveDateTime: undefined }, options);
      assert.deepEqual(where(issues).sort(), ['Observation.effective', 'Observation.subject']);
      assert.ok(issues.every((i) => i.code === 'required'));
    });

    it('rejects a code with no LOINC coding (the loinc slice is required)', () => {
      const obs = { ...labResult(), code: { coding: [{ system: 'http://snomed.info/sct', code: '1' }] } };
      const issues = errors(obs, options);
      assert.deepEqual(where(issues), ['Observation.code.coding']);
      assert.match(issues[0]?.diagnostics ?? '', /Slice 'loinc'/);
    });

    it('is checked when the resource declares it in meta.profile', () => {
      const obs = { ...labResult(), valueQuantity: undefined, meta: { profile: [lab] } };
      assert.equal(errors(obs).length, 1);
    });

    it('is checked for every Observation when the policy enforces it', () => {
      const policy = { ...defaultPolicy, enforce: { Observation: [lab] } };
      assert.equal(errors({ ...labResult(), valueQuantity: undefined }, { policy }).length, 1);
      assert.deepEqual(errors({ resourceType: 'Patient' }, { policy }), []);
    });
  });

  describe('US Core 5.0.1 blood pressure', () => {
    const options = { profiles: [bp] };

    it('accepts a blood pressure that meets the profile', () => {
      assert.deepEqual(errors(bloodPressure(), options), []);
    });

    it('rejects a blood pressure without the vital-signs category slice (VSCat)', () => {
      const obs = { ...bloodPressure(), category: [{ text: 'vitals' }] };
      const issues = errors(obs, options);
      assert.deepEqual(where(issues), ['Observation.category']);
      assert.match(issues[0]?.diagnostics ?? '', /Slice 'VSCat'.*us-core-blood-pressure/);
    });

    it('rejects a code that does not match the pattern', () => {
      const issues = errors({ ...bloodPressure(), code: loinc('718-7') }, options);
      assert.deepEqual(where(issues), ['Observation.code']);
      assert.equal(issues[0]?.code, 'value');
    });

    it('rejects a systolic value with another unit system than the fixed one', () => {
      const obs = bloodPressure();
      obs.component[0]!.valueQuantity.system = 'http://example.org/units';
      const issues = errors(obs, options);
      assert.deepEqual(where(issues), ['Observation.component[0].valueQuantity.system']);
    });

    it('rejects a component value of a type the profile does not allow', () => {
      const obs = bloodPressure();
      const [systolic, diastolic] = obs.component;
      const issues = errors(
        { ...obs, component: [{ code: systolic!.code, valueString: '120' }, diastolic] },
        options,
      );
      assert.ok(where(issues).includes('Observation.component[0].valueString'), JSON.stringify(issues));
    });

    it('rejects a blood pressure that lacks the diastolic component', () => {
      const obs = bloodPressure();
      const issues = errors({ ...obs, component: [obs.component[0]] }, options);
      assert.ok(issues.some((i) => /Slice 'diastolic'/.test(i.diagnostics ?? '')));
      assert.ok(issues.some((i) => /needs at least 2/.test(i.diagnostics ?? '')));
    });
  });

  describe('US Core 5.0.1 patient', () => {
    const patient = () => ({
      resourceType: 'Patient',
      meta: { profile: [usPatient] },
      identifier: [{ system: 'http://hospital.example.org/mrn', value: '12345' }],
      name: [{ family: 'Shaw', given: ['Amy'] }],
      gender: 'female',
      extension: [
        {
          url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex',
          valueCode: 'F',
        },
      ],
    });

    it('accepts a patient that meets the profile, birth sex extension included', () => {
      assert.deepEqual(errors(patient()), []);
    });

    it('rejects a patient without identifier or gender', () => {
      const issues = errors({ ...patient(), identifier: undefined, gender: undefined });
      assert.deepEqual(where(issues).sort(), ['Patient.gender', 'Patient.identifier']);
    });

    it('checks an extension against its extension profile (birth sex is a code)', () => {
      const p = patient();
      const issues = errors({ ...p, extension: [{ url: p.extension[0]!.url, valueString: 'F' }] });
      assert.deepEqual(where(issues), ['Patient.extension[0].valueString']);
      assert.match(issues[0]?.diagnostics ?? '', /us-core-birthsex/);
    });

    it('rejects a name with neither family nor given (us-core-6)', () => {
      const issues = errors({ ...patient(), name: [{ text: 'Amy Shaw' }] });
      assert.match(issues[0]?.diagnostics ?? '', /^us-core-6: /);
    });
  });

  describe('profiles the official R4 examples declare (US Core ships no examples)', () => {
    const dir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
    const declaring = readdirSync(dir)
      .filter((f) => f.startsWith('Observation-'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>)
      .filter((r) => JSON.stringify(r.meta ?? {}).includes('StructureDefinition/vitalsigns'));

    it('accepts every vital-signs example against the R4 vitalsigns profile it declares', () => {
      assert.ok(declaring.length >= 10, `only ${declaring.length} examples`);
      for (const r of declaring) assert.deepEqual(errors(r), [], String(r.id));
    });

    it('refuses each of them once its vital-signs category is gone (the VSCat slice)', () => {
      for (const r of declaring) {
        const issues = errors({ ...r, category: [{ text: 'vitals' }] });
        assert.ok(
          issues.some((i) => /Slice 'VSCat'.*vitalsigns/.test(i.diagnostics ?? '')),
          `${String(r.id)}: ${JSON.stringify(issues)}`,
        );
      }
    });
  });

  describe('declared profiles', () => {
    const declaring = {
      ...labResult(),
      meta: { profile: ['http://example.org/StructureDefinition/unknown'] },
    };

    it('warns about a declared profile it does not know', () => {
      assert.deepEqual(errors(declaring), []);
      assert.deepEqual(where(warnings(declaring).filter((i) => i.code === 'not-supported')), [
        'Observation.meta.profile',
      ]);
    });

    it('refuses a declared profile it does not know under the strict setting', () => {
      const policy = { ...defaultPolicy, strictProfiles: true };
      assert.deepEqual(where(errors(declaring, { policy })), ['Observation.meta.profile']);
    });

    it('refuses a profile that constrains another type', () => {
      const issues = errors({ resourceType: 'Patient', meta: { profile: [lab] } });
      assert.match(issues[0]?.diagnostics ?? '', /constrains Observation, not Patient/);
    });
  });
});
