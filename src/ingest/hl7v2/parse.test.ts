import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'mocha';
import { acknowledge, rejectWith } from './ack.js';
import { decodeHl7 } from './charset.js';
import { Hl7Error } from './hl7-error.js';
import { parseMessage, tryParseMessage } from './parse.js';

const root = new URL('../../../test/fixtures/hl7v2/', import.meta.url);
const fixture = (path: string): Buffer => readFileSync(new URL(path, root));
const fixtureText = (path: string): string => decodeHl7(fixture(path)).text;
const allFixtures = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(new URL(`${d.name}/input/`, root)).map((f) => `${d.name}/input/${f}`));

const oru = [
  'MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501120000||ORU^R01^ORU_R01|MSG0001|P|2.5.1',
  'PID|1||123^^^ACME^MR~456^^^SSA^SS||Müller^Anna^B||19800101|F',
  'OBR|1||ORD1|24331-1^Lipid panel^LN',
  'OBX|1|NM|2093-3^Cholesterol^LN||196|mg/dL|<200|N|||F',
  'NTE|1||fasting',
  'OBX|2|ST|NOTE^Comment^L||A\\T\\E \\F\\ \\S\\ \\R\\ \\E\\ line\\.br\\two \\H\\bold\\N\\ caf\\XC3A9\\ \\.sp2\\x||||||F',
  'OBR|2||ORD2|1234-5^Other^LN',
  'OBX|1|ST|X^Y^L||""||||||F',
  'ZFE|1|custom^value&sub',
].join('\r');

describe('HL7 v2 parser', () => {
  it('parses every sample message except the two with a malformed MSH-2', () => {
    const failed: string[] = [];
    for (const path of allFixtures) {
      const result = tryParseMessage(fixtureText(path));
      if (!result.ok) failed.push(path);
      else assert.equal(result.message.msh.name, 'MSH', path);
    }
    assert.deepEqual(failed.sort(), [
      'linuxforhealth-hl7v2-fhir-converter/input/sample_unix.hl7',
      'linuxforhealth-hl7v2-fhir-converter/input/sample_win.hl7',
    ]);
  });

  it('rejects MSH-2 "^~\\\\&" with 102 at MSH-2, keeping the header readable for the ACK', () => {
    for (const name of ['sample_unix.hl7', 'sample_win.hl7']) {
      const result = tryParseMessage(fixtureText(`linuxforhealth-hl7v2-fhir-converter/input/${name}`));
      assert.ok(!result.ok);
      assert.equal(result.error.code, 102);
      assert.deepEqual(result.error.location, { segment: 'MSH', sequence: 1, field: 2 });
      const header = result.header;
      assert.ok(header);
      assert.equal(header.get('10'), '102');
      assert.equal(header.get('3'), 'SE050');
    }
  });

  it('drops a leading BOM and splits LF-terminated segments', () => {
    const bytes = fixture('microsoft-fhir-converter/input/ADT01-23.hl7');
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const message = parseMessage(bytes.toString('utf8'));
    assert.equal(message.type.code, 'ADT');
    assert.equal(message.get('PID-5.1'), 'DUCK');
    assert.equal(message.get('PID-3.1'), '10006579');
    assert.ok(message.all.length > 5);
  });

  it('splits CRLF-terminated segments', () => {
    const message = parseMessage(fixtureText('hl7-v2-to-fhir-ig/input/Message.hl7_MDM_T02.txt'));
    assert.deepEqual(message.type, { code: 'MDM', trigger: 'T02', structure: 'MDM_T02' });
    assert.ok(
      message.all.every((s) => !s.name.includes('\n') && !(s.field(s.fieldCount) ?? '').endsWith('\r')),
    );
  });

  it('reads the v2.7 truncation character as a fifth encoding character', () => {
    const message = parseMessage(fixtureText('hl7-v2-to-fhir-ig/input/test_conversions-ORU_R01.hl7'));
    assert.equal(message.encoding.truncation, '#');
    assert.equal(message.get('MSH-2'), '^~\\&#');
    assert.equal(message.get('MSH-3.1'), 'LabApp');
  });

  it('keeps a mis-encoded character of a sample as found', () => {
    const message = parseMessage(fixtureText('hl7-v2-to-fhir-ig/input/test_conversions-ORM_O01.hl7'));
    assert.match(message.get('IN1-10') ?? '', /workman\uFFFDs comp/);
  });

  it('decodes the escape sequence A\\T\\E of a sample', () => {
    const message = parseMessage(fixtureText('microsoft-fhir-converter/input/ORU-R01-01.hl7'));
    assert.equal(message.getRaw('PV1-14'), 'NHS Provider-General (inc.A\\T\\E-this Hosp)');
    assert.equal(message.get('PV1-14'), 'NHS Provider-General (inc.A&E-this Hosp)');
  });

  it('numbers MSH fields as the standard does', () => {
    const message = parseMessage(oru);
    assert.equal(message.get('MSH-1'), '|');
    assert.equal(message.get('MSH-2'), '^~\\&');
    assert.equal(message.get('MSH-3'), 'LAB');
    assert.equal(message.get('MSH-9.2'), 'R01');
    assert.equal(message.controlId, 'MSG0001');
    assert.equal(message.version, '2.5.1');
  });

  it('addresses repetitions, components and sub-components by path', () => {
    const message = parseMessage(oru);
    assert.equal(message.get('PID-3[2].1'), '456');
    assert.equal(message.get('PID-3[2].5'), 'SS');
    assert.equal(message.get('PID-3.4'), 'ACME');
    assert.equal(message.get('PID-5.1'), 'Müller');
    assert.equal(message.get('PID-3[3].1'), undefined);
    assert.equal(message.get('ZFE-2.2.2'), 'sub');
    assert.equal(message.get('OBX[2]-1'), '2');
    assert.equal(message.segment('PID')?.repetitions(3).length, 2);
    assert.deepEqual(message.segment('PID')?.components(5), ['Müller', 'Anna', 'B']);
  });

  it('decodes escapes: delimiters, line breaks, UTF-8 hex and dropped formatting', () => {
    const message = parseMessage(oru);
    assert.equal(message.get('OBX[2]-5'), 'A&E | ^ ~ \\ line\ntwo bold café x');
    assert.match(message.getRaw('OBX[2]-5') ?? '', /\\XC3A9\\/);
  });

  it('returns null for the HL7 null "" and undefined for an absent value', () => {
    const message = parseMessage(oru);
    assert.equal(message.get('OBX[3]-5'), null);
    assert.equal(message.get('OBX[3]-6'), undefined);
    assert.equal(message.get('OBX[9]-5'), undefined);
  });

  it('keeps Z-segments, addressable like any other', () => {
    const message = parseMessage(oru);
    assert.equal(message.segments('ZFE').length, 1);
    assert.equal(message.get('ZFE-2.1'), 'custom');
    assert.equal(message.segment('ZFE')?.sequence, 9);
  });

  it('lists segments by id and splits observation groups in order', () => {
    const message = parseMessage(oru);
    assert.deepEqual(
      message.segments('OBX').map((s) => s.sequence),
      [4, 6, 8],
    );
    const groups = message.groups('OBR', ['OBX', 'NTE']);
    assert.deepEqual(
      groups.map((g) => g.map((s) => s.name)),
      [
        ['OBR', 'OBX', 'NTE', 'OBX'],
        ['OBR', 'OBX'],
      ],
    );
  });

  it('reports a message without MSH as a segment sequence error', () => {
    assert.throws(
      () => parseMessage('PID|1||123'),
      (e: Hl7Error) => e.code === 100 && e.location.sequence === 1,
    );
  });

  it('reports a missing MSH-10 as 101 at MSH-10', () => {
    assert.throws(
      () => parseMessage('MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5'),
      (e: Hl7Error) => e.code === 101 && e.location.field === 10,
    );
  });

  it('reports a version that is not 2.x as 203 at MSH-12', () => {
    assert.throws(
      () => parseMessage('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|3.0'),
      (e: Hl7Error) => e.code === 203 && e.location.field === 12,
    );
  });

  it('reports a malformed segment id with its sequence', () => {
    assert.throws(
      () => parseMessage('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPI|1'),
      (e: Hl7Error) => e.code === 100 && e.location.sequence === 2,
    );
  });

  it('refuses a second MSH in one message', () => {
    const one = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5';
    assert.throws(
      () => parseMessage(`${one}\r${one}`),
      (e: Hl7Error) => e.code === 100 && e.location.sequence === 2,
    );
  });

  it('never fails other than with an Hl7Error on mangled input, and can always be acknowledged', () => {
    const alphabet = '|^~\\&#\r\nMSHPIDOBX0123456789 \uFEFFé';
    for (let i = 0; i < 3000; i++) {
      const chars = Array.from(oru);
      for (let k = 0; k < 1 + (i % 20); k++) {
        const at = Math.floor(Math.random() * chars.length);
        chars[at] = alphabet.charAt(Math.floor(Math.random() * alphabet.length));
      }
      const text =
        i % 10 === 0 ? chars.slice(Math.floor(Math.random() * chars.length)).join('') : chars.join('');
      const result = tryParseMessage(text);
      const header = result.ok ? result.message.msh : result.header;
      const ack = acknowledge(header, result.ok ? { code: 'AA' } : rejectWith(result.error), {
        controlId: 'X',
        now: new Date(),
      });
      assert.match(ack ?? 'MSH', /^MSH/);
      if (result.ok)
        for (const s of result.message.all) for (let f = 1; f <= s.fieldCount; f++) s.get(`${f}.1.1`);
    }
  });

  it('refuses a path that is not an HL7 path', () => {
    assert.throws(() => parseMessage(oru).get('PID.3'), Hl7Error);
  });
});
