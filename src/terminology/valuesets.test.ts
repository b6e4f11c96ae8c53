import assert from 'node:assert/strict';
import { expandValueSet, valueSetContains } from './valuesets.js';

const actCode = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

describe('expandValueSet', () => {
  it('expands a ValueSet that includes a whole shipped CodeSystem', () => {
    const codes = [
      ...(expandValueSet('http://hl7.org/fhir/ValueSet/allergyintolerance-clinical')?.codes.keys() ?? []),
    ];
    assert.deepEqual(codes.sort(), [
      'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|active',
      'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|inactive',
      'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|resolved',
    ]);
  });

  it('expands an is-a filter over the hierarchy and applies exclude', () => {
    const expansion = expandValueSet('http://terminology.hl7.org/ValueSet/v3-ActEncounterCode');
    assert.ok(expansion);
    assert.ok(expansion.codes.has(`${actCode}|AMB`));
    assert.ok(expansion.codes.has(`${actCode}|ACUTE`), 'a grandchild (IMP → ACUTE) is included');
    assert.ok(!expansion.codes.has(`${actCode}|_ActEncounterCode`), 'the excluded root is left out');
  });

  it('expands descendent-of without the concept itself', () => {
    const expansion = expandValueSet('http://hl7.org/fhir/ValueSet/inactive');
    assert.ok(expansion);
    assert.ok(expansion.codes.has('http://terminology.hl7.org/CodeSystem/v3-ActMood|GOL'));
    assert.ok(!expansion.codes.has('http://terminology.hl7.org/CodeSystem/v3-ActMood|_ActMoodPredicate'));
  });

  it('expands nested ValueSet imports', () => {
    const expansion = expandValueSet('http://hl7.org/fhir/ValueSet/event-or-request-resource-types');
    assert.ok(expansion);
    assert.ok(
      expansion.codes.has('http://hl7.org/fhir/event-resource-types|Observation'),
      'from event-resource-types',
    );
    assert.ok(
      expansion.codes.has('http://hl7.org/fhir/request-resource-types|ServiceRequest'),
      'from request-resource-types',
    );
  });

  it('ignores a version suffix and caches the expansion', () => {
    const a = expandValueSet('http://hl7.org/fhir/ValueSet/observation-status|4.0.1');
    assert.ok(a);
    assert.equal(expandValueSet('http://hl7.org/fhir/ValueSet/observation-status'), a);
  });

  it('has no expansion for a ValueSet drawn from LOINC, which is not shipped', () => {
    assert.equal(expandValueSet('http://hl7.org/fhir/ValueSet/observation-codes'), undefined);
    assert.equal(expandValueSet('http://example.org/ValueSet/unknown'), undefined);
  });
});

describe('valueSetContains', () => {
  it('answers true, false, or undefined when it cannot know', () => {
    const vs = 'http://hl7.org/fhir/ValueSet/observation-status';
    assert.equal(valueSetContains(vs, 'http://hl7.org/fhir/observation-status', 'final'), true);
    assert.equal(valueSetContains(vs, 'http://hl7.org/fhir/observation-status', 'done'), false);
    assert.equal(valueSetContains(vs, undefined, 'final'), true);
    assert.equal(
      valueSetContains('http://hl7.org/fhir/ValueSet/observation-codes', 'http://loinc.org', '718-7'),
      undefined,
    );
  });
});
