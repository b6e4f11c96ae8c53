import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { splitMessages } from './batch.js';

const message = (id: string): string => `MSH|^~\\&|A|B|C|D|20240101||ADT^A01|${id}|P|2.5\nPID|1||${id}`;

describe('HL7 v2 batch splitting', () => {
  it('splits messages that follow one another', () => {
    const split = splitMessages(`${message('1')}\n${message('2')}\n`);
    assert.equal(split.messages.length, 2);
    assert.equal(split.batch, false);
    assert.match(split.messages[1]!, /^MSH.*\|2\|P\|2\.5\rPID\|1\|\|2$/);
  });

  it('takes the envelope off a batch file whose counts match', () => {
    const text = ['FHS|^~\\&|A', 'BHS|^~\\&|A', message('1'), message('2'), 'BTS|2', 'FTS|1'].join('\r');
    const split = splitMessages(text);
    assert.equal(split.batch, true);
    assert.equal(split.messages.length, 2);
    assert.deepEqual(split.problems, []);
  });

  it('reports a BTS-1 count that does not match, and still returns the messages', () => {
    const text = ['BHS|^~\\&|A', message('1'), 'BTS|3'].join('\r');
    const split = splitMessages(text);
    assert.equal(split.messages.length, 1);
    assert.equal(split.problems.length, 1);
    assert.equal(split.problems[0]!.code, 100);
    assert.deepEqual(split.problems[0]!.location, { segment: 'BTS', sequence: 4, field: 1 });
  });

  it('reports an FTS-1 count that does not match', () => {
    const text = ['FHS|^~\\&|A', 'BHS|^~\\&|A', message('1'), 'BTS|1', 'FTS|2'].join('\r');
    assert.match(splitMessages(text).problems[0]!.message, /FTS-1 says 2 batches, found 1/);
  });

  it('reports segments before the first MSH', () => {
    assert.equal(splitMessages(`PID|1\r${message('1')}`).problems[0]!.location.segment, 'PID');
  });
});
