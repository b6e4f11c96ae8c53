import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Observation, Patient, Provenance } from 'fhir/r4.js';
import { silentLogger } from '../../log.js';
import type { ServiceContext } from '../../service/context.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { listDeadLetters } from '../dead-letters.js';
import { sourceRowExtension } from './csv-bundle.js';
import { bufferSource, fileSource } from './csv-source.js';
import { checkpointNamespace, ingestCsv, IngestStopped, type CsvIngestOptions } from './ingest-csv.js';
import { loadCsvCatalog } from './load-csv-mappings.js';
import type { CsvCatalog } from './model.js';
import { HeaderError } from './read-csv.js';
import { replayCsvDeadLetter } from './replay-csv.js';

const shipped = loadCsvCatalog();
const samples = join(import.meta.dirname, '..', '..', '..', 'mappings', 'csv');
const lfh = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'csv',
  'linuxforhealth-csvtofhir',
  'input',
);

/** A mapping that uses most features: `;`, decimal comma, a zone, two resources, conditions. */
const weights = `
csv: { delimiter: ';', decimalComma: true, timezone: Europe/Berlin, empty: ['NULL'] }
columns:
  mrn: { header: MRN, required: true }
  name: { header: Name, transform: [collapse] }
  weight: { header: Gewicht }
  taken: { header: Datum }
  kind: { header: Art, transform: [upper] }
  note: { header: Notiz }
resources:
  - key: patient
    resourceType: Patient
    identity: { system: 'urn:test:mrn', value: mrn }
    rows:
      - { from: name, to: 'name[0].text', transform: [title] }
  - key: weight
    resourceType: Observation
    when: 'weight present'
    identity: { system: 'urn:test:obs', value: [mrn, taken] }
    refs: { subject: patient }
    rows:
      - { to: status, constant: final }
      - { from: kind, to: 'code.coding[0].code', vocabulary: test-kind, default: W }
      - { from: weight, to: valueQuantity.value, type: decimal }
      - { from: weight, to: valueQuantity.unit, constant: kg }
      - { from: taken, to: effectiveDateTime, type: dateTime, format: 'DD.MM.YYYY HH:mm' }
      - { from: note, when: 'kind = W', to: 'note[0].text' }
`;

describe('CSV ingest', function () {
  this.timeout(30000);
  let dir: string;
  let store: SqliteStore;
  let ctx: ServiceContext;
  let catalog: CsvCatalog;

  const all = async <T>(type: string): Promise<T[]> => {
    const out: T[] = [];
    for await (const v of store.streamCurrent({ types: [type] })) out.push(JSON.parse(v.json ?? '{}') as T);
    return out;
  };
  const file = (name: string, text: string | Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const run = async (
    mapping: string,
    path: string,
    more: Partial<CsvIngestOptions> = {},
    from: CsvCatalog = catalog,
  ): ReturnType<typeof ingestCsv> =>
    ingestCsv(ctx, await fileSource(path), {
      mapping: from.mappings.get(mapping)!,
      catalog: from,
      transport: 'file',
      ...more,
    });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-csv-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    ctx = { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() };
    const maps = join(dir, 'mappings');
    mkdirSync(join(maps, 'vocabulary'), { recursive: true });
    writeFileSync(join(maps, 'weights.yaml'), weights);
    writeFileSync(
      join(maps, 'vocabulary', 'test-kind.csv'),
      'code,target,display,system\nW,29463-7,Body weight,http://loinc.org\n*,8302-2,Body height,http://loinc.org\n',
    );
    const own = loadCsvCatalog(maps);
    catalog = {
      mappings: new Map([...shipped.mappings, ...own.mappings]),
      vocabularies: new Map([...shipped.vocabularies, ...own.vocabularies]),
    };
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes several resources of a row that reference each other, converting every cell', async () => {
    const path = file(
      'w.csv',
      'MRN;Name;Gewicht;Datum;Art;Notiz\nM1;  anna   SCHMIDT ;72,5;15.01.2026 08:30;w;fasting\nM2;Bo;NULL;;;\nM3;Cy;1,80;15.07.2026 09:00;h;ignored\n',
    );
    const summary = await run('weights', path);
    assert.equal(summary.rows, 3);
    assert.equal(summary.stored, 3);
    assert.equal(summary.rejected, 0);
    assert.equal(summary.created, 5, '3 patients and 2 observations');
    const patients = await all<Patient>('Patient');
    const anna = patients.find((p) => p.identifier?.some((i) => i.value === 'M1'));
    assert.equal(anna?.name?.[0]?.text, 'Anna Schmidt');
    const obs = await all<Observation>('Observation');
    assert.equal(obs.length, 2, 'a row without a weight makes no Observation');
    const w = obs.find((o) => o.valueQuantity?.value === 72.5);
    assert.equal(w?.subject?.reference, `Patient/${anna.id ?? ''}`);
    assert.equal(w.effectiveDateTime, '2026-01-15T08:30:00+01:00');
    assert.deepEqual(w.code.coding?.[0], {
      code: '29463-7',
      system: 'http://loinc.org',
      display: 'Body weight',
    });
    assert.equal(w.note?.[0]?.text, 'fasting');
    const h = obs.find((o) => o.valueQuantity?.value === 1.8);
    assert.equal(h?.effectiveDateTime, '2026-07-15T09:00:00+02:00', 'summer time');
    assert.equal(h.code.coding?.[0]?.code, '8302-2', 'the vocabulary fallback (*)');
    assert.equal(h.note, undefined, 'the note row applies only to W');
  });

  it('writes a resource that several rows make once, and upserts instead of duplicating on re-ingest', async () => {
    const path = join(samples, 'lab-results.sample.csv');
    const first = await run('lab-results', path);
    assert.deepEqual(
      [first.rows, first.stored, first.created, first.updated, first.unchanged],
      [5, 5, 7, 0, 0],
      '2 patients and 5 results',
    );
    const again = await run('lab-results', path);
    assert.deepEqual([again.created, again.updated, again.unchanged], [0, 0, 7]);
    assert.equal((await all('Patient')).length, 2);
    assert.equal((await all('Observation')).length, 5);
    const corrected = file(
      'corrected.csv',
      'mrn,accession,loinc,value,unit,status,collected_at\nMRN0001,ACC1001,2345-7,98,mg/dL,C,2026-11-02 08:15\n',
    );
    const fix = await run('lab-results', corrected);
    assert.deepEqual([fix.created, fix.updated, fix.unchanged], [0, 1, 1], 'the result is a new version');
    const glucose = (await all<Observation>('Observation')).find(
      (o) => o.code.coding?.[0]?.code === '2345-7',
    );
    assert.equal(glucose?.status, 'corrected');
    assert.equal(glucose.meta?.versionId, '2');
  });

  it('reports each bad row with its row and column, keeps it as a dead letter and stores the rest', async () => {
    const path = file(
      'bad.csv',
      [
        'mrn,family_name,birth_date,sex,deceased',
        'A1,Good,1980-01-01,F,',
        'A2,Date,31/02/2001,M,',
        'A3,,1980-01-01,F,',
        'A4,Code,1980-01-01,Q,',
        'A5,Bool,1980-01-01,F,perhaps',
        'A6,Short',
        'A7,Fine,1990-02-03,M,no',
      ].join('\r\n'),
    );
    const seen: number[] = [];
    const summary = await run('patients', path, { onRejected: (r) => seen.push(r.row) });
    assert.equal(summary.stored, 2);
    assert.equal(summary.rejected, 5);
    assert.deepEqual(
      summary.errors.map((e) => [e.row, e.column]),
      [
        [3, 'birth_date'],
        [4, 'family_name'],
        [5, 'sex'],
        [6, 'deceased'],
        [7, undefined],
      ],
    );
    assert.match(summary.errors[0]?.reason ?? '', /'31\/02\/2001' is not a calendar date/);
    assert.match(summary.errors[1]?.reason ?? '', /required column family_name is empty/);
    assert.match(summary.errors[2]?.reason ?? '', /'Q' is not a known code/);
    assert.match(summary.errors[4]?.reason ?? '', /2 fields; the header has 5/);
    assert.deepEqual(seen, [3, 4, 5, 6, 7]);
    const letters = await listDeadLetters(store);
    assert.equal(letters.length, 5);
    const letter = letters.find((l) => l.csv?.row === 3);
    assert.equal(letter?.source, 'csv');
    assert.equal(letter.location, 'row 3, column birth_date');
    assert.equal(letter.text, 'mrn,family_name,birth_date,sex,deceased\nA2,Date,31/02/2001,M,');
    assert.equal((await all('Patient')).length, 2);
  });

  it('rejects a row whose resource fails FHIR validation, naming the column, and stores its neighbours', async () => {
    const path = file(
      'demo.csv',
      '"id","first_name","last_name","gender"\n"p1","Ann","Lee","female"\n"p2","Bea","Kim","femme"\n"p3","Cal","Ng","male"\n',
    );
    const summary = await run('lfh-demo-patient', path);
    assert.equal(summary.stored, 2);
    assert.deepEqual(
      summary.errors.map((e) => [e.row, e.column]),
      [[3, 'gender']],
    );
    assert.match(summary.errors[0]?.reason ?? '', /Patient: .*femme/);
    assert.equal((await all('Patient')).length, 2);
    assert.equal((await listDeadLetters(store)).length, 1);
  });

  it('checks the header before any row: missing required columns store nothing', async () => {
    const path = file('hdr.csv', 'mrn,given_names\nA1,Ann\n');
    await assert.rejects(run('patients', path), (error: unknown) => {
      assert.ok(error instanceof HeaderError, 'a HeaderError');
      assert.match(error.message, /required column family_name is missing/);
      return true;
    });
    assert.equal((await all('Patient')).length, 0);
    assert.equal((await listDeadLetters(store)).length, 0);
  });

  it('reads UTF-8 with a BOM, and Latin-1 when the mapping asks for it', async () => {
    const bom = file('bom.csv', '\uFEFFmrn,family_name\nB1,Müller\n');
    assert.equal((await run('patients', bom)).stored, 1);
    const latin = file('latin.csv', Buffer.from('mrn,family_name\nB2,Jürgen Ærø\n', 'latin1'));
    const mapping = catalog.mappings.get('patients')!;
    const latinCatalog: CsvCatalog = {
      ...catalog,
      mappings: new Map([['patients', { ...mapping, read: { ...mapping.read, encoding: 'latin1' } }]]),
    };
    assert.equal((await run('patients', latin, {}, latinCatalog)).stored, 1);
    const names = (await all<Patient>('Patient')).map((p) => p.name?.[0]?.family).sort();
    assert.deepEqual(names, ['Jürgen Ærø', 'Müller']);
    // the same Latin-1 bytes read as UTF-8: refused, not stored garbled
    const wrong = await run('patients', latin);
    assert.equal(wrong.stored, 0);
    assert.deepEqual([wrong.errors[0]?.row, wrong.errors[0]?.column], [2, 'family_name']);
    assert.match(wrong.errors[0]?.reason ?? '', /not valid UTF-8 .*encoding latin1/);
  });

  it('stores nothing of an atomic file with a bad row, and all of one without', async () => {
    const bad = file('atomic.csv', 'mrn,family_name,sex\nC1,One,F\nC2,Two,X\n');
    const refused = await run('patients', bad, { atomic: true });
    assert.equal(refused.committed, false);
    assert.equal(refused.stored, 0);
    assert.equal(refused.rejected, 1);
    assert.equal((await all('Patient')).length, 0);
    assert.equal((await listDeadLetters(store)).length, 0, 'the file is the unit: no dead letters');
    const good = file('atomic-ok.csv', 'mrn,family_name,sex\nC1,One,F\nC2,Two,M\n');
    const stored = await run('patients', good, { atomic: true });
    assert.equal(stored.committed, true);
    assert.equal((await all('Patient')).length, 2);
  });

  it('resumes an interrupted file after its last stored chunk, storing each row once', async () => {
    const rows = Array.from({ length: 9 }, (_, i) => `R${i},Name${i},F`);
    const path = file('big.csv', ['mrn,family_name,sex', ...rows, 'R9,Bad,Z'].join('\n'));
    let chunks = 0;
    await assert.rejects(
      run('patients', path, { chunkRows: 3, shouldStop: () => ++chunks === 2 }),
      (error: unknown) => error instanceof IngestStopped && error.afterRow === 7,
    );
    assert.equal((await all('Patient')).length, 6);
    const saved = await store.getRecord<{ done: number; complete: boolean }>(
      checkpointNamespace,
      `patients|${(await fileSource(path)).sha256}`,
    );
    assert.deepEqual([saved?.done, saved?.complete], [6, false]);
    const resumed = await run('patients', path, { chunkRows: 3, resume: true });
    assert.equal(resumed.resumedAfter, 7);
    assert.deepEqual([resumed.rows, resumed.stored, resumed.rejected, resumed.created], [10, 9, 1, 9]);
    assert.equal((await all('Patient')).length, 9);
    assert.equal((await listDeadLetters(store)).length, 1, 'the bad row once');
  });

  it('names the file by SHA-256 in each chunk’s Provenance, with the row of every resource', async () => {
    const path = join(samples, 'lab-results.sample.csv');
    const source = await fileSource(path);
    await run('lab-results', path);
    const [provenance] = await all<Provenance>('Provenance');
    assert.deepEqual(provenance?.entity?.[0]?.what.identifier, {
      system: 'urn:ferry:csv:sha256',
      value: source.sha256,
    });
    assert.equal(provenance.entity[0].what.display, 'lab-results.sample.csv');
    assert.equal(provenance.target.length, 7);
    const obs = await all<Observation>('Observation');
    const hemoglobin = obs.find((o) => o.code.coding?.[0]?.code === '718-7');
    const target = provenance.target.find((t) => t.reference === `Observation/${hemoglobin?.id ?? ''}`);
    assert.equal(target?.extension?.[0]?.url, sourceRowExtension);
    assert.equal(target.extension[0].valueInteger, 4, 'the third result is row 4');
  });

  it('replays a dead letter once the mapping is fixed, as the row it was', async () => {
    const path = file('q.csv', 'mrn,family_name,sex\nD1,Dee,Q\n');
    await run('patients', path);
    const [letter] = await listDeadLetters(store);
    assert.ok(letter, 'kept');
    const again = await replayCsvDeadLetter(ctx, letter, catalog);
    assert.equal(again.stored, false);
    assert.match(again.reason ?? '', /'Q' is not a known code/);
    const fixed: CsvCatalog = {
      ...catalog,
      vocabularies: new Map([
        ...catalog.vocabularies,
        ['administrative-sex', new Map([['Q', { target: 'unknown' }]])],
      ]),
    };
    const auditor = { store, source: { site: 'http://localhost/fhir', name: 'test' }, now: () => new Date() };
    const replayed = await replayCsvDeadLetter(ctx, letter, fixed, { auditor, agent: { clientId: 'ops' } });
    assert.equal(replayed.stored, true);
    assert.deepEqual(await listDeadLetters(store), []);
    const events = await all<AuditEvent>('AuditEvent');
    assert.equal(events.length, 1, 'the replayed row, audited once');
    const [event] = events;
    assert.equal(event?.agent[0]?.who?.identifier?.value, 'ops');
    assert.match(event.outcomeDesc ?? '', /CSV ingest patients q\.csv: rows 2-2, 1 stored/);
    const [patient] = await all<Patient>('Patient');
    assert.equal(patient?.gender, 'unknown');
    const [provenance] = await all<Provenance>('Provenance');
    assert.equal(provenance?.target[0]?.extension?.[0]?.valueInteger, 2, 'its row in q.csv');
  });

  it('ingests the LinuxForHealth CsvToFHIR samples through mappings written for them', async () => {
    const patient = await run('lfh-patient', join(lfh, 'Patient.csv'));
    assert.deepEqual([patient.stored, patient.rejected], [1, 0]);
    const demo = await run('lfh-demo-patient', join(lfh, 'demo-patient.csv'));
    assert.deepEqual([demo.stored, demo.rejected], [1, 0]);
    const patients = await all<Patient>('Patient');
    const jones = patients.find((p) => p.name?.[0]?.family === 'Jones');
    assert.equal(jones?.gender, 'male');
    assert.equal(jones.birthDate, '1951-07-06');
    assert.ok(
      jones.identifier?.some(
        (i) => i.system === 'http://hl7.org/fhir/sid/us-ssn' && i.value === '123-45-6789',
      ),
      'the SSN',
    );
    const jane = patients.find((p) => p.name?.[0]?.family === 'Record');
    assert.deepEqual(jane?.name?.[0]?.given, ['Jane', 'Test']);
    assert.equal(jane.address?.[0]?.postalCode, '90210');
  });

  it('reads an in-memory CSV the same way', async () => {
    const summary = await ingestCsv(ctx, bufferSource('mem.csv', Buffer.from('mrn,family_name\nE1,Eve\n')), {
      mapping: catalog.mappings.get('patients')!,
      catalog,
      transport: 'http',
    });
    assert.equal(summary.stored, 1);
  });
});
