import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { declaredCharset, decodeHl7 } from './charset.js';
import { Hl7Error } from './hl7-error.js';

const msh = (msh18: string): string =>
  `MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||${msh18}\rPID|1||1||`;
const bytes = (text: string, encoding: BufferEncoding): Buffer => Buffer.from(text, encoding);

describe('HL7 v2 charset', () => {
  it('reads MSH-18 from the raw bytes, first repetition only', () => {
    assert.equal(declaredCharset(bytes(msh('8859/1~UNICODE UTF-8'), 'latin1')), '8859/1');
    assert.equal(declaredCharset(bytes(msh(''), 'latin1')), undefined);
  });

  it('decodes 8859/1 bytes as latin1', () => {
    const decoded = decodeHl7(bytes(`${msh('8859/1')}Müller`, 'latin1'));
    assert.equal(decoded.charset, 'latin1');
    assert.match(decoded.text, /Müller$/);
  });

  it('decodes UNICODE UTF-8 bytes as UTF-8', () => {
    const decoded = decodeHl7(bytes(`${msh('UNICODE UTF-8')}Müller`, 'utf8'));
    assert.equal(decoded.charset, 'utf-8');
    assert.match(decoded.text, /Müller$/);
  });

  it('without MSH-18 reads valid UTF-8 as UTF-8', () => {
    assert.equal(decodeHl7(bytes(`${msh('')}Müller`, 'utf8')).charset, 'utf-8');
  });

  it('without MSH-18 falls back to latin1 when the bytes are not UTF-8', () => {
    const decoded = decodeHl7(bytes(`${msh('')}Müller`, 'latin1'));
    assert.equal(decoded.charset, 'latin1');
    assert.match(decoded.text, /Müller$/);
  });

  it('treats ASCII like an empty MSH-18', () => {
    assert.equal(decodeHl7(bytes(`${msh('ASCII')}Müller`, 'latin1')).charset, 'latin1');
    assert.equal(decodeHl7(bytes(`${msh('ASCII')}Muller`, 'latin1')).charset, 'utf-8');
  });

  it('lets a transport charset win over MSH-18', () => {
    const decoded = decodeHl7(bytes(`${msh('8859/1')}Müller`, 'utf8'), 'utf-8');
    assert.match(decoded.text, /Müller$/);
  });

  it('refuses an unknown MSH-18 with 103 at MSH-18', () => {
    assert.throws(
      () => decodeHl7(bytes(msh('KLINGON'), 'latin1')),
      (e: Hl7Error) => e.code === 103 && e.location.field === 18 && /KLINGON/.test(e.message),
    );
  });

  it('reads MSH-18 after a byte-order mark', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(msh('8859/1'), 'latin1')]);
    assert.equal(declaredCharset(withBom), '8859/1');
  });
});
