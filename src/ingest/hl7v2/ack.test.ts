import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { acknowledge, buildAck, hl7Timestamp, rejectWith } from './ack.js';
import { parseMessage, tryParseMessage } from './parse.js';

const now = new Date('2026-05-01T12:34:56.789Z');
const options = { controlId: 'ACK123', now };
const original = (extra = ''): string =>
  `MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501120000||ORU^R01^ORU_R01|MSG0001|T|2.5.1${extra}\rPID|1||123`;
const segments = (ack: string | undefined): string[][] =>
  (ack ?? '')
    .split('\r')
    .filter((s) => s !== '')
    .map((s) => s.split('|'));

describe('HL7 v2 ACK', () => {
  it('builds an AA with swapped applications, a new control id and the original MSH-10', () => {
    const ack = acknowledge(parseMessage(original()).msh, { code: 'AA' }, options);
    assert.ok(ack?.endsWith('\r'));
    const [msh, msa, ...rest] = segments(ack);
    assert.deepEqual(msh, [
      'MSH',
      '^~\\&',
      'FERRY',
      'CLINIC',
      'LAB',
      'ACME',
      '20260501123456.789+0000',
      '',
      'ACK^R01^ACK',
      'ACK123',
      'T',
      '2.5.1',
    ]);
    assert.deepEqual(msa, ['MSA', 'AA', 'MSG0001']);
    assert.deepEqual(rest, []);
  });

  it('adds an ERR with location, table 0357 code and severity on AE', () => {
    const ack = acknowledge(
      parseMessage(original()).msh,
      {
        code: 'AE',
        issues: [
          {
            code: 102,
            text: 'not a date',
            location: { segment: 'PID', sequence: 2, field: 7, repetition: 1, component: 1 },
          },
        ],
      },
      options,
    );
    const [, msa, err] = segments(ack);
    assert.deepEqual(msa, ['MSA', 'AE', 'MSG0001', 'not a date']);
    assert.equal(err![0], 'ERR');
    assert.equal(err![1], '');
    assert.equal(err![2], 'PID^2^7^1^1');
    assert.equal(err![3], '102^Data type error^HL70357');
    assert.equal(err![4], 'E');
    assert.equal(err![8], 'PID[2]-7[1].1: not a date');
  });

  it('answers an unparseable message AR with the parser error', () => {
    const result = tryParseMessage('MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501||ADT^A01||P|2.5.1');
    assert.ok(!result.ok);
    const ack = acknowledge(result.header, rejectWith(result.error), options);
    const [msh, msa, err] = segments(ack);
    assert.equal(msh![8], 'ACK^A01^ACK');
    assert.deepEqual(msa!.slice(0, 3), ['MSA', 'AR', '']);
    assert.equal(err![2], 'MSH^1^10');
    assert.equal(err![3], '101^Required field missing^HL70357');
  });

  it('answers a message whose MSH cannot be read with a minimal MSH and AR', () => {
    const result = tryParseMessage('garbage');
    assert.ok(!result.ok);
    const [msh, msa, err] = segments(acknowledge(result.header, rejectWith(result.error), options));
    assert.deepEqual(msh!.slice(0, 4), ['MSH', '^~\\&', 'Ferry', '']);
    assert.equal(msh![8], 'ACK');
    assert.equal(msh![11], '2.5.1');
    assert.deepEqual(msa!.slice(0, 3), ['MSA', 'AR', '']);
    assert.equal(err![3], '100^Segment sequence error^HL70357');
  });

  it('uses the ERR-1 layout before v2.5', () => {
    const old = parseMessage('MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501||ADT^A01|9|P|2.3');
    const [, , err] = segments(
      acknowledge(
        old.msh,
        { code: 'AR', issues: [{ code: 200, location: { segment: 'MSH', sequence: 1, field: 9 } }] },
        options,
      ),
    );
    assert.equal(err![1], 'MSH^1^9^200&Unsupported message type&HL70357');
  });

  it('escapes delimiters in its texts', () => {
    const ack = acknowledge(parseMessage(original()).msh, { code: 'AE', text: 'a|b^c' }, options);
    assert.equal(segments(ack)[1]![3], 'a\\F\\b\\S\\c');
  });

  it('keeps the original delimiters and MSH-18', () => {
    const message = parseMessage('MSH#$*@!#LAB#ACME#FERRY#CLINIC#20240501##ADT$A01#7#P#2.5######8859/1');
    const ack = acknowledge(message.msh, { code: 'AA' }, options);
    assert.match(
      ack ?? '',
      /^MSH#\$\*@!#FERRY#CLINIC#LAB#ACME#.*#ACK\$A01\$ACK#ACK123#P#2\.5######8859\/1\rMSA#AA#7\r$/,
    );
  });

  describe('enhanced mode', () => {
    const msh = (accept: string, application: string) =>
      parseMessage(original(`|||${accept}|${application}`)).msh;
    const code = (ack: string | undefined): string | undefined => (ack ? segments(ack)[1]![1] : undefined);

    it('sends the application ACK when MSH-16 is AL', () => {
      assert.equal(code(acknowledge(msh('AL', 'AL'), { code: 'AA' }, options)), 'AA');
      assert.equal(code(acknowledge(msh('NE', 'AL'), { code: 'AE' }, options)), 'AE');
    });

    it('sends an accept ACK CA/CE/CR when only MSH-15 asks for one', () => {
      assert.equal(code(acknowledge(msh('AL', 'NE'), { code: 'AA' }, options)), 'CA');
      assert.equal(code(acknowledge(msh('AL', 'NE'), { code: 'AE' }, options)), 'CE');
      assert.equal(code(acknowledge(msh('AL', 'NE'), { code: 'AR' }, options)), 'CR');
    });

    it('follows ER and SU conditions', () => {
      assert.equal(code(acknowledge(msh('NE', 'ER'), { code: 'AA' }, options)), undefined);
      assert.equal(code(acknowledge(msh('NE', 'ER'), { code: 'AR' }, options)), 'AR');
      assert.equal(code(acknowledge(msh('SU', 'NE'), { code: 'AA' }, options)), 'CA');
      assert.equal(code(acknowledge(msh('SU', 'NE'), { code: 'AE' }, options)), undefined);
    });

    it('sends nothing when both say NE', () => {
      assert.equal(acknowledge(msh('NE', 'NE'), { code: 'AA' }, options), undefined);
    });
  });

  it('formats MSH-7 in UTC with milliseconds', () => {
    assert.equal(hl7Timestamp(now), '20260501123456.789+0000');
  });

  it('can be built with an explicit MSA-1', () => {
    assert.match(buildAck(undefined, 'CA', { code: 'AA' }, options), /\rMSA\|CA\r$/);
  });
});
