import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingFileError } from '../hl7v2/mapping/load-mappings.js';
import { loadCsvCatalog, readCsvMapping, typesWritten } from './load-csv-mappings.js';

describe('CSV mapping files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-csv-map-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (yaml: string): ReturnType<typeof readCsvMapping> => {
    const file = join(dir, 'm.yaml');
    writeFileSync(file, yaml);
    return readCsvMapping(file, loadCsvCatalog().vocabularies);
  };
  const valid = `
columns:
  id: { required: true }
  dob: { header: Date of Birth }
resources:
  - key: patient
    resourceType: Patient
    identity: { system: 'urn:x', value: id }
    rows:
      - { from: dob, to: birthDate, type: date, format: 'DD/MM/YYYY' }
`;

  it('loads the mappings that ship, each with its resource types', () => {
    const catalog = loadCsvCatalog();
    for (const name of ['patients', 'lab-results', 'lfh-patient', 'lfh-demo-patient'])
      assert.ok(catalog.mappings.has(name), `mapping ${name} ships`);
    assert.deepEqual(typesWritten(catalog.mappings.get('lab-results')!), [
      'Patient',
      'Observation',
      'Provenance',
    ]);
    // the HL7 v2 vocabularies are shared
    assert.ok(catalog.vocabularies.has('administrative-sex'), 'shared vocabulary');
  });

  it('reads a column header other than its key, and defaults the reading options', () => {
    const m = load(valid);
    assert.equal(m.columns.get('dob')?.header, 'Date of Birth');
    assert.deepEqual(m.read, {
      delimiter: ',',
      quote: '"',
      encoding: 'utf-8',
      timezone: 'UTC',
      decimalComma: false,
      empty: [],
      trim: true,
    });
  });

  const refused: [string, string, RegExp][] = [
    [
      'an unknown type',
      valid.replace("type: date, format: 'DD/MM/YYYY'", 'type: datum'),
      /type 'datum' is not one of/,
    ],
    ['a column no one declared', valid.replace('from: dob', 'from: dobb'), /names no column "dobb"/],
    ['a date format without a year', valid.replace("'DD/MM/YYYY'", "'DD/MM'"), /has no year/],
    [
      'an unknown vocabulary',
      valid.replace("format: 'DD/MM/YYYY' }", "format: 'DD/MM/YYYY', vocabulary: nope }"),
      /no vocabulary 'nope'/,
    ],
    [
      'a resource type R4 does not have',
      valid.replace('resourceType: Patient', 'resourceType: Patinet'),
      /not an R4 resource type/,
    ],
    [
      'AuditEvent (Ferry alone writes them)',
      valid.replace('resourceType: Patient', 'resourceType: AuditEvent'),
      /not an R4 resource type/,
    ],
    ['an identity without a system', valid.replace("system: 'urn:x', ", ''), /needs a 'system'/],
    [
      'a reference to no resource',
      valid.replace('    rows:', '    refs: { subject: nobody }\n    rows:'),
      /names no resource 'nobody'/,
    ],
    [
      'a condition on no column',
      valid.replace("format: 'DD/MM/YYYY' }", "format: 'DD/MM/YYYY', when: 'x present' }"),
      /names no column 'x'/,
    ],
    ['a bad encoding', `csv: { encoding: utf-16 }\n${valid}`, /utf-8 or latin1/],
    ['a bad time zone', `csv: { timezone: Mars/Olympus }\n${valid}`, /not an IANA time zone/],
    ['a two-character delimiter', `csv: { delimiter: ';;' }\n${valid}`, /one character/],
    [
      'an unknown transform',
      valid.replace('header: Date of Birth', 'header: Date of Birth, transform: [shout]'),
      /transform 'shout'/,
    ],
  ];
  for (const [what, yaml, message] of refused)
    it(`refuses ${what}, naming the file and the place`, () => {
      assert.throws(
        () => load(yaml),
        (error: unknown) => {
          assert.ok(error instanceof MappingFileError, 'a MappingFileError');
          assert.match(error.message, /m\.yaml/);
          assert.match(error.message, message);
          return true;
        },
      );
    });
});
