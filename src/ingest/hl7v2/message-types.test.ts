import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Appointment,
  DocumentReference,
  Immunization,
  Observation,
  Patient,
  Provenance,
  ServiceRequest,
  Specimen,
} from 'fhir/r4.js';
import { silentLogger } from '../../log.js';
import type { ServiceContext } from '../../service/context.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { AckDecision } from './ack.js';
import { readInbound } from './inbound.js';
import { mappingHandler } from './ingest-message.js';
import { loadCatalog } from './mapping/load-mappings.js';

const catalog = loadCatalog();
/** A sample message of a source in test/fixtures/hl7v2 (`hl7-v2-to-fhir-ig`, `microsoft-fhir-converter`). */
const sample = (source: string, name: string): string =>
  readFileSync(
    join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'hl7v2', source, 'input', name),
    'utf8',
  );
const ig = (name: string): string => sample('hl7-v2-to-fhir-ig', name);
const adt = (control: string, mrn: string, family: string): string =>
  [
    `MSH|^~\\&|REG|HOSP|FERRY|HOSP|20240305101500+0100||ADT^A04^ADT_A01|${control}|P|2.5.1`,
    `PID|1||${mrn}^^^HOSP^MR||${family}^Ann||19800215|F|||1 Main St^^Springfield^IL^62701||^PRN^PH^^1^555^5550101`,
  ].join('\r');
const a40 = (control: string, survivor: string, old: string): string =>
  [
    `MSH|^~\\&|REG|HOSP|FERRY|HOSP|20240306090000+0100||ADT^A40^ADT_A39|${control}|P|2.5.1`,
    'EVN|A40|20240306090000+0100',
    `PID|1||${survivor}^^^HOSP^MR||Smith^Ann||19800215|F`,
    `MRG|${old}^^^HOSP^MR`,
  ].join('\r');

describe('HL7 v2 message types: orders, specimens, immunizations, appointments, documents, merges', function () {
  this.timeout(20000);
  let dir: string;
  let store: SqliteStore;
  let ctx: ServiceContext;
  let send: (text: string) => Promise<AckDecision>;
  async function all<T>(type: string): Promise<T[]> {
    const out: T[] = [];
    for await (const v of store.streamCurrent({ types: [type] })) out.push(JSON.parse(v.json ?? '{}') as T);
    return out;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-hl7-types-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    ctx = { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() };
    const handler = mappingHandler(ctx, { catalog, timezone: 'UTC' });
    send = async (text) => (await handler(readInbound(Buffer.from(text), 'mllp'))) as AckDecision;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores an ORM^O01 order as a ServiceRequest with its placer number, status and note', async () => {
    assert.equal((await send(ig('test_conversions-ORM_O01.hl7'))).code, 'AA');
    const [order] = await all<ServiceRequest>('ServiceRequest');
    assert.deepEqual(
      order?.identifier?.map((i) => [i.system, i.value]),
      [
        ['urn:oid:1.2.3.4.5.2', 'ORD777888'],
        ['urn:oid:1.2.3.4.5.2', 'ORD777889'],
      ],
    );
    assert.equal(order.code?.coding?.[0]?.code, '51523-9');
    assert.equal(order.status, 'active', 'ORC-1 NW');
    assert.equal(order.intent, 'order');
    assert.equal(order.note?.[0]?.text, 'Bluegrass is in bloom at the moment');
    const [patient] = await all<Patient>('Patient');
    assert.equal(order.subject.reference, `Patient/${patient?.id ?? ''}`);
    assert.equal((await all('AllergyIntolerance')).length, 1);
    const again = await send(ig('test_conversions-ORM_O01.hl7'));
    assert.equal(again.code, 'AA');
    assert.match(again.text ?? '', /already stored/);
  });

  it('stores an OML^O21 lab order with its Specimen, which the ServiceRequest names', async () => {
    assert.equal((await send(ig('test_conversions-OML_O21.hl7'))).code, 'AA');
    const [specimen] = await all<Specimen>('Specimen');
    assert.equal(specimen?.identifier?.[0]?.value, 'SPM1234');
    assert.equal(specimen.type?.coding?.[0]?.code, 'SER');
    assert.equal(specimen.collection?.method?.coding?.[0]?.code, 'VENIP');
    assert.deepEqual(specimen.collection.quantity, { value: 2, unit: 'mL' });
    assert.equal(specimen.collection.collectedDateTime, '2015-06-01T16:08:00+01:00');
    const [order] = await all<ServiceRequest>('ServiceRequest');
    assert.deepEqual(order?.specimen, [{ reference: `Specimen/${specimen.id ?? ''}` }]);
  });

  it('stores each RXA of a VXU^V04 as an Immunization, found again by patient, vaccine and date', async () => {
    assert.equal((await send(ig('test_conversions-VXU_V04.hl7'))).code, 'AA');
    const shots = await all<Immunization>('Immunization');
    assert.equal(shots.length, 3);
    const tenivac = shots.find((s) => s.vaccineCode.coding?.[0]?.code === '49281-0215-88');
    assert.equal(tenivac?.status, 'completed');
    assert.equal(tenivac.occurrenceDateTime, '2015-06-24T08:30:00-05:00');
    assert.deepEqual(tenivac.doseQuantity, {
      value: 0.5,
      unit: 'mL',
      system: 'http://unitsofmeasure.org',
      code: 'mL',
    });
    assert.equal(tenivac.primarySource, true, 'RXA-9 00: a new record');
    assert.equal(tenivac.lotNumber, '315841');
    assert.equal(tenivac.expirationDate, '2015-12-16');
    assert.equal(tenivac.manufacturer?.display, 'Sanofi Pasteur');
    assert.equal(tenivac.route?.coding?.[0]?.code, 'C28161');
    assert.equal(tenivac.site?.coding?.[0]?.code, 'RD');
    assert.equal(tenivac.performer?.[0]?.function?.coding?.[0]?.code, 'AP');
    const observations = await all<Observation>('Observation');
    assert.equal(observations.length, 4, 'the OBX of the first order');
    assert.ok(
      observations.every((o) => o.partOf?.[0]?.reference === `Immunization/${tenivac.id ?? ''}`),
      'part of the Immunization they describe',
    );
    const historical = shots.filter((s) => s.primarySource === false);
    assert.equal(historical.length, 2);
    assert.ok(
      historical.every((s) => s.doseQuantity === undefined),
      'RXA-6 999: amount unknown',
    );
  });

  it('stores an SIU^S12 as a booked Appointment with the patient, AIP and AIL as participants', async () => {
    assert.equal((await send(ig('test_conversions-SIU_S12.hl7'))).code, 'AA');
    const [appointment] = await all<Appointment>('Appointment');
    const [patient] = await all<Patient>('Patient');
    assert.equal(appointment?.status, 'booked');
    assert.equal(appointment.minutesDuration, 15);
    assert.equal(appointment.start, '2015-06-13T14:00:00+01:00');
    assert.deepEqual(appointment.participant, [
      { status: 'accepted', actor: { reference: `Patient/${patient?.id ?? ''}` } },
      { status: 'accepted', actor: { identifier: { value: 'JPULLEN1' }, display: 'Jeri Pullen' } },
      { status: 'accepted', actor: { display: 'MainOffi MainOffi' } },
    ]);
    assert.deepEqual(
      appointment.identifier?.map((i) => i.value),
      ['1209', '13030'],
    );
  });

  it('stores an MDM^T02 as a DocumentReference with the OBX text as a plain-text attachment', async () => {
    assert.equal((await send(ig('Message.hl7_MDM_T02.txt'))).code, 'AA');
    const [document] = await all<DocumentReference>('DocumentReference');
    assert.equal(document?.status, 'current');
    assert.equal(document.docStatus, 'final', 'TXA-17 AU');
    assert.equal(document.type?.coding?.[0]?.code, 'PN');
    assert.equal(document.masterIdentifier?.value, '3738931392');
    assert.equal(document.content.length, 3, 'the TX, FT and ST OBX (the ED one is not text)');
    const text = Buffer.from(document.content[1]?.attachment.data ?? '', 'base64').toString('utf8');
    assert.match(text, /^Critical Values Entered On: {2}08\/22\/2023 2:11 EDT \n Performed On:/);
    assert.equal(document.content[1]?.attachment.contentType, 'text/plain; charset=utf-8');
  });

  it('merges patients on ADT^A40: the old one inactive and replaced-by, the survivor replaces', async () => {
    assert.equal((await send(adt('R1', 'OLD1', 'Jones'))).code, 'AA');
    assert.equal((await send(adt('R2', 'NEW1', 'Smith'))).code, 'AA');
    assert.equal((await send(a40('M1', 'NEW1', 'OLD1'))).code, 'AA');
    const patients = await all<Patient>('Patient');
    assert.equal(patients.length, 2);
    const old = patients.find((p) => p.identifier?.[0]?.value === 'OLD1');
    const survivor = patients.find((p) => p.identifier?.[0]?.value === 'NEW1');
    assert.equal(old?.active, false);
    assert.equal(old.name?.[0]?.family, 'Jones', 'the old record keeps what it had');
    assert.deepEqual(old.link, [
      { other: { reference: `Patient/${survivor?.id ?? ''}` }, type: 'replaced-by' },
    ]);
    assert.deepEqual(survivor?.link, [{ other: { reference: `Patient/${old.id ?? ''}` }, type: 'replaces' }]);
    const provenance = (await all<Provenance>('Provenance')).find((p) => p.activity?.text?.includes('M1'));
    assert.ok(
      provenance?.target.some((t) => t.reference === `Patient/${old.id ?? ''}`),
      'the merge is in the message Provenance',
    );
    assert.equal((await send(a40('M1', 'NEW1', 'OLD1'))).code, 'AA', 'the same merge again');
    assert.equal((await all<Patient>('Patient')).length, 2);
  });

  it('records a merge of a patient it never had as an inactive patient replaced by the survivor', async () => {
    assert.equal((await send(a40('M2', 'NEW2', 'GONE2'))).code, 'AA');
    const patients = await all<Patient>('Patient');
    const old = patients.find((p) => p.identifier?.[0]?.value === 'GONE2');
    const survivor = patients.find((p) => p.identifier?.[0]?.value === 'NEW2');
    assert.equal(old?.active, false);
    assert.deepEqual(old.link?.[0]?.other.reference, `Patient/${survivor?.id ?? ''}`);
    assert.deepEqual(survivor?.link?.[0]?.type, 'replaces');
  });

  it('merges the FHIR-Converter ADT^A40 sample', async () => {
    const a40Sample = sample('microsoft-fhir-converter', 'ADT-A40-01.hl7');
    assert.equal((await send(a40Sample)).code, 'AA');
    const patients = await all<Patient>('Patient');
    const old = patients.find((p) => p.identifier?.[0]?.value === '56789');
    const survivor = patients.find((p) => p.identifier?.[0]?.value === '12345');
    assert.equal(survivor?.name?.[0]?.family, 'Test');
    assert.equal(old?.active, false);
    assert.equal(old.link?.[0]?.type, 'replaced-by');
  });

  it('refuses a merge without MRG with AE pointing at it', async () => {
    const decision = await send(a40('M3', 'NEW3', 'X').split('\r').slice(0, 3).join('\r'));
    assert.equal(decision.code, 'AE');
    assert.match(decision.text ?? '', /needs an MRG segment/);
    assert.equal(decision.issues?.[0]?.location?.segment, 'MRG');
  });
});
