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

  it('reads weak, strong and bare version ETags', () => {
    assert.equal(etag(3), 'W/"3"');
    assert.equal(parseETag('W/"3"'), 3);
    assert.equal(parseETag('"12"'), 12);
    assert.equal(parseETag('7'), 7);
    assert.equal(parseETag('W/"abc"'), undefined);
  });
});
