import assert from 'node:assert/strict';
import { matchesFixed, matchesPattern } from './match-value.js';

describe('fixed[x] and pattern[x] matching', () => {
  const loinc = { coding: [{ system: 'http://loinc.org', code: '85354-9' }] };

  it('matches a pattern contained in a richer value', () => {
    const value = {
      coding: [
        { system: 'http://x', code: 'a' },
        { ...loinc.coding[0], display: 'BP' },
      ],
      text: 'BP',
    };
    assert.ok(matchesPattern(loinc, value));
  });

  it('does not match a pattern whose code differs', () => {
    assert.ok(!matchesPattern(loinc, { coding: [{ system: 'http://loinc.org', code: '718-7' }] }));
  });

  it('requires a fixed value to match exactly, with nothing extra', () => {
    assert.ok(matchesFixed(loinc, structuredClone(loinc)));
    assert.ok(!matchesFixed(loinc, { coding: [{ ...loinc.coding[0], display: 'BP' }] }));
    assert.ok(matchesFixed('http://unitsofmeasure.org', 'http://unitsofmeasure.org'));
    assert.ok(!matchesFixed('mm[Hg]', 'mmHg'));
  });
});
