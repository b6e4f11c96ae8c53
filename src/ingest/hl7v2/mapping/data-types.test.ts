import assert from 'node:assert/strict';
import { parseMessage } from '../parse.js';
import { applyRows, type RowEnv } from './apply-rows.js';
import { convertDtm } from './date-time.js';
import { loadCatalog } from './load-mappings.js';
import { SegmentSource } from './source-value.js';

const catalog = loadCatalog();
const env = (timezone = 'UTC', messageOffset?: string): RowEnv => ({
  catalog,
  zone: { timezone, ...(messageOffset ? { messageOffset } : {}) },
});

/** Maps one field of a one-segment message through a data-type map or primitive. */
function mapField(segment: string, field: number, type: string, to = 'out', e: RowEnv = env()): unknown {
  const message = parseMessage(`MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\r${segment}`);
  const seg = message.all[1];
  if (!seg) throw new Error('no segment');
  const source = new SegmentSource(seg);
  return applyRows([{ from: String(field), to, type }], source, {}, { ...e, segment: source })[
    to.replace('[]', '')
  ];
}

describe('HL7 v2 data types to FHIR (IG data type maps)', () => {
  describe('DTM', () => {
    it('keeps the offset the value carries', () => {
      assert.equal(
        convertDtm('20150601135823+0100', 'dateTime', { timezone: 'UTC' }),
        '2015-06-01T13:58:23+01:00',
      );
    });
    it("takes MSH-7's offset when the value has none", () => {
      assert.equal(
        convertDtm('201506011358', 'dateTime', { timezone: 'UTC', messageOffset: '-0500' }),
        '2015-06-01T13:58:00-05:00',
      );
    });
    it('falls back to the configured zone, daylight saving included', () => {
      assert.equal(
        convertDtm('20150601135823', 'dateTime', { timezone: 'Europe/Berlin' }),
        '2015-06-01T13:58:23+02:00',
      );
      assert.equal(
        convertDtm('20150101135823', 'dateTime', { timezone: 'Europe/Berlin' }),
        '2015-01-01T13:58:23+01:00',
      );
      assert.equal(convertDtm('20150101135823', 'dateTime', { timezone: 'UTC' }), '2015-01-01T13:58:23Z');
    });
    it('keeps a date-only precision and truncates to a date', () => {
      assert.equal(convertDtm('201506', 'dateTime', { timezone: 'UTC' }), '2015-06');
      assert.equal(convertDtm('20150601135823', 'date', { timezone: 'UTC' }), '2015-06-01');
      assert.equal(convertDtm('20150601', 'instant', { timezone: 'UTC' }), '2015-06-01T00:00:00Z');
    });
    it('keeps fractions of a second', () => {
      assert.equal(
        convertDtm('20150601135823.123+0000', 'dateTime', { timezone: 'UTC' }),
        '2015-06-01T13:58:23.123Z',
      );
    });
    it('refuses what is not a date with 102', () => {
      assert.throws(() => convertDtm('2015-06-01', 'dateTime', { timezone: 'UTC' }), { code: 102 });
      assert.throws(() => convertDtm('20151301', 'dateTime', { timezone: 'UTC' }), { code: 102 });
      assert.throws(() => convertDtm('20150230', 'date', { timezone: 'UTC' }), { code: 102 });
    });
  });

  it('CX → Identifier: value, system from an ISO assigning authority, type, period', () => {
    assert.deepEqual(mapField('PID|1||1032702^^^V2FHIR&1.2.3.4.5&ISO^MR^^20190101^20290101', 3, 'CX'), {
      value: '1032702',
      system: 'urn:oid:1.2.3.4.5',
      assigner: { display: 'V2FHIR' },
      type: { coding: [{ code: 'MR', system: 'http://terminology.hl7.org/CodeSystem/v2-0203' }] },
      period: { start: '2019-01-01', end: '2029-01-01' },
    });
  });

  it('XPN → HumanName: family, given names, prefix, suffix, use', () => {
    assert.deepEqual(mapField('PID|1||1||Everywoman^Eve^L^Jr^Dr^^L', 5, 'XPN'), {
      family: 'Everywoman',
      given: ['Eve', 'L'],
      suffix: ['Jr'],
      prefix: ['Dr'],
      use: 'official',
    });
  });

  it('XAD → Address: lines, city, state, postal code, country, use', () => {
    assert.deepEqual(
      mapField('PID|1||1||||||||1000 House Lane^Appt 123^Ann Arbor^MI^99999^USA^H', 11, 'XAD'),
      {
        line: ['1000 House Lane', 'Appt 123'],
        city: 'Ann Arbor',
        state: 'MI',
        postalCode: '99999',
        country: 'USA',
        use: 'home',
      },
    );
  });

  it('XTN → ContactPoint: a phone assembled from its parts, an email, a v2.3 number', () => {
    assert.deepEqual(mapField('PID|1||1||||||||||^PRN^PH^^1^555^555-8473', 13, 'XTN'), {
      value: '+1 (555) 555-8473',
      use: 'home',
      system: 'phone',
    });
    assert.deepEqual(mapField('PID|1||1||||||||||^NET^Internet^eve@test.test', 13, 'XTN'), {
      value: 'eve@test.test',
      system: 'email',
    });
    assert.deepEqual(mapField('PID|1||1||||||||||(555)555-1212', 13, 'XTN'), {
      value: '(555)555-1212',
      system: 'phone',
    });
  });

  it('CWE → CodeableConcept: codings with systems from table 0396, and text', () => {
    assert.deepEqual(mapField('OBX|1|NM|8302-2^Body Height^LN^BH^Height^L|', 3, 'CWE'), {
      coding: [
        { code: '8302-2', display: 'Body Height', system: 'http://loinc.org' },
        { code: 'BH', display: 'Height', system: 'urn:ferry:hl7v2:coding-system:L' },
      ],
      text: 'Body Height',
    });
    assert.deepEqual(mapField('OBX|1|NM|F^Female^HL70001|', 3, 'CE'), {
      coding: [{ code: 'F', display: 'Female', system: 'http://terminology.hl7.org/CodeSystem/v2-0001' }],
      text: 'Female',
    });
  });

  it('EI → Identifier, HD → a reference by name, XCN → a logical reference, PL → a location by name', () => {
    assert.deepEqual(mapField('OBR|1|123^LAB^2.16.840.1^ISO', 2, 'EI'), {
      value: '123',
      system: 'urn:oid:2.16.840.1',
      assigner: { display: 'LAB' },
    });
    assert.deepEqual(mapField('MSA|AA|1|x|||SndFac^1.2.3^ISO', 6, 'HD'), { display: 'SndFac' });
    assert.deepEqual(
      mapField(
        `OBR${'|'.repeat(16)}214425290^Doctor^Emory^E^Sr^Dr^^^NPI&2.16.840.1.113883.4.6&ISO`,
        16,
        'XCN',
      ),
      {
        identifier: { value: '214425290', system: 'urn:oid:2.16.840.1.113883.4.6' },
        display: 'Dr Emory E Doctor Sr',
      },
    );
    assert.deepEqual(mapField('PV1|1|I|4E^401^B^HOSP', 3, 'PL'), { display: '4E 401 B HOSP' });
  });

  it('NM → decimal; 102 for what is not a number', () => {
    assert.equal(mapField('OBX|1|NM|X||+12.50', 5, 'NM'), 12.5);
    assert.throws(() => mapField('OBX|1|NM|X||12,5', 5, 'NM'), {
      code: 102,
      location: { segment: 'OBX', sequence: 2, field: 5, repetition: 1 },
    });
  });

  it('SN → Quantity with a comparator, Range, Ratio, or text (IG OBX-5 rows)', () => {
    assert.deepEqual(mapField('OBX|1|SN|X||<^10|mg/dL', 5, 'SN'), {
      choice: 'Quantity',
      value: { value: 10, comparator: '<' },
    });
    assert.deepEqual(mapField('OBX|1|SN|X||^1^:^128', 5, 'SN'), {
      choice: 'Ratio',
      value: { numerator: { value: 1 }, denominator: { value: 128 } },
    });
    assert.deepEqual(mapField('OBX|1|SN|X||^2^-^4', 5, 'SN'), {
      choice: 'Range',
      value: { low: { value: 2 }, high: { value: 4 } },
    });
    assert.deepEqual(mapField('OBX|1|SN|X||<>^3', 5, 'SN'), { choice: 'String', value: '<> 3' });
  });

  it('ST/TX/FT → string, with escapes resolved', () => {
    assert.equal(
      mapField('OBX|1|FT|X||line one\\.br\\line two \\T\\ more', 5, 'FT'),
      'line one\nline two & more',
    );
  });
});
