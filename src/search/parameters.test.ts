import assert from 'node:assert/strict';
import {
  resourceTypes,
  searchParameter,
  searchParameterByUrl,
  searchParameters,
  splitUnion,
} from './parameters.js';

describe('search parameters', () => {
  it('loads the official parameters of a type, by code', () => {
    const observation = searchParameters('Observation');
    assert.ok(observation.size > 40);
    assert.deepEqual(searchParameter('Observation', 'subject'), {
      code: 'subject',
      base: 'Observation',
      type: 'reference',
      expression: 'Observation.subject',
      target: ['Group', 'Device', 'Patient', 'Location'],
      url: 'http://hl7.org/fhir/SearchParameter/Observation-subject',
    });
  });

  it('keeps only the part of a multi-base expression that belongs to the type', () => {
    assert.equal(searchParameter('Observation', 'code')?.expression, 'Observation.code');
    assert.equal(searchParameter('Condition', 'code')?.expression, 'Condition.code');
    assert.equal(searchParameter('Patient', 'phone')?.expression, "Patient.telecom.where(system='phone')");
    assert.equal(
      searchParameter('Observation', 'patient')?.expression,
      'Observation.subject.where(resolve() is Patient)',
    );
  });

  it('rewrites the spec’s `(X as T)` as `X.ofType(T)`', () => {
    assert.equal(
      searchParameter('Observation', 'value-quantity')?.expression,
      'Observation.value.ofType(Quantity) | Observation.value.ofType(SampledData)',
    );
    assert.equal(
      searchParameter('Observation', 'value-string')?.expression,
      'Observation.value.ofType(string) | Observation.value.ofType(CodeableConcept).text',
    );
    assert.equal(
      searchParameter('MedicationRequest', 'code')?.expression,
      'MedicationRequest.medication.ofType(CodeableConcept)',
    );
  });

  it('gives every type the resource-level parameters, re-rooted at the type', () => {
    for (const type of ['Patient', 'Binary', 'Bundle']) {
      const params = searchParameters(type);
      for (const code of ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source']) {
        assert.ok(params.has(code), `${type} lacks ${code}`);
      }
      assert.equal(params.get('_lastUpdated')?.expression, `${type}.meta.lastUpdated`);
      assert.equal(params.has('_text'), false);
      assert.equal(params.has('_content'), false);
    }
  });

  it('knows every R4 resource type and nothing else', () => {
    assert.equal(resourceTypes().size, 146);
    assert.ok(resourceTypes().has('Observation'));
    assert.equal(resourceTypes().has('DomainResource'), false);
    assert.equal(searchParameters('NoSuchType').size, 0);
    assert.equal(searchParameter('Patient', 'no-such-parameter'), undefined);
  });

  it('builds the table once and hands out the same maps', () => {
    assert.equal(searchParameters('Patient'), searchParameters('Patient'));
  });

  it('resolves composite components relative to the composite’s expression', () => {
    const combo = searchParameter('Observation', 'combo-code-value-quantity');
    assert.equal(combo?.expression, 'Observation | Observation.component');
    assert.deepEqual(
      combo.components?.map((c) => c.expression),
      ['code', 'value.ofType(Quantity) | value.ofType(SampledData)'],
    );
    const component = searchParameter('Observation', 'component-code-value-quantity');
    assert.equal(component?.expression, 'Observation.component');
    assert.deepEqual(
      component.components?.map((c) => c.expression),
      ['code', 'value.ofType(Quantity) | value.ofType(SampledData)'],
    );
  });

  it('takes component expressions from their definitions, not the composite’s own (swapped) text', () => {
    const relationship = searchParameter('DocumentReference', 'relationship');
    assert.deepEqual(relationship?.components, [
      { definition: 'http://hl7.org/fhir/SearchParameter/DocumentReference-relatesto', expression: 'target' },
      { definition: 'http://hl7.org/fhir/SearchParameter/DocumentReference-relation', expression: 'code' },
    ]);
  });

  it('falls back to the composite’s component expression when the definition lies outside it', () => {
    const coordinate = searchParameter('MolecularSequence', 'chromosome-variant-coordinate');
    assert.deepEqual(
      coordinate?.components?.map((c) => c.expression),
      ['%resource.referenceSeq.chromosome', 'start', 'end'],
    );
  });

  it('finds a component’s parameter by its URL for the same type', () => {
    const def = searchParameterByUrl('Observation', 'http://hl7.org/fhir/SearchParameter/clinical-code');
    assert.equal(def?.code, 'code');
    assert.equal(def.type, 'token');
  });

  it('splits a union at top level only', () => {
    assert.deepEqual(splitUnion("A.x | B.y.where(z = 'a|b') | (C.z as T)"), [
      'A.x',
      "B.y.where(z = 'a|b')",
      '(C.z as T)',
    ]);
  });
});
