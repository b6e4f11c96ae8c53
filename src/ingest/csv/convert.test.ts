import assert from 'node:assert/strict';
import { applyTransforms, CellError, convertCell, parseDate, parseDecimal, parseUnit } from './convert.js';

const base = { timezone: 'UTC', decimalComma: false };

describe('CSV cell conversion', () => {
  it('cleans text with transforms in order', () => {
    assert.equal(applyTransforms('  anna   MARIA ', ['collapse', 'title']), 'Anna Maria');
    assert.equal(applyTransforms("o'brien-smith", ['title']), "O'Brien-Smith");
    assert.equal(applyTransforms(' x ', ['trim', 'upper']), 'X');
    assert.equal(applyTransforms('+49 (30) 123-45', ['digits']), '493012345');
  });

  it('reads dates by explicit formats, the first that fits', () => {
    assert.equal(parseDate('12/04/1968', ['DD/MM/YYYY'], 'date', 'UTC'), '1968-04-12');
    assert.equal(parseDate('19680412', ['YYYY-MM-DD', 'YYYYMMDD'], 'date', 'UTC'), '1968-04-12');
    assert.equal(parseDate('1968-04-12', ['%Y-%m-%d'], 'date', 'UTC'), '1968-04-12');
    assert.equal(parseDate('1968-04', ['ISO'], 'date', 'UTC'), '1968-04');
  });

  it('gives a date/time without an offset the offset of the zone at that moment', () => {
    // Berlin is UTC+1 in winter and UTC+2 in summer
    assert.equal(
      parseDate('2026-01-15 08:30', ['YYYY-MM-DD HH:mm'], 'dateTime', 'Europe/Berlin'),
      '2026-01-15T08:30:00+01:00',
    );
    assert.equal(
      parseDate('2026-07-15 08:30', ['YYYY-MM-DD HH:mm'], 'dateTime', 'Europe/Berlin'),
      '2026-07-15T08:30:00+02:00',
    );
    assert.equal(
      parseDate('2026-07-15T08:30:00Z', ['ISO'], 'dateTime', 'Europe/Berlin'),
      '2026-07-15T08:30:00Z',
    );
    assert.equal(parseDate('2026-07-15', ['ISO'], 'dateTime', 'Europe/Berlin'), '2026-07-15');
    assert.equal(parseDate('2026-07-15', ['ISO'], 'instant', 'UTC'), '2026-07-15T00:00:00Z');
    assert.equal(
      parseDate('15.07.2026 08:30:05 -0500', ['DD.MM.YYYY HH:mm:ss Z'], 'instant', 'UTC'),
      '2026-07-15T08:30:05-05:00',
    );
  });

  it('refuses dates that do not exist or do not match', () => {
    assert.throws(() => parseDate('31/02/2001', ['DD/MM/YYYY'], 'date', 'UTC'), /not a calendar date/);
    assert.throws(() => parseDate('2001-13-01', ['ISO'], 'date', 'UTC'), /no month 13/);
    assert.throws(
      () => parseDate('yesterday', ['DD/MM/YYYY', 'ISO'], 'date', 'UTC'),
      /does not match the date format DD\/MM\/YYYY or ISO/,
    );
    assert.throws(
      () => parseDate('2026-01-01 25:00', ['YYYY-MM-DD HH:mm'], 'dateTime', 'UTC'),
      /not a time of day/,
    );
  });

  it('reads numbers with a decimal point, or a decimal comma when the file says so', () => {
    assert.equal(parseDecimal('3.5', false), 3.5);
    assert.equal(parseDecimal('-0.25', false), -0.25);
    assert.equal(parseDecimal('3,5', true), 3.5);
    assert.equal(parseDecimal('1.234,5', true), 1234.5);
    assert.throws(() => parseDecimal('3,5', false), CellError);
    assert.throws(() => parseDecimal('positive', false), /'positive' is not a number/);
  });

  it('converts integers, booleans, codes and times, refusing what does not fit', () => {
    assert.equal(convertCell('42', { ...base, type: 'integer' }), 42);
    assert.throws(() => convertCell('4.2', { ...base, type: 'integer' }), /not a whole number/);
    assert.equal(convertCell('Yes', { ...base, type: 'boolean' }), true);
    assert.equal(convertCell('0', { ...base, type: 'boolean' }), false);
    assert.throws(() => convertCell('maybe', { ...base, type: 'boolean' }), /not true\/false/);
    assert.equal(convertCell('0830', { ...base, type: 'time' }), '08:30:00');
    assert.throws(() => convertCell('ab  c', { ...base, type: 'code' }), /not a code/);
  });

  it('gives units their UCUM code when they are UCUM or map to it', () => {
    assert.deepEqual(parseUnit('mg/dL', undefined), {
      unit: 'mg/dL',
      system: 'http://unitsofmeasure.org',
      code: 'mg/dL',
    });
    assert.deepEqual(parseUnit('K/uL', new Map([['K/uL', { target: '10*3/uL' }]])), {
      unit: 'K/uL',
      system: 'http://unitsofmeasure.org',
      code: '10*3/uL',
    });
    assert.deepEqual(parseUnit('bananas', undefined), { unit: 'bananas' });
  });
});
