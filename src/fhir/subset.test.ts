import assert from 'node:assert/strict';
import type { Patient } from 'fhir/r4.js';
import { subsetResource } from './subset.js';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p',
  meta: { versionId: '1' },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ann</div>' },
  name: [{ family: 'Lee' }],
  birthDate: '1970-01-01',
  _birthDate: { extension: [{ url: 'http://x.org/e', valueString: 'approx' }] },
  photo: [{ contentType: 'image/png' }],
};

describe('subsetResource', () => {
  it('keeps summary elements for _summary=true and marks the result SUBSETTED', () => {
    const out = subsetResource(patient, 'true') as Patient;
    assert.deepEqual(Object.keys(out).sort(), [
      '_birthDate',
      'birthDate',
      'id',
      'meta',
      'name',
      'resourceType',
    ]);
    assert.equal(out.meta?.tag?.[0]?.code, 'SUBSETTED');
  });

  it('keeps only the narrative and mandatory elements for _summary=text', () => {
    assert.deepEqual(Object.keys(subsetResource(patient, 'text')).sort(), [
      'id',
      'meta',
      'resourceType',
      'text',
    ]);
  });

  it('drops the narrative for _summary=data', () => {
    assert.equal((subsetResource(patient, 'data') as Patient).text, undefined);
  });

  it('keeps the asked elements plus id and meta for _elements', () => {
    assert.deepEqual(Object.keys(subsetResource(patient, undefined, ['photo'])).sort(), [
      'id',
      'meta',
      'photo',
      'resourceType',
    ]);
  });

  it('returns the resource untouched for _summary=false', () => {
    assert.equal(subsetResource(patient, 'false'), patient);
  });
});
