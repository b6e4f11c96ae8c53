import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type {
  AllergyIntolerance,
  Bundle,
  DiagnosticReport,
  Encounter,
  FhirResource,
  Observation,
  Patient,
} from 'fhir/r4.js';
import { readInbound } from '../inbound.js';
import { messageToBundle } from '../ingest-message.js';
import { loadCatalog } from './load-mappings.js';

/**
 * Golden tests: what Ferry makes of published samples, against the outputs their projects
 * publish, compared on what matters (identifiers, names, codes, values, units, statuses, dates,
 * references) rather than ids. Where FHIR-Converter and the V2-to-FHIR IG differ, Ferry follows
 * the IG; each such place is named in a test below.
 */

const catalog = loadCatalog();
const fixture = (path: string): string =>
  fileURLToPath(new URL(`../../../../test/fixtures/hl7v2/${path}`, import.meta.url));

function convert(path: string): Bundle {
  const input = readInbound(readFileSync(fixture(path)), 'file');
  if (!input.parsed.ok) throw input.parsed.error;
  return messageToBundle(catalog, input.parsed.message, { timezone: 'UTC', receivedAt: new Date(0) }).bundle;
}

const expected = (path: string): Bundle => JSON.parse(readFileSync(fixture(path), 'utf8')) as Bundle;

function ofType<T extends FhirResource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is T => r?.resourceType === type);
}

const fullUrlOf = (bundle: Bundle, resource: FhirResource): string =>
  bundle.entry?.find((e) => e.resource === resource)?.fullUrl ?? '';

for (const sample of ['LAB-ORU-1', 'LAB-ORU-2']) {
  describe(`FHIR-Converter ${sample} (ORU^R01) golden`, () => {
    const ours = convert(`microsoft-fhir-converter/input/${sample}.hl7`);
    const theirs = expected(`microsoft-fhir-converter/expected/${sample}-expected.json`);

    it('makes the same patient: identifier values and types, name, birth date, sex, address', () => {
      const [mine] = ofType<Patient>(ours, 'Patient');
      const [want] = ofType<Patient>(theirs, 'Patient');
      assert.ok(mine && want);
      assert.deepEqual(mine.name, want.name);
      assert.equal(mine.birthDate, want.birthDate);
      assert.equal(mine.gender, want.gender);
      assert.deepEqual(
        mine.identifier?.map((i) => i.value),
        want.identifier?.map((i) => i.value),
      );
      assert.equal(mine.identifier?.[0]?.type?.coding?.[0]?.code, 'MR');
      const [address] = want.address ?? [];
      assert.deepEqual(mine.address?.[0], address);
    });

    it('makes the same observations: codes, values, units, effective times, interpretations', () => {
      const mine = ofType<Observation>(ours, 'Observation');
      const want = ofType<Observation>(theirs, 'Observation');
      assert.equal(mine.length, want.length);
      for (const [n, w] of want.entries()) {
        const m = mine[n];
        assert.ok(m);
        assert.deepEqual(m.code.coding?.[0], w.code.coding?.[0]);
        assert.equal(m.valueQuantity?.value, w.valueQuantity?.value);
        assert.equal(m.valueQuantity?.unit, w.valueQuantity?.unit);
        assert.equal(m.effectiveDateTime, w.effectiveDateTime);
        assert.deepEqual(m.interpretation?.[0]?.coding?.[0], w.interpretation?.[0]?.coding?.[0]);
        if (w.status !== 'unknown') assert.equal(m.status, w.status);
      }
    });

    it('makes the same reports: codes, statuses, placer and filler numbers, results in order', () => {
      const mine = ofType<DiagnosticReport>(ours, 'DiagnosticReport');
      const want = ofType<DiagnosticReport>(theirs, 'DiagnosticReport');
      assert.equal(mine.length, want.length);
      const observations = ofType<Observation>(ours, 'Observation').map((o) => fullUrlOf(ours, o));
      let next = 0;
      for (const [n, w] of want.entries()) {
        const m = mine[n];
        assert.ok(m);
        assert.deepEqual(m.code.coding?.[0], w.code.coding?.[0]);
        assert.equal(m.status, w.status);
        const byType = (r: DiagnosticReport, code: string): string | undefined =>
          r.identifier?.find((i) => i.type?.coding?.[0]?.code === code)?.value;
        assert.equal(byType(m, 'PLAC'), byType(w, 'PLAC'));
        assert.equal(byType(m, 'FILL'), byType(w, 'FILL'));
        const results = m.result?.map((r) => r.reference) ?? [];
        assert.deepEqual(results, observations.slice(next, next + results.length));
        next += results.length;
      }
      assert.equal(next, observations.length, 'every observation is in a report');
    });

    it('references the patient from every observation and report', () => {
      const patient = fullUrlOf(ours, ofType<Patient>(ours, 'Patient')[0] as Patient);
      for (const r of [
        ...ofType<Observation>(ours, 'Observation'),
        ...ofType<DiagnosticReport>(ours, 'DiagnosticReport'),
      ])
        assert.equal(r.subject?.reference, patient);
    });
  });
}

describe('Where Ferry follows the IG and FHIR-Converter differs', () => {
  const ours = convert('microsoft-fhir-converter/input/LAB-ORU-1.hl7');
  const theirs = expected('microsoft-fhir-converter/expected/LAB-ORU-1-expected.json');

  it('OBX-6: a UCUM unit gets system and code (IG OBX-6 → CWE[Quantity]); FHIR-Converter keeps the text only', () => {
    const mine = ofType<Observation>(ours, 'Observation').find((o) => o.valueQuantity?.unit === '%');
    const want = ofType<Observation>(theirs, 'Observation').find((o) => o.valueQuantity?.unit === '%');
    assert.deepEqual(mine?.valueQuantity, {
      ...want?.valueQuantity,
      system: 'http://unitsofmeasure.org',
      code: '%',
    });
  });

  it('PID-19 (SSN) is an identifier of type SS (as the IG bundle); FHIR-Converter types it SB', () => {
    const mine = ofType<Patient>(ours, 'Patient')[0]?.identifier?.find((i) => i.value === '123121234');
    const want = ofType<Patient>(theirs, 'Patient')[0]?.identifier?.find((i) => i.value === '123121234');
    assert.equal(mine?.type?.coding?.[0]?.code, 'SS');
    assert.equal(want?.type?.coding?.[0]?.code, 'SB');
  });

  it("OBX-11 'I' (results pending): the IG leaves it unmapped; Ferry says registered, FHIR-Converter unknown", () => {
    const mine = ofType<Observation>(ours, 'Observation').find((o) => o.code.coding?.[0]?.code === '11156-7');
    const want = ofType<Observation>(theirs, 'Observation').find(
      (o) => o.code.coding?.[0]?.code === '11156-7',
    );
    assert.equal(mine?.status, 'registered');
    assert.equal(want?.status, 'unknown');
  });
});

describe('V2-to-FHIR IG ADT_A01 golden', () => {
  const ours = convert('hl7-v2-to-fhir-ig/input/test_conversions-ADT_A01.hl7');
  const theirs = expected('hl7-v2-to-fhir-ig/expected/FHIR_bundle.hl7_ADT_A01.json');
  const [patient] = ofType<Patient>(ours, 'Patient');
  const [want] = ofType<Patient>(theirs, 'Patient');

  it('makes the patient: identifiers, names, sex, marital status, email, address', () => {
    assert.ok(patient && want);
    const ids = (p: Patient): string[] =>
      (p.identifier ?? []).map((i) => `${i.type?.coding?.[0]?.code ?? ''}:${i.value ?? ''}`);
    for (const id of ids(want).filter((i) => !i.startsWith(':'))) assert.ok(ids(patient).includes(id), id);
    assert.equal(
      patient.identifier?.[0]?.system,
      'urn:oid:1.2.3.4.5',
      'CX-4 with an ISO universal id (IG: HD[uri])',
    );
    const names = (p: Patient) => p.name?.map((n) => ({ family: n.family, given: n.given, use: n.use }));
    assert.deepEqual(names(patient), names(want));
    assert.deepEqual(patient.name?.[0]?.prefix, want.name?.[0]?.prefix);
    assert.deepEqual(patient.name?.[0]?.period, want.name?.[0]?.period);
    assert.equal(patient.gender, want.gender);
    assert.deepEqual(patient.maritalStatus?.coding?.[0], want.maritalStatus?.coding?.[0]);
    assert.ok(patient.telecom?.some((t) => t.system === 'email' && t.value === 'eve@test.test'));
    const address = (a: NonNullable<Patient['address']>[number] | undefined) => ({
      line: a?.line,
      city: a?.city?.trim(),
      state: a?.state,
      postalCode: a?.postalCode,
      country: a?.country,
      use: a?.use,
    });
    assert.deepEqual(address(patient.address?.[0]), address(want.address?.[0]));
  });

  it('keeps PID-7 as birthDate plus the birthTime extension (the IG bundle writes the time into birthDate, which R4 forbids)', () => {
    assert.equal(patient?.birthDate, '1970-06-01');
    assert.equal(want?.birthDate, '1970-06-01T09:12');
    const birthTime = patient.extension?.find((e) => e.url.endsWith('patient-birthTime'));
    assert.equal(birthTime?.valueDateTime, '1970-06-01T09:12:00+01:00', "MSH-7's offset");
  });

  it('makes the encounter: visit number, class, status, start, subject', () => {
    const [mine] = ofType<Encounter>(ours, 'Encounter');
    const [w] = ofType<Encounter>(theirs, 'Encounter');
    assert.ok(mine && w);
    assert.equal(mine.identifier?.[0]?.value, w.identifier?.[0]?.value);
    assert.equal(mine.identifier?.[0]?.type?.coding?.[0]?.code, 'VN');
    assert.deepEqual(
      { system: mine.class.system, code: mine.class.code },
      { system: w.class.system, code: w.class.code },
    );
    assert.equal(mine.status, w.status);
    assert.equal(mine.period?.start?.slice(0, 10), w.period?.start);
    assert.equal(mine.subject?.reference, fullUrlOf(ours, patient as Patient));
  });

  it('makes the observation and the allergy: codes, value, status', () => {
    const [obs] = ofType<Observation>(ours, 'Observation');
    const [w] = ofType<Observation>(theirs, 'Observation');
    assert.equal(obs?.code.coding?.[0]?.code, w?.code.coding?.[0]?.code);
    assert.equal(
      obs?.code.coding?.[0]?.system,
      'http://loinc.org',
      'IG CWE.3: the coding system as a URI (the bundle keeps LN)',
    );
    assert.equal(obs.valueQuantity?.value, w?.valueQuantity?.value);
    assert.equal(obs.valueQuantity?.code, 'cm');
    assert.equal(obs.status, w?.status);
    const [allergy] = ofType<AllergyIntolerance>(ours, 'AllergyIntolerance');
    const [wa] = ofType<AllergyIntolerance>(theirs, 'AllergyIntolerance');
    assert.equal(allergy?.code?.text, wa?.code?.text);
    assert.deepEqual(
      allergy?.category,
      ['environment'],
      'AL1-2 LA through the IG AllergenType map (the bundle keeps LA)',
    );
  });
});
