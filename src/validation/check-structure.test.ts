import assert from 'node:assert/strict';
import type { ElementDefinition, StructureDefinition } from 'fhir/r4.js';
import type { Issue } from '../errors.js';
import { checkNode } from './check-structure.js';
import { compileStructure } from './compile-structure.js';
import { structureDefinition } from './definitions.js';
import { generateSnapshot } from './snapshot.js';

/** A profile on `type` made of differential elements, compiled the way profiles/ files are. */
function profile(type: string, elements: ElementDefinition[]) {
  const sd: StructureDefinition = {
    resourceType: 'StructureDefinition',
    url: `http://example.org/StructureDefinition/test-${type}`,
    name: 'Test',
    status: 'draft',
    kind: 'resource',
    abstract: false,
    type,
    baseDefinition: `http://hl7.org/fhir/StructureDefinition/${type}`,
    derivation: 'constraint',
    differential: { element: elements },
  };
  return compileStructure(generateSnapshot(sd, structureDefinition));
}

function check(structure: ReturnType<typeof profile>, resource: { resourceType: string }): Issue[] {
  const issues: Issue[] = [];
  checkNode(structure, resource, resource.resourceType, {
    resource,
    root: resource,
    issues,
    profile: structure.url,
  });
  return issues.filter((i) => i.severity === 'error');
}

const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };

describe('slicing', () => {
  it('assigns choice values to slices by type and closes the rest out', () => {
    const structure = profile('Observation', [
      {
        id: 'Observation.value[x]',
        path: 'Observation.value[x]',
        slicing: { discriminator: [{ type: 'type', path: '$this' }], rules: 'closed' },
      },
      {
        id: 'Observation.value[x]:valueQuantity',
        path: 'Observation.value[x]',
        sliceName: 'valueQuantity',
        type: [{ code: 'Quantity' }],
      },
    ]);
    assert.deepEqual(check(structure, { ...obs, valueQuantity: { value: 1 } } as never), []);
    const issues = check(structure, { ...obs, valueString: 'one' } as never);
    assert.deepEqual(
      issues.map((i) => i.expression?.[0]),
      ['Observation.valueString'],
    );
  });

  it('counts slices found by an exists discriminator against their cardinality', () => {
    const structure = profile('Observation', [
      {
        id: 'Observation.component',
        path: 'Observation.component',
        slicing: { discriminator: [{ type: 'exists', path: 'dataAbsentReason' }], rules: 'open' },
      },
      { id: 'Observation.component:absent', path: 'Observation.component', sliceName: 'absent', max: '1' },
      {
        id: 'Observation.component:absent.dataAbsentReason',
        path: 'Observation.component.dataAbsentReason',
        min: 1,
      },
    ]);
    const absent = { code: { text: 'a' }, dataAbsentReason: { text: 'lost' } };
    assert.deepEqual(check(structure, { ...obs, component: [absent, { code: { text: 'b' } }] } as never), []);
    const issues = check(structure, { ...obs, component: [absent, absent] } as never);
    assert.match(
      issues[0]?.diagnostics ?? '',
      /Slice 'absent' of Observation.component allows at most 1 \(found 2\)/,
    );
  });

  it('recognises a slice by profile conformance', () => {
    const birthsex = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex';
    const structure = profile('Patient', [
      {
        id: 'Patient.extension',
        path: 'Patient.extension',
        slicing: { discriminator: [{ type: 'profile', path: '$this' }], rules: 'open' },
      },
      {
        id: 'Patient.extension:birthsex',
        path: 'Patient.extension',
        sliceName: 'birthsex',
        min: 1,
        type: [{ code: 'Extension', profile: [birthsex] }],
      },
    ]);
    const patient = { resourceType: 'Patient', extension: [{ url: birthsex, valueCode: 'F' }] };
    assert.deepEqual(check(structure, patient), []);
    const other = {
      resourceType: 'Patient',
      extension: [{ url: 'http://example.org/other', valueCode: 'F' }],
    };
    assert.match(
      check(structure, other)[0]?.diagnostics ?? '',
      /Slice 'birthsex' of Patient.extension needs at least 1/,
    );
  });

  it('applies a slice’s own constraints only to the values in that slice', () => {
    const structure = profile('Observation', [
      {
        id: 'Observation.category',
        path: 'Observation.category',
        slicing: { discriminator: [{ type: 'pattern', path: '$this' }], rules: 'open' },
      },
      {
        id: 'Observation.category:lab',
        path: 'Observation.category',
        sliceName: 'lab',
        patternCodeableConcept: { coding: [{ code: 'laboratory' }] },
      },
      { id: 'Observation.category:lab.text', path: 'Observation.category.text', min: 1 },
    ]);
    const lab = { coding: [{ code: 'laboratory' }] };
    const issues = check(structure, { ...obs, category: [{ text: 'other' }, lab] } as never);
    assert.deepEqual(
      issues.map((i) => i.expression?.[0]),
      ['Observation.category[1].text'],
    );
  });
});
