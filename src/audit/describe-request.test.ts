import assert from 'node:assert/strict';
import { describeRequest } from './describe-request.js';

describe('describeRequest', () => {
  const cases: [string, string, string, string | undefined][] = [
    ['GET', '/Patient/p1', 'read', 'Patient/p1'],
    ['GET', '/Observation/o1/_history/2', 'vread', 'Observation/o1/_history/2'],
    ['PUT', '/Patient/p1', 'update', 'Patient/p1'],
    ['PATCH', '/Patient/p1', 'patch', 'Patient/p1'],
    ['DELETE', '/Patient/p1', 'delete', 'Patient/p1'],
    ['POST', '/Patient', 'create', undefined],
    ['GET', '/Patient?name=x', 'search-type', undefined],
    ['POST', '/Patient/_search', 'search-type', undefined],
    ['GET', '/', 'search-system', undefined],
    ['GET', '/_history', 'history-system', undefined],
    ['GET', '/Patient/_history', 'history-type', undefined],
    ['GET', '/Patient/p1/_history', 'history-instance', 'Patient/p1'],
    ['POST', '/Patient/$validate', 'operation', undefined],
    ['GET', '/metadata', 'capabilities', undefined],
    ['GET', '/Patient/p1/Observation', 'search-type', undefined],
  ];
  for (const [method, path, interaction, resource] of cases) {
    it(`reads ${method} ${path} as ${interaction}`, () => {
      const access = describeRequest(method, path);
      assert.equal(access.interaction, interaction);
      assert.equal(access.resource, resource);
    });
  }

  it('tells a batch from a transaction by the Bundle type', () => {
    assert.equal(describeRequest('POST', '/', 'batch').interaction, 'batch');
    assert.equal(describeRequest('POST', '/', 'transaction').interaction, 'transaction');
  });

  it('names the patient of a Patient or a Patient compartment', () => {
    assert.equal(describeRequest('GET', '/Patient/p1').patient, 'Patient/p1');
    assert.equal(describeRequest('GET', '/Patient/p1/Observation').patient, 'Patient/p1');
    assert.equal(describeRequest('GET', '/Observation/o1').patient, undefined);
  });
});
