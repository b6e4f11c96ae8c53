import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { FhirError } from '../errors.js';
import { Access, inPatientCompartment, matchesParams } from './access.js';

const access = (scopes: string[], patient?: string): Access =>
  new Access({ clientId: 'c', scopes, ...(patient !== undefined ? { patient } : {}) });

const status = (work: () => unknown): number | undefined => {
  try {
    work();
    return undefined;
  } catch (error) {
    return error instanceof FhirError ? error.status : -1;
  }
};

const lab = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  category: [
    {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }],
    },
  ],
  code: { text: 'K' },
  subject: { reference: 'Patient/p1' },
};

describe('Access', () => {
  it('allows an interaction only with its letter', () => {
    const a = access(['system/Observation.rs']);
    assert.equal(a.allowances('Observation', 'r'), 'all');
    assert.equal(a.allowances('Observation', 's'), 'all');
    assert.equal(
      status(() => a.allowances('Observation', 'c')),
      403,
    );
    assert.equal(
      status(() => a.allowances('Patient', 'r')),
      403,
    );
  });

  it('needs a scope naming AuditEvent to read the audit trail', () => {
    assert.equal(
      status(() => access(['system/*.rs']).allowances('AuditEvent', 'r')),
      403,
    );
    assert.equal(access(['system/AuditEvent.rs']).allowances('AuditEvent', 's'), 'all');
  });

  it('ignores patient scopes when the token has no patient', () => {
    assert.equal(
      status(() => access(['patient/*.rs']).allowances('Observation', 'r')),
      403,
    );
    assert.deepEqual(access(['patient/*.rs'], 'p1').allowances('Observation', 'r'), [
      { patient: 'p1', params: [] },
    ]);
  });

  it('sees a resource in the patient compartment and nothing outside it', () => {
    const a = access(['patient/*.rs'], 'p1');
    assert.equal(a.canSee(lab), true);
    const other = { ...lab, subject: { reference: 'Patient/p2' } };
    assert.equal(a.canSee(other), false);
    assert.equal(a.canSee({ resourceType: 'Patient', id: 'p1' }), true);
    assert.equal(a.canSee({ resourceType: 'Patient', id: 'p2' }), false);
    assert.equal(a.canSee({ resourceType: 'Organization', id: 'x' }), false);
  });

  it('compares granular scope parameters with the resource', () => {
    assert.equal(matchesParams(lab, [['category', 'laboratory']]), true);
    assert.equal(matchesParams(lab, [['category', 'vital-signs']]), false);
    assert.equal(
      matchesParams(lab, [
        ['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory'],
      ]),
      true,
    );
    assert.equal(matchesParams(lab, [['subject', 'Patient/p1']]), true);
    assert.equal(matchesParams(lab, [['no-such-param', 'x']]), false);
    assert.equal(inPatientCompartment(lab, 'p1'), true);
  });

  it('narrows a search: the patient compartment, or the parameters of a granular scope', () => {
    assert.deepEqual(access(['patient/Observation.rs'], 'p1').narrowSearch('Observation', []), {
      patient: 'p1',
      params: [],
    });
    const granular = access(['system/Observation.rs?category=laboratory']);
    assert.deepEqual(granular.narrowSearch('Observation', []), { params: [['category', 'laboratory']] });
    assert.deepEqual(granular.narrowSearch('Observation', [['category', 'laboratory']]), { params: [] });
    assert.equal(access(['system/Observation.rs']).narrowSearch('Observation', []), undefined);
  });

  it('refuses a search that would have to pick one of several granular scopes', () => {
    const a = access([
      'system/Observation.rs?category=laboratory',
      'system/Observation.rs?category=vital-signs',
    ]);
    assert.equal(
      status(() => a.narrowSearch('Observation', [])),
      403,
    );
    assert.deepEqual(a.narrowSearch('Observation', [['category', 'vital-signs']]), { params: [] });
  });

  it('keeps writes inside the compartment, and hides resources outside it', () => {
    const a = access(['patient/Observation.cruds'], 'p1');
    assert.equal(
      status(() => a.assertCanWrite('Observation', 'c', lab, undefined)),
      undefined,
    );
    const other = { ...lab, subject: { reference: 'Patient/p2' } };
    assert.equal(
      status(() => a.assertCanWrite('Observation', 'c', other, undefined)),
      403,
    );
    assert.equal(
      status(() => a.assertCanWrite('Observation', 'u', lab, other)),
      404,
    );
    assert.equal(
      status(() => a.assertCanWrite('Observation', 'd', undefined, other)),
      404,
    );
  });
});
