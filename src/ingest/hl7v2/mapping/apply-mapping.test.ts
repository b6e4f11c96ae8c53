import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Encounter, FhirResource, Patient } from 'fhir/r4.js';
import { parseMessage } from '../parse.js';
import { applyMapping } from './apply-mapping.js';
import { defaultMappingDir, loadCatalog, MappingFileError } from './load-mappings.js';

/** A segment from its non-empty fields by number. */
const seg = (name: string, fields: Record<number, string>): string => {
  const last = Math.max(...Object.keys(fields).map(Number));
  return [name, ...Array.from({ length: last }, (_, i) => fields[i + 1] ?? '')].join('|');
};

const adt = (event: string, control: string, extra: string[] = []): string =>
  [
    `MSH|^~\\&|ADT|HOSP|FERRY|HOSP|20240305101500||ADT^${event}|${control}|P|2.5.1`,
    `EVN|${event}|20240305101500`,
    'PID|1||777^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||Roe^Richard^^^Mr||19700101|M|||2 Elm St^^Springfield^IL^62702^USA^H||^PRN^PH^^1^217^5550100',
    'NK1|1|Roe^Rita|SPO^Spouse^HL70063',
    seg('PV1', {
      1: '1',
      2: 'I',
      3: '4E^401^B^HOSP',
      7: '1234^Welby^Marcus',
      10: 'MED',
      19: 'V200^^^HOSP&2.16.840.1.113883.19.5&ISO^VN',
      44: '20240305090000',
    }),
    'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives',
    ...extra,
  ].join('\r');

const resources = (text: string, catalog = loadCatalog()): FhirResource[] =>
  (applyMapping(catalog, parseMessage(text), { timezone: 'America/Chicago' }).bundle.entry ?? []).map(
    (e) => e.resource as FhirResource,
  );

describe('applyMapping: messages to transaction Bundles', () => {
  it('makes an ADT^A01 into Patient, Encounter, RelatedPerson and AllergyIntolerance, conditional on their identities', () => {
    const result = applyMapping(loadCatalog(), parseMessage(adt('A01', 'A1')), {
      timezone: 'America/Chicago',
    });
    const entries = result.bundle.entry ?? [];
    assert.deepEqual(
      entries.map((e) => `${e.request?.method ?? ''} ${e.request?.url.split('?')[0] ?? ''}`),
      ['PUT Patient', 'PUT Encounter', 'PUT RelatedPerson', 'PUT AllergyIntolerance'],
    );
    assert.equal(entries[0]?.request?.url, 'Patient?identifier=urn%3Aoid%3A2.16.840.1.113883.19.5%7C777');
    const encounter = entries[1]?.resource as Encounter;
    assert.equal(encounter.class.code, 'IMP');
    assert.equal(encounter.status, 'in-progress');
    assert.equal(
      encounter.period?.start,
      '2024-03-05T09:00:00-06:00',
      'the configured zone (no offset in MSH-7)',
    );
    assert.equal(encounter.subject?.reference, entries[0].fullUrl);
    assert.equal(encounter.participant?.[0]?.individual?.display, 'Marcus Welby');
    assert.equal(entries[3]?.resource?.resourceType, 'AllergyIntolerance');
    assert.deepEqual(entries[3].resource, {
      resourceType: 'AllergyIntolerance',
      clinicalStatus: {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' },
        ],
      },
      category: ['medication'],
      code: {
        coding: [
          { code: '70618', display: 'Penicillin', system: 'http://www.nlm.nih.gov/research/umls/rxnorm' },
        ],
        text: 'Penicillin',
      },
      criticality: 'high',
      reaction: [{ manifestation: [{ text: 'Hives' }] }],
      identifier: [{ system: 'urn:ferry:hl7v2:allergy', value: 'HOSP/777/70618' }],
      patient: { reference: entries[0].fullUrl },
      encounter: { reference: entries[1]?.fullUrl },
    });
  });

  it('makes the same Bundle of the same message, and the same identities from another message', () => {
    const a = applyMapping(loadCatalog(), parseMessage(adt('A01', 'A1')), { timezone: 'UTC' });
    const b = applyMapping(loadCatalog(), parseMessage(adt('A01', 'A1')), { timezone: 'UTC' });
    const c = applyMapping(loadCatalog(), parseMessage(adt('A08', 'A2')), { timezone: 'UTC' });
    assert.deepEqual(a.bundle, b.bundle);
    assert.deepEqual(
      a.bundle.entry?.map((e) => e.request?.url),
      c.bundle.entry?.map((e) => e.request?.url),
    );
  });

  it('finishes the encounter on A03 and makes only the person on A28/A31', () => {
    const a03 = resources(adt('A03', 'A3'));
    assert.equal((a03.find((r) => r.resourceType === 'Encounter') as Encounter).status, 'finished');
    for (const event of ['A28', 'A31'])
      assert.deepEqual(
        resources(adt(event, event)).map((r) => r.resourceType),
        ['Patient', 'RelatedPerson', 'AllergyIntolerance'],
      );
  });

  it('answers 100 when a required segment is missing and 200 for a type without a map', () => {
    const noPid = adt('A01', 'A4').replace(/\rPID\|[^\r]*/, '');
    assert.throws(() => resources(noPid), { code: 100, location: { segment: 'PID' } });
    assert.throws(() => resources(adt('A01', 'A5').replace('ADT^A01', 'ADT^A99')), { code: 200 });
  });

  describe('a feed with its own Z-segment, added as mapping files only', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'ferry-mappings-'));
      cpSync(defaultMappingDir, dir, { recursive: true });
      writeFileSync(
        join(dir, 'segments', 'ZPI.yaml'),
        [
          '# ZPI-2: the patient portal account; ZPI-3: preferred pharmacy phone',
          'segment: ZPI',
          'resource: Patient',
          'rows:',
          '  - { from: 2, to: "identifier[]", type: CX }',
          '  - { from: 3, to: "telecom[]", type: XTN-work }',
          '  - { from: 4, to: "extension[]", type: ZPI-note }',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'datatypes', 'ZPI-note.yaml'),
        [
          'datatype: ST',
          'rows:',
          '  - { from: "", to: url, constant: "http://example.org/fhir/StructureDefinition/portal-note" }',
          '  - { from: "", to: valueString }',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'messages', 'ADT_A01.yaml'),
        [
          'structure: ADT_A01',
          'events: [ADT^A01]',
          'resources:',
          '  - { key: patient, segment: PID, map: PID, required: true, identity: { from: PID-3 }, also: [{ segment: ZPI, map: ZPI }] }',
        ].join('\n'),
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('maps the Z-segment onto the Patient', () => {
      const catalog = loadCatalog(dir);
      const [patient] = resources(
        adt('A01', 'Z1', ['ZPI|1|P-42^^^PORTAL^PT|^WPN^PH^^^^5550199|prefers \\T\\ email']),
        catalog,
      ) as Patient[];
      assert.deepEqual(
        patient?.identifier?.map((i) => i.value),
        ['777', 'P-42'],
      );
      assert.deepEqual(patient.telecom?.[1], { value: '5550199', system: 'phone', use: 'work' });
      assert.deepEqual(patient.extension, [
        { url: 'http://example.org/fhir/StructureDefinition/portal-note', valueString: 'prefers & email' },
      ]);
    });

    it('refuses a mapping file that names what does not exist, naming the file', () => {
      writeFileSync(
        join(dir, 'segments', 'BAD.yaml'),
        'segment: ZZZ\nresource: Patient\nrows:\n  - { from: 1, to: x, type: NOPE }\n',
      );
      assert.throws(
        () => loadCatalog(dir),
        (e: unknown) => e instanceof MappingFileError && /BAD.*NOPE/.test(e.message),
      );
      rmSync(join(dir, 'segments', 'BAD.yaml'));
    });
  });
});
