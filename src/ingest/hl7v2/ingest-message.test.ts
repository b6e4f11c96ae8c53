import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DiagnosticReport, Observation, Patient, Provenance } from 'fhir/r4.js';
import { silentLogger } from '../../log.js';
import type { ServiceContext } from '../../service/context.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { StoredVersion } from '../../store/store.js';
import { listDeadLetters } from '../dead-letters.js';
import type { AckDecision } from './ack.js';
import { readInbound } from './inbound.js';
import { mappingHandler } from './ingest-message.js';
import { loadCatalog } from './mapping/load-mappings.js';
import { oru } from '../../../test/fixtures/hl7v2/oru.js';

const catalog = loadCatalog();

describe('HL7 v2 messages stored through the transaction write path', function () {
  this.timeout(20000);
  let dir: string;
  let store: SqliteStore;
  let ctx: ServiceContext;
  let send: (text: string) => Promise<AckDecision>;

  const current = async (type: string): Promise<StoredVersion[]> => {
    const out: StoredVersion[] = [];
    for await (const v of store.streamCurrent({ types: [type] })) out.push(v);
    return out;
  };
  async function resources<T>(type: string): Promise<(T | undefined)[]> {
    return (await current(type)).map((v) => JSON.parse(v.json ?? '{}') as T);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-hl7-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    ctx = { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() };
    const handler = mappingHandler(ctx, { catalog, timezone: 'UTC' });
    send = async (text) => (await handler(readInbound(Buffer.from(text), 'mllp'))) as AckDecision;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores an ORU^R01 as Patient, Encounter, ServiceRequest, Observations and DiagnosticReport, then answers AA', async () => {
    assert.deepEqual(await send(oru('M1')), { code: 'AA' });
    const [patient] = await resources<Patient>('Patient');
    assert.equal(patient?.name?.[0]?.family, 'Doe');
    assert.deepEqual(patient.identifier?.[0]?.system, 'urn:oid:2.16.840.1.113883.19.5');
    const observations = (await resources<Observation>('Observation')).filter((o) => o !== undefined);
    assert.equal(observations.length, 5);
    const potassium = observations.find((o) => o.code.coding?.[0]?.code === '2823-3');
    assert.deepEqual(potassium?.valueQuantity, {
      value: 4.2,
      unit: 'mmol/L',
      system: 'http://unitsofmeasure.org',
      code: 'mmol/L',
    });
    assert.deepEqual(potassium.referenceRange?.[0]?.low?.value, 3.5);
    assert.deepEqual(potassium.referenceRange[0].high?.value, 5);
    assert.equal(potassium.status, 'final');
    assert.equal(potassium.interpretation?.[0]?.coding?.[0]?.code, 'N');
    assert.equal(potassium.note?.[0]?.text, 'Slightly hemolyzed');
    assert.equal(potassium.effectiveDateTime, '2024-03-05T08:30:00+01:00', "MSH-7's offset");
    assert.equal(potassium.subject?.reference, `Patient/${patient.id ?? ''}`);
    const creatinine = observations.find((o) => o.code.coding?.[0]?.code === '2160-0');
    assert.deepEqual(creatinine?.valueQuantity, {
      value: 0.5,
      comparator: '<',
      unit: 'mg/dL',
      system: 'http://unitsofmeasure.org',
      code: 'mg/dL',
    });
    assert.equal(observations.find((o) => o.code.coding?.[0]?.code === '8251-1')?.valueString, 'see note');
    assert.equal(
      observations.find((o) => o.code.coding?.[0]?.code === '5778-6')?.valueCodeableConcept?.text,
      'Yellow',
    );
    const [report] = await resources<DiagnosticReport>('DiagnosticReport');
    assert.equal(report?.status, 'final');
    assert.equal(report.result?.length, 5);
    assert.equal((await current('ServiceRequest')).length, 1);
    assert.equal((await current('Encounter')).length, 1);
    const [provenance] = await resources<Provenance>('Provenance');
    assert.equal(provenance?.target.length, 9, 'every resource the message wrote');
    const binary = provenance.entity?.[0]?.what.reference ?? '';
    const raw = await store.readCurrent('Binary', binary.split('/')[1] ?? '');
    assert.ok(raw?.json?.includes('x-application/hl7-v2+er7'));
  });

  it('stores nothing new for the same message again, by MSH-10 or by content', async () => {
    await send(oru('M1'));
    const before = (await current('Observation')).map((v) => `${v.id}/${v.versionId}`).sort();
    const again = await send(oru('M1'));
    assert.equal(again.code, 'AA');
    assert.match(again.text ?? '', /already stored/);
    // a new control id with the same content: the conditional writes change nothing either
    assert.equal((await send(oru('M2'))).code, 'AA');
    const after = (await current('Observation')).map((v) => `${v.id}/${v.versionId}`).sort();
    assert.deepEqual(after, before);
    assert.equal((await current('Patient')).length, 1);
  });

  it('makes a corrected result (OBX-11 = C) a new version of the same Observation', async () => {
    await send(oru('M1'));
    assert.equal((await send(oru('M3', 'C', '4.4'))).code, 'AA');
    const observations = await current('Observation');
    assert.equal(observations.length, 5);
    const potassium = observations
      .map((v) => ({ v, o: JSON.parse(v.json ?? '{}') as Observation }))
      .find(({ o }) => o.code.coding?.[0]?.code === '2823-3');
    assert.equal(potassium?.v.versionId, 2);
    assert.equal(potassium.o.status, 'corrected');
    assert.equal(potassium.o.valueQuantity?.value, 4.4);
  });

  it('answers AE with ERR at the field when a value cannot be mapped, and keeps a dead letter', async () => {
    const decision = await send(oru('M4', 'F', 'four'));
    assert.equal(decision.code, 'AE');
    assert.equal(decision.issues?.[0]?.code, 102);
    assert.deepEqual(decision.issues[0].location, {
      segment: 'OBX',
      sequence: 7,
      field: 5,
      repetition: 1,
    });
    assert.equal((await current('Observation')).length, 0, 'nothing half-stored');
    const [letter] = await listDeadLetters(store);
    assert.equal(letter?.location, 'OBX[7]-5[1]');
  });

  it('answers AE pointing at the segment when the resource fails FHIR validation', async () => {
    const noCode = oru('M5').replace('24323-8^Comprehensive metabolic panel^LN', '');
    const decision = await send(noCode);
    assert.equal(decision.code, 'AE');
    assert.equal(decision.issues?.[0]?.code, 101);
    assert.equal(decision.issues[0].location?.segment, 'OBR');
    assert.equal((await current('Patient')).length, 0);
    assert.equal((await listDeadLetters(store)).length, 1);
  });

  it('answers AR 200 for a message type without a mapping', async () => {
    const decision = await send(oru('M6').replace('ORU^R01^ORU_R01', 'DFT^P03'));
    assert.equal(decision.code, 'AR');
    assert.equal(decision.issues?.[0]?.code, 200);
  });
});
