import assert from 'node:assert/strict';
import { etag, isValidId, newId, parseETag } from './ids.js';

describe('ids and ETags', () => {
  it('accepts R4 ids and refuses others', () => {
    assert.ok(isValidId('a-1.B'));
    assert.ok(isValidId(newId()));
    assert.ok(!isValidId(''));
    assert.ok(!isValidId('a'.repeat(65)));
    assert.ok(!isValidId('a_b'));
  });

  it('makes time-ordered UUIDs (version 7), each after the one before', () => {
    const ids = Array.from({ length: 10_000 }, () => newId());
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} ≥ ${ids[i]}`);
    const ms = parseInt(ids[0]!.replace('-', '').slice(0, 12), 16);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, 'the first 48 bits are the time in milliseconds');
  });

  it('reads weak, strong and bare version ETags', () => {
    assert.equal(etag(3), 'W/"3"');
    assert.equal(parseETag('W/"3"'), 3);
    assert.equal(parseETag('"12"'), 12);
    assert.equal(parseETag('7'), 7);
    assert.equal(parseETag('W/"abc"'), undefined);
  });
});
