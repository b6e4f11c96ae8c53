import assert from 'node:assert/strict';
import { isValidCalendarDate } from './calendar.js';

describe('isValidCalendarDate', () => {
  it('knows month lengths and leap years', () => {
    assert.ok(isValidCalendarDate('2024-02-29'));
    assert.ok(isValidCalendarDate('2000-02-29T10:00:00Z'));
    assert.ok(!isValidCalendarDate('2023-02-29'));
    assert.ok(!isValidCalendarDate('1900-02-29'));
    assert.ok(!isValidCalendarDate('2023-04-31'));
    assert.ok(isValidCalendarDate('2023-12-31'));
  });

  it('leaves partial dates and malformed months to the pattern', () => {
    assert.ok(isValidCalendarDate('2023'));
    assert.ok(isValidCalendarDate('2023-02'));
    assert.ok(isValidCalendarDate('2023-13-01'));
  });
});
