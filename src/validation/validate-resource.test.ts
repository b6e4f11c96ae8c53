import assert from 'node:assert/strict';
import type { Issue } from '../errors.js';
import { validateResource } from './validate-resource.js';

const expressions = (issues: Issue[]): string[] => issues.flatMap((i) => i.expression ?? []).sort();

describe('validateResource', () => {
  it('accepts a valid resource', () => {
    assert.deepEqual(
      validateResource({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
        subject: { reference: 'Patient/p1' },
        effectiveDateTime: '2024-02-29T10:00:00+01:00',
        valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
      }),
      [],
    );
  });

  it('reports every problem at once, each with the element it concerns', () => {
    const issues = validateResource({
      resourceType: 'Patient',
      name: [{ family: 'Smith', given: ['Ann', ''] }],
      gender: 'mail',
      birthDate: '2001-02-30',
      colour: 'blue',
      multipleBirthInteger: 1.5,
    });
    assert.deepEqual(expressions(issues), [
      'Patient.birthDate',
      'Patient.colour',
      'Patient.gender',
      'Patient.multipleBirthInteger',
      'Patient.name[0].given[1]',
    ]);
    assert.ok(issues.every((i) => i.severity === 'error' && i.diagnostics));
  });

  it('names a missing required element', () => {
    const issues = validateResource({ resourceType: 'Observation', code: { text: 'x' } });
    assert.deepEqual(expressions(issues), ['Observation.status']);
    assert.equal(issues[0]?.code, 'required');
  });

  it('refuses two forms of one choice element', () => {
    const issues = validateResource({
      resourceType: 'Patient',
      deceasedBoolean: true,
      deceasedDateTime: '2020',
    });
    assert.deepEqual(expressions(issues), ['Patient.deceased[x]']);
  });

  it('checks primitive formats: dateTime needs a zone with a time, instant needs seconds, ids their syntax', () => {
    const issues = validateResource({
      resourceType: 'Observation',
      id: 'has space',
      status: 'final',
      code: { text: 'x' },
      effectiveDateTime: '2024-01-01T10:00:00',
      issued: '2024-01-01T10:00Z',
      valueInteger: 3000000000,
    });
    assert.deepEqual(expressions(issues), [
      'Observation.effectiveDateTime',
      'Observation.id',
      'Observation.issued',
      'Observation.valueInteger',
    ]);
  });

  it('checks reference syntax', () => {
    const ok = [
      'Patient/1',
      'Patient/1/_history/2',
      '#c1',
      'urn:uuid:3c1a0d3e-9b7a-4b8f-8f5e-0a1b2c3d4e5f',
      'https://x.org/fhir/Patient/1',
    ];
    for (const reference of ok) {
      assert.deepEqual(
        validateResource({
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'x' },
          subject: { reference },
        }),
        [],
        reference,
      );
    }
    for (const reference of ['Patient', 'Nonsense/1', 'Patient/a b', 'patient/1']) {
      const issues = validateResource({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        subject: { reference },
      });
      assert.deepEqual(expressions(issues), ['Observation.subject.reference'], reference);
    }
  });

  it('refuses empty objects and arrays', () => {
    const issues = validateResource({ resourceType: 'Patient', name: [{}], telecom: [] });
    assert.deepEqual(expressions(issues), ['Patient.name[0]', 'Patient.telecom']);
  });

  it('allows nulls in an _element array that lines up with a primitive array', () => {
    const issues = validateResource({
      resourceType: 'Patient',
      name: [
        {
          given: ['Ann', 'Lee'],
          _given: [null, { extension: [{ url: 'http://x.org/e', valueString: 'y' }] }],
        },
      ],
    });
    assert.deepEqual(issues, []);
  });

  it('validates contained resources and bundle entries against their own type', () => {
    const issues = validateResource({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { resource: { resourceType: 'Patient', gender: 'x' } },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'x' },
            contained: [{ resourceType: 'Patient', id: 'p', birthDate: 'soon' }],
          },
        },
      ],
    });
    assert.deepEqual(expressions(issues), [
      'Bundle.entry[0].resource.gender',
      'Bundle.entry[1].resource.contained[0].birthDate',
    ]);
  });

  it('refuses a body that is not a resource', () => {
    assert.equal(validateResource([])[0]?.code, 'structure');
    assert.match(
      validateResource({ resourceType: 'Spaceship' })[0]?.diagnostics ?? '',
      /Unknown resource type/,
    );
    assert.match(validateResource({})[0]?.diagnostics ?? '', /no resourceType/);
  });
});
