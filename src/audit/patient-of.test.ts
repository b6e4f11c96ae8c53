import assert from 'node:assert/strict';
import { extractIndexEntries } from '../search/extract.js';
import { patientOfEntries, patientOfJson } from './patient-of.js';

const observation = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { text: 'x' },
  subject: { reference: 'Patient/p1' },
};

describe('the patient of a resource (Patient compartment)', () => {
  it('is the Patient itself', () => {
    assert.equal(patientOfJson('Patient', 'p1', '{}'), 'Patient/p1');
  });

  it('follows the compartment parameters of the type, from JSON and from index entries', () => {
    assert.equal(patientOfJson('Observation', 'o1', JSON.stringify(observation)), 'Patient/p1');
    const { entries } = extractIndexEntries(observation);
    assert.equal(patientOfEntries('Observation', 'o1', entries), 'Patient/p1');
  });

  it('is none for a resource outside any patient compartment or with no patient reference', () => {
    assert.equal(patientOfJson('Organization', 'x', '{"resourceType":"Organization"}'), undefined);
    const group = { ...observation, subject: { reference: 'Group/g1' } };
    assert.equal(patientOfJson('Observation', 'o1', JSON.stringify(group)), undefined);
  });
});
