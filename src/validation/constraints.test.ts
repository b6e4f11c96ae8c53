import assert from 'node:assert/strict';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { compileInvariant, shortcuts } from './constraints.js';

/** Instances for each direct answer, with the R4 model path fhirpath needs to type them. */
const cases: Record<string, [string, Record<string, unknown>][]> = {
  'text.`div`.exists()': [
    ['Observation', { resourceType: 'Observation', text: { status: 'generated', div: '<div/>' } }],
    ['Observation', { resourceType: 'Observation' }],
  ],
  'extension.exists() != value.exists()': [
    ['Extension', { url: 'u', valueString: 'a' }],
    ['Extension', { url: 'u', valueString: 'a', extension: [{ url: 'v', valueCode: 'b' }] }],
    ['Extension', { url: 'u', _valueString: { extension: [{ url: 'v', valueCode: 'b' }] } }],
    ['Extension', { url: 'u' }],
  ],
  'code.empty() or system.exists()': [
    ['Quantity', { value: 1, code: 'g' }],
    ['Quantity', { value: 1, code: 'g', system: 'http://unitsofmeasure.org' }],
    ['Quantity', { value: 1 }],
  ],
  'comparator.empty()': [
    ['Quantity', { value: 1, comparator: '<' }],
    ['Quantity', { value: 1 }],
  ],
  'dataAbsentReason.empty() or value.empty()': [
    ['Observation', { resourceType: 'Observation', valueString: 'a', dataAbsentReason: { text: 'x' } }],
    ['Observation', { resourceType: 'Observation', valueString: 'a' }],
    ['Observation', { resourceType: 'Observation', dataAbsentReason: { text: 'x' } }],
  ],
  'low.exists() or high.exists() or text.exists()': [
    ['Observation.referenceRange', { low: { value: 1 } }],
    ['Observation.referenceRange', { type: { text: 't' } }],
  ],
  'data.empty() or contentType.exists()': [
    ['Attachment', { data: 'AAAA' }],
    ['Attachment', { data: 'AAAA', contentType: 'text/plain' }],
  ],
  "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))":
    [['Reference', { reference: 'Patient/1' }]],
  'start.hasValue().not() or end.hasValue().not() or (start <= end)': [['Period', { start: '2024-01-01' }]],
};

describe('invariant shortcuts', () => {
  it('answer exactly what fhirpath answers, case by case', () => {
    for (const [expression, shortcut] of Object.entries(shortcuts)) {
      const instances = cases[expression];
      assert.ok(instances?.length, `no cases for ${expression}`);
      for (const [base, node] of instances) {
        const direct = shortcut(node);
        if (direct === undefined) continue;
        const path = node.resourceType ? expression : { base, expression };
        const [expected] = fhirpath.evaluate(node, path, { rootResource: node, resource: node }, r4, {
          traceFn: () => undefined,
        }) as unknown[];
        assert.equal(direct, expected ?? true, `${expression} on ${JSON.stringify(node)}`);
      }
    }
  });

  it('skips invariants fhirpath.js cannot run, and runs the rest', () => {
    assert.equal(
      compileInvariant({ key: 'txt-1', severity: 'error', human: 'h', expression: 'htmlChecks()' }),
      undefined,
    );
    assert.equal(
      compileInvariant({ key: 'x-1', severity: 'error', human: 'h', expression: 'a.conformsTo(b)' }),
      undefined,
    );
    const inv = compileInvariant({
      key: 'x-2',
      severity: 'error',
      human: 'h',
      expression: "status = 'final'",
    });
    assert.equal(inv?.run({ resourceType: 'Observation', status: 'final' }, undefined, {}, {}), true);
    assert.equal(inv.run({ resourceType: 'Observation', status: 'draft' }, undefined, {}, {}), false);
  });

  it('reports an invariant that throws as an error value, never as a broken rule', () => {
    const inv = compileInvariant({
      key: 'x-3',
      severity: 'error',
      human: 'h',
      expression: 'a.b.single() = 1',
    });
    const result = inv?.run({ resourceType: 'Observation', a: { b: [1, 2] } }, undefined, {}, {});
    assert.ok(result instanceof Error);
  });
});
