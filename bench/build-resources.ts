import type {
  CodeableConcept,
  Condition,
  Encounter,
  Observation,
  ObservationReferenceRange,
  Organization,
  Patient,
  Practitioner,
  Quantity,
} from 'fhir/r4.js';
import type { Rng } from './prng.js';
import {
  bloodPressure,
  cities,
  conditions,
  familyNames,
  givenFemale,
  givenMale,
  labTests,
  streets,
  system,
  vitalSigns,
  type Test,
} from './vocabulary.js';

/**
 * Builders for each resource type. They take what a resource points at (a `PatientContext`) and
 * a seeded generator, and return R4 JSON that Ferry's schema validation accepts.
 */

const minute = 60_000;
const hour = 60 * minute;

/** What the resources of one patient share: ids, demographics and the timeline of visits. */
export interface PatientContext {
  patientId: string;
  name: { family: string; given: string };
  gender: 'female' | 'male';
  birthMs: number;
  /** Practitioner id of the general practitioner. */
  gpId: string;
  /** Organization id of the managing organization (a hospital). */
  organizationId: string;
  /** Organization id of the lab that runs this patient's tests. */
  labId: string;
  encounters: VisitContext[];
}

export interface VisitContext {
  encounterId: string;
  classCode: { code: string; display: string };
  startMs: number;
  endMs: number;
  practitionerId: string;
}

/** An R4 dateTime at second precision in UTC, e.g. 2024-05-02T08:15:00Z. */
const dateTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const date = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const digits = (rng: Rng, n: number): string =>
  Array.from({ length: n }, (_, i) => rng.int(i === 0 ? 1 : 0, 9)).join('');
const concept = (sys: string, code: string, display: string, text?: string): CodeableConcept =>
  text === undefined
    ? { coding: [{ system: sys, code, display }] }
    : { coding: [{ system: sys, code, display }], text };

/** `{ id }` when an id is given (a create leaves it to the server), spread after resourceType. */
const idOf = (id: string | undefined): { id?: string } => (id === undefined ? {} : { id });

/** A healthcare provider; every fourth one is a laboratory. */
export function buildOrganization(rng: Rng, id: string, n: number): Organization {
  const place = cities[n % cities.length]!;
  const lab = n % 4 === 0;
  return {
    resourceType: 'Organization',
    id,
    identifier: [{ system: 'http://hospital.example.org/organization', value: `ORG-${1000 + n}` }],
    active: true,
    type: [concept(system.organizationType, 'prov', 'Healthcare Provider')],
    name: `${lab ? 'Labor' : 'Klinikum'} ${place.city} ${n + 1}`,
    telecom: [{ system: 'phone', value: `+49 ${digits(rng, 3)} ${digits(rng, 7)}`, use: 'work' }],
    address: [
      {
        line: [`${rng.pick(streets)} ${rng.int(1, 120)}`],
        city: place.city,
        postalCode: place.postalCode,
        country: 'DE',
      },
    ],
  };
}

/** A physician with an NPI. */
export function buildPractitioner(rng: Rng, id: string): Practitioner {
  const gender = rng.chance(0.5) ? 'female' : 'male';
  const family = rng.pick(familyNames);
  return {
    resourceType: 'Practitioner',
    id,
    identifier: [{ system: system.npi, value: digits(rng, 10) }],
    active: true,
    name: [
      {
        use: 'official',
        family,
        given: [rng.pick(gender === 'female' ? givenFemale : givenMale)],
        prefix: ['Dr.'],
      },
    ],
    telecom: [{ system: 'email', value: `${id}@hospital.example.org`, use: 'work' }],
    gender,
  };
}

/** A registered patient: MRN, name, phone, address, GP and managing organization. */
export function buildPatient(rng: Rng, ctx: PatientContext, id?: string): Patient {
  const place = rng.pick(cities);
  return {
    resourceType: 'Patient',
    ...idOf(id),
    identifier: [
      {
        type: concept(system.identifierType, 'MR', 'Medical record number'),
        system: system.mrn,
        value: `MRN${digits(rng, 8)}`,
      },
    ],
    active: true,
    name: [{ use: 'official', family: ctx.name.family, given: [ctx.name.given] }],
    telecom: [{ system: 'phone', value: `+49 ${digits(rng, 3)} ${digits(rng, 7)}`, use: 'mobile' }],
    gender: ctx.gender,
    birthDate: date(ctx.birthMs),
    address: [
      {
        use: 'home',
        line: [`${rng.pick(streets)} ${rng.int(1, 200)}`],
        city: place.city,
        postalCode: place.postalCode,
        country: 'DE',
      },
    ],
    generalPractitioner: [{ reference: `Practitioner/${ctx.gpId}` }],
    managingOrganization: { reference: `Organization/${ctx.organizationId}` },
  };
}

const encounterTypes: Record<string, CodeableConcept> = {
  AMB: concept(system.snomed, '185349003', 'Encounter for check up'),
  EMER: concept(system.snomed, '50849002', 'Emergency room admission'),
  IMP: concept(system.snomed, '32485007', 'Hospital admission'),
};

/** A finished visit of the patient, attended by a practitioner, at the managing organization. */
export function buildEncounter(rng: Rng, ctx: PatientContext, visit: VisitContext, id?: string): Encounter {
  return {
    resourceType: 'Encounter',
    ...idOf(id),
    identifier: [{ system: system.visit, value: `V${digits(rng, 9)}` }],
    status: 'finished',
    class: { system: system.actCode, ...visit.classCode },
    type: [encounterTypes[visit.classCode.code]!],
    subject: { reference: `Patient/${ctx.patientId}` },
    participant: [
      {
        type: [concept(system.participationType, 'ATND', 'attender')],
        individual: { reference: `Practitioner/${visit.practitionerId}` },
      },
    ],
    period: { start: dateTime(visit.startMs), end: dateTime(visit.endMs) },
    serviceProvider: { reference: `Organization/${ctx.organizationId}` },
  };
}

const round = (value: number, decimals: number): number => Number(value.toFixed(decimals));
const quantity = (value: number, unit: string): Quantity => ({
  value,
  unit,
  system: system.ucum,
  code: unit,
});

function interpretation(test: Test, value: number): CodeableConcept {
  if (test.low !== undefined && value < test.low) return concept(system.interpretation, 'L', 'Low');
  if (test.high !== undefined && value > test.high) return concept(system.interpretation, 'H', 'High');
  return concept(system.interpretation, 'N', 'Normal');
}

function referenceRange(test: Test): ObservationReferenceRange[] | undefined {
  if (test.low === undefined && test.high === undefined) return undefined;
  const range: ObservationReferenceRange = {};
  if (test.low !== undefined) range.low = quantity(test.low, test.unit);
  if (test.high !== undefined) range.high = quantity(test.high, test.unit);
  return [range];
}

/** Observations 0–3 of a patient are vital signs (0 is blood pressure); the rest are labs. */
export const vitalSignsPerPatient = 4;

/** The measured part of an Observation: its code, performers and value(s). */
type Measurement = Pick<
  Observation,
  'code' | 'performer' | 'valueQuantity' | 'component' | 'interpretation' | 'referenceRange'
>;

function measure(rng: Rng, ctx: PatientContext, visit: VisitContext, n: number): Measurement {
  const practitioner = { reference: `Practitioner/${visit.practitionerId}` };
  if (n === 0) {
    const { panel, systolic, diastolic } = bloodPressure;
    return {
      code: concept(system.loinc, panel.code, panel.display, 'Blood pressure'),
      performer: [practitioner],
      component: [systolic, diastolic].map((c) => ({
        code: concept(system.loinc, c.code, c.display),
        valueQuantity: quantity(Math.round(rng.normal(c.mean, c.sd)), 'mm[Hg]'),
      })),
    };
  }
  const vital = n < vitalSignsPerPatient;
  const test = vital ? vitalSigns[n - 1 + 3 * rng.int(0, 1)]! : rng.pick(labTests);
  const value = round(Math.max(rng.normal(test.mean, test.sd), test.mean / 10), test.decimals);
  const m: Measurement = {
    code: concept(system.loinc, test.code, test.display),
    performer: vital ? [practitioner] : [{ reference: `Organization/${ctx.labId}` }, practitioner],
    valueQuantity: quantity(value, test.unit),
  };
  const range = referenceRange(test);
  if (range) {
    m.interpretation = [interpretation(test, value)];
    m.referenceRange = range;
  }
  return m;
}

/**
 * Result `n` of a patient, taken during `visit`: a vital sign measured by the attending
 * practitioner, or a lab result from the patient's lab with its reference range.
 */
export function buildObservation(
  rng: Rng,
  ctx: PatientContext,
  visit: VisitContext,
  n: number,
  id?: string,
): Observation {
  const vital = n < vitalSignsPerPatient;
  const effectiveMs = visit.startMs + rng.int(5, 60) * minute;
  const issuedMs = effectiveMs + (vital ? 1 : rng.int(45, 360)) * minute;
  const { code, ...measured } = measure(rng, ctx, visit, n);
  return {
    resourceType: 'Observation',
    ...idOf(id),
    ...(vital ? {} : { identifier: [{ system: system.accession, value: `ACC${digits(rng, 10)}` }] }),
    status: 'final',
    category: [
      vital
        ? concept(system.observationCategory, 'vital-signs', 'Vital Signs')
        : concept(system.observationCategory, 'laboratory', 'Laboratory'),
    ],
    code,
    subject: { reference: `Patient/${ctx.patientId}`, display: `${ctx.name.given} ${ctx.name.family}` },
    encounter: { reference: `Encounter/${visit.encounterId}` },
    effectiveDateTime: dateTime(effectiveMs),
    issued: new Date(issuedMs).toISOString(),
    ...measured,
  };
}

/**
 * Problem `n` of a patient, recorded during `visit`: a chronic problem-list item (n = 0) or a
 * diagnosis of that encounter, some of them resolved.
 */
export function buildCondition(
  rng: Rng,
  ctx: PatientContext,
  visit: VisitContext,
  n: number,
  id?: string,
): Condition {
  const chronic = n === 0;
  const onsetMs = Math.max(
    ctx.birthMs,
    visit.startMs - rng.int(chronic ? 30 : 0, chronic ? 3650 : 10) * 24 * hour,
  );
  const resolved = !chronic && rng.chance(0.6);
  const code = rng.pick(conditions);
  const condition: Condition = {
    resourceType: 'Condition',
    ...idOf(id),
    clinicalStatus: concept(
      system.conditionClinical,
      resolved ? 'resolved' : 'active',
      resolved ? 'Resolved' : 'Active',
    ),
    verificationStatus: concept(system.conditionVerification, 'confirmed', 'Confirmed'),
    category: [
      chronic
        ? concept(system.conditionCategory, 'problem-list-item', 'Problem List Item')
        : concept(system.conditionCategory, 'encounter-diagnosis', 'Encounter Diagnosis'),
    ],
    code: concept(system.snomed, code.code, code.display, code.display),
    subject: { reference: `Patient/${ctx.patientId}` },
    encounter: { reference: `Encounter/${visit.encounterId}` },
    onsetDateTime: dateTime(onsetMs),
    recordedDate: dateTime(visit.startMs + rng.int(10, 50) * minute),
    recorder: { reference: `Practitioner/${visit.practitionerId}` },
  };
  if (resolved) condition.abatementDateTime = dateTime(visit.endMs + rng.int(3, 30) * 24 * hour);
  return condition;
}
