import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { readHttpMessages } from './http-framing.js';

const message = (id: string, msh18 = ''): string =>
  `MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501||ADT^A01|${id}|P|2.5.1||||||${msh18}\rPID|1||1||Müller^Anna\r`;

describe('HL7 v2 over HTTP framing', () => {
  it('reads several messages from one body', () => {
    const read = readHttpMessages(Buffer.from(message('1') + message('2')), 'application/hl7-v2');
    assert.ok(read.ok);
    assert.deepEqual(
      read.messages.map((m) => (m.parsed.ok ? m.parsed.message.controlId : '')),
      ['1', '2'],
    );
  });

  it('reads the messages of a batch', () => {
    const body = `BHS|^~\\&|LAB\r${message('1')}${message('2')}BTS|2\r`;
    const read = readHttpMessages(Buffer.from(body), 'x-application/hl7-v2+er7');
    assert.ok(read.ok);
    assert.equal(read.messages.length, 2);
    assert.deepEqual(read.problems, []);
  });

  it('lets the Content-Type charset win over MSH-18', () => {
    const read = readHttpMessages(Buffer.from(message('1', '8859/1'), 'utf8'), 'text/plain; charset=utf-8');
    assert.ok(read.ok);
    const first = read.messages[0]!;
    assert.ok(first.parsed.ok);
    assert.equal(first.parsed.message.get('PID-5.1'), 'Müller');
  });

  it('decodes by MSH-18 without a Content-Type charset', () => {
    const read = readHttpMessages(Buffer.from(message('1', '8859/1'), 'latin1'), 'application/hl7-v2');
    assert.ok(read.ok);
    const first = read.messages[0]!;
    assert.ok(first.parsed.ok);
    assert.equal(first.parsed.message.get('PID-5.1'), 'Müller');
  });

  it('marks every message failed with 103 when MSH-18 is unknown', () => {
    const read = readHttpMessages(Buffer.from(message('1', 'EBCDIC')), 'application/hl7-v2');
    assert.ok(read.ok);
    const first = read.messages[0]!;
    assert.ok(!first.parsed.ok);
    assert.equal(first.parsed.error.code, 103);
    assert.equal(first.parsed.header?.get('10'), '1');
  });

  it('refuses other media types with 415 and an empty body with 400', () => {
    assert.deepEqual(readHttpMessages(Buffer.from('x'), 'application/json').ok, false);
    const empty = readHttpMessages(Buffer.alloc(0), 'application/hl7-v2');
    assert.ok(!empty.ok);
    assert.equal(empty.status, 400);
  });
});
