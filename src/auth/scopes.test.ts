import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { coversType, grantScopes, parseScope, splitScopes } from './scopes.js';

const perms = (text: string): string => [...(parseScope(text)?.permissions ?? [])].join('');

describe('SMART scopes', () => {
  it('reads v1 scopes as their v2 permissions', () => {
    assert.equal(perms('system/Observation.read'), 'rs');
    assert.equal(perms('user/*.write'), 'cud');
    assert.equal(perms('patient/*.*'), 'cruds');
  });

  it('reads v2 permission letters only in the order c r u d s', () => {
    assert.equal(perms('system/Observation.rs'), 'rs');
    assert.equal(perms('patient/Patient.cruds'), 'cruds');
    assert.equal(parseScope('system/Observation.sr'), undefined);
    assert.equal(parseScope('system/Observation.rr'), undefined);
    assert.equal(parseScope('system/Observation.x'), undefined);
    assert.equal(parseScope('system/Observation.'), undefined);
  });

  it('keeps the search parameters of a granular v2 scope, and refuses them on v1', () => {
    const scope = parseScope('patient/Observation.rs?category=laboratory&status=final');
    assert.deepEqual(scope?.params, [
      ['category', 'laboratory'],
      ['status', 'final'],
    ]);
    assert.equal(parseScope('patient/Observation.read?category=laboratory'), undefined);
    assert.equal(parseScope('patient/Observation.rs?category='), undefined);
  });

  it('is not a clinical scope when the context or shape is something else', () => {
    assert.equal(parseScope('openid'), undefined);
    assert.equal(parseScope('launch/patient'), undefined);
    assert.equal(parseScope('admin/Observation.rs'), undefined);
  });

  it('never lets * cover AuditEvent', () => {
    assert.equal(coversType('*', 'Observation'), true);
    assert.equal(coversType('*', 'AuditEvent'), false);
    assert.equal(coversType('AuditEvent', 'AuditEvent'), true);
  });

  it('splits a scope parameter on whitespace without repeats', () => {
    assert.deepEqual(splitScopes(' system/A.rs  system/A.rs\tsystem/B.c '), ['system/A.rs', 'system/B.c']);
    assert.deepEqual(splitScopes(undefined), []);
  });

  describe('granting (requested ∩ registered)', () => {
    it('grants a requested scope the registration covers, as written', () => {
      assert.deepEqual(grantScopes(['system/Observation.rs'], ['system/*.read']), ['system/Observation.rs']);
    });

    it('narrows a requested scope to what is registered', () => {
      assert.deepEqual(grantScopes(['system/*.cruds'], ['system/Observation.rs']), ['system/Observation.rs']);
      assert.deepEqual(grantScopes(['system/Observation.*'], ['system/Observation.rs']), [
        'system/Observation.rs',
      ]);
    });

    it('refuses what is not registered at all: no escalation', () => {
      assert.deepEqual(grantScopes(['system/Patient.rs'], ['system/Observation.rs']), []);
      assert.deepEqual(grantScopes(['system/Observation.c'], ['system/Observation.rs']), []);
      assert.deepEqual(grantScopes(['user/Observation.rs'], ['system/Observation.rs']), []);
      assert.deepEqual(grantScopes(['system/AuditEvent.rs'], ['system/*.cruds']), []);
    });

    it('keeps the registered search parameters on a narrowed scope', () => {
      assert.deepEqual(
        grantScopes(['system/Observation.rs'], ['system/Observation.rs?category=laboratory']),
        ['system/Observation.rs?category=laboratory'],
      );
    });

    it('grants scopes that are not about clinical data only when registered exactly', () => {
      assert.deepEqual(grantScopes(['openid', 'system/Patient.rs'], ['system/*.rs']), ['system/Patient.rs']);
      assert.deepEqual(grantScopes(['offline_access'], ['offline_access']), ['offline_access']);
    });
  });
});
