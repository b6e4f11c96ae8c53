import assert from 'node:assert/strict';
import type { Observation, Parameters, ParametersParameter, Patient } from 'fhir/r4.js';
import { FhirError } from '../errors.js';
import { applyFhirPathPatch } from './fhirpath-patch.js';

type Part = ParametersParameter;
const op = (type: string, path: string, extra: Part[] = []): Part => ({
  name: 'operation',
  part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...extra],
});
const patch = (...operations: Part[]): Parameters => ({ resourceType: 'Parameters', parameter: operations });

const patient = (): Patient => ({
  resourceType: 'Patient',
  id: 'p1',
  active: true,
  birthDate: '1980-01-02',
  name: [
    { family: 'Lovelace', given: ['Ada', 'Augusta'] },
    { family: 'King', use: 'old' },
  ],
  identifier: [
    { system: 'http://a', value: '1' },
    { system: 'http://b', value: '2' },
    { system: 'http://c', value: '3' },
  ],
});

function status(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof FhirError ? error.status : -1;
  }
  return undefined;
}

describe('FHIRPath Patch', () => {
  it('adds an element, appending to a list', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(
        op('add', 'Patient', [
          { name: 'name', valueString: 'gender' },
          { name: 'value', valueCode: 'female' },
        ]),
        op('add', 'Patient', [
          { name: 'name', valueString: 'telecom' },
          { name: 'value', valueContactPoint: { system: 'phone', value: '555' } },
        ]),
        op('add', "Patient.name.where(use = 'old')", [
          { name: 'name', valueString: 'given' },
          { name: 'value', valueString: 'Ada' },
        ]),
      ),
    ) as Patient;
    assert.equal(out.gender, 'female');
    assert.deepEqual(out.telecom, [{ system: 'phone', value: '555' }]);
    assert.deepEqual(out.name?.[1]?.given, ['Ada']);
  });

  it('adds a choice element under its typed name', () => {
    const obs: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
    const out = applyFhirPathPatch(
      obs,
      patch(
        op('add', 'Observation', [
          { name: 'name', valueString: 'value' },
          { name: 'value', valueQuantity: { value: 5, unit: 'mg' } },
        ]),
      ),
    ) as Observation;
    assert.deepEqual(out.valueQuantity, { value: 5, unit: 'mg' });
  });

  it('builds a backbone value from parts', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(
        op('add', 'Patient', [
          { name: 'name', valueString: 'contact' },
          {
            name: 'value',
            part: [
              { name: 'name', valueHumanName: { family: 'Babbage' } },
              { name: 'gender', valueCode: 'male' },
            ],
          },
        ]),
      ),
    ) as Patient;
    assert.deepEqual(out.contact, [{ name: { family: 'Babbage' }, gender: 'male' }]);
  });

  it('refuses to add a single element that already has a value', () => {
    const p = patch(
      op('add', 'Patient', [
        { name: 'name', valueString: 'birthDate' },
        { name: 'value', valueDate: '1990-01-01' },
      ]),
    );
    assert.equal(
      status(() => applyFhirPathPatch(patient(), p)),
      422,
    );
  });

  it('inserts into a list at an index, and into an empty list', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(
        op('insert', 'Patient.identifier', [
          { name: 'value', valueIdentifier: { system: 'http://z', value: '0' } },
          { name: 'index', valueInteger: 1 },
        ]),
        op('insert', 'Patient.telecom', [
          { name: 'value', valueContactPoint: { system: 'email', value: 'a@b' } },
          { name: 'index', valueInteger: 0 },
        ]),
      ),
    ) as Patient;
    assert.deepEqual(
      out.identifier?.map((i) => i.value),
      ['1', '0', '2', '3'],
    );
    assert.deepEqual(out.telecom, [{ system: 'email', value: 'a@b' }]);
  });

  it('deletes an element, a list item, and nothing when the path matches nothing', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(
        op('delete', 'Patient.birthDate'),
        op('delete', "Patient.identifier.where(system = 'http://b')"),
        op('delete', 'Patient.name[0].given[1]'),
        op('delete', 'Patient.gender'),
      ),
    ) as Patient;
    assert.equal(out.birthDate, undefined);
    assert.deepEqual(
      out.identifier?.map((i) => i.value),
      ['1', '3'],
    );
    assert.deepEqual(out.name?.[0]?.given, ['Ada']);
  });

  it('removes a list that its last deletion empties', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(op('delete', "Patient.name.where(use = 'old')"), op('delete', 'Patient.name[0]')),
    ) as Patient;
    assert.equal(out.name, undefined);
  });

  it('replaces a primitive, a list item, and a choice element of another type', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(
        op('replace', 'Patient.active', [{ name: 'value', valueBoolean: false }]),
        op('replace', 'Patient.identifier[2]', [{ name: 'value', valueIdentifier: { value: 'x' } }]),
      ),
    ) as Patient;
    assert.equal(out.active, false);
    assert.deepEqual(out.identifier?.[2], { value: 'x' });

    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueQuantity: { value: 1 },
    };
    const changed = applyFhirPathPatch(
      obs,
      patch(op('replace', 'Observation.value', [{ name: 'value', valueString: 'positive' }])),
    ) as Observation;
    assert.equal(changed.valueString, 'positive');
    assert.equal(changed.valueQuantity, undefined);
  });

  it('moves a list item', () => {
    const out = applyFhirPathPatch(
      patient(),
      patch(
        op('move', 'Patient.identifier', [
          { name: 'source', valueInteger: 0 },
          { name: 'destination', valueInteger: 2 },
        ]),
      ),
    ) as Patient;
    assert.deepEqual(
      out.identifier?.map((i) => i.value),
      ['2', '3', '1'],
    );
  });

  it('leaves the original resource untouched', () => {
    const original = patient();
    applyFhirPathPatch(original, patch(op('delete', 'Patient.birthDate')));
    assert.equal(original.birthDate, '1980-01-02');
  });

  it('answers 400 for a malformed patch and 422 for one that does not fit the resource', () => {
    assert.equal(
      status(() => applyFhirPathPatch(patient(), patch())),
      400,
    );
    assert.equal(
      status(() => applyFhirPathPatch(patient(), patch(op('explode', 'Patient.name')))),
      400,
    );
    assert.equal(
      status(() => applyFhirPathPatch(patient(), patch(op('replace', 'Patient.active')))),
      400,
    );
    assert.equal(
      status(() =>
        applyFhirPathPatch(
          patient(),
          patch(op('replace', 'Patient.name', [{ name: 'value', valueString: 'x' }])),
        ),
      ),
      422,
      'two names match',
    );
    assert.equal(
      status(() =>
        applyFhirPathPatch(
          patient(),
          patch(op('replace', 'Patient.gender', [{ name: 'value', valueCode: 'male' }])),
        ),
      ),
      422,
      'nothing to replace',
    );
    assert.equal(
      status(() =>
        applyFhirPathPatch(
          patient(),
          patch(
            op('insert', 'Patient.identifier', [
              { name: 'value', valueIdentifier: {} },
              { name: 'index', valueInteger: 9 },
            ]),
          ),
        ),
      ),
      422,
    );
    assert.equal(
      status(() => applyFhirPathPatch(patient(), patch(op('delete', 'Patient.name.where(')))),
      422,
    );
  });
});
