import type { Resource } from 'fhir/r4.js';
import {
  buildCondition,
  buildEncounter,
  buildObservation,
  buildOrganization,
  buildPatient,
  buildPractitioner,
  type PatientContext,
  type VisitContext,
} from './build-resources.js';
import { createRng, mixSeed, type Rng } from './prng.js';
import { encounterClasses, familyNames, givenFemale, givenMale } from './vocabulary.js';

/**
 * Deterministic FHIR R4 test data shaped like a hospital's lab feed. The data set is a sequence:
 * first a shared pool of Organizations and Practitioners, then one block per patient (the
 * Patient, its Encounters, Observations and Conditions). Resource `i` of a seed is always the
 * same and can be rebuilt on its own, so a data directory can be grown in steps and a reader
 * can name random existing ids without keeping a list.
 */

export const organizationCount = 20;
export const practitionerCount = 200;
/** Pool resources before the first patient. */
export const poolSize = organizationCount + practitionerCount;

/** Per patient: 2 Encounters, 15 Observations (4 vital signs, 11 labs) and 2 Conditions. */
export const perPatient = { encounters: 2, observations: 15, conditions: 2 } as const;
/** Resources in one patient's block. */
export const blockSize = 1 + perPatient.encounters + perPatient.observations + perPatient.conditions;

const day = 86_400_000;
const minute = 60_000;
/** Visits fall between 2019-01-01 and 2024-12-31. */
const firstVisit = Date.UTC(2019, 0, 1);
const visitSpan = Date.UTC(2024, 11, 31) - firstVisit;

const organizationId = (n: number): string => `org-${n}`;
const practitionerId = (n: number): string => `pract-${n}`;

/** The type and id of resource `i` of the sequence, without building it. */
export function resourceKey(i: number): { type: string; id: string } {
  if (i < organizationCount) return { type: 'Organization', id: organizationId(i) };
  if (i < poolSize) return { type: 'Practitioner', id: practitionerId(i - organizationCount) };
  const k = Math.floor((i - poolSize) / blockSize);
  let m = (i - poolSize) % blockSize;
  if (m === 0) return { type: 'Patient', id: `pat-${k}` };
  if ((m -= 1) < perPatient.encounters) return { type: 'Encounter', id: `enc-${k}-${m}` };
  if ((m -= perPatient.encounters) < perPatient.observations)
    return { type: 'Observation', id: `obs-${k}-${m}` };
  return { type: 'Condition', id: `cond-${k}-${m - perPatient.observations}` };
}

/** The shared identity and timeline of patient `k`; the first draws of its block's generator. */
function patientContext(rng: Rng, k: number): PatientContext {
  const gender = rng.chance(0.52) ? 'female' : 'male';
  const starts = Array.from(
    { length: perPatient.encounters },
    () => firstVisit + rng.next() * visitSpan,
  ).sort((a, b) => a - b);
  const encounters = starts.map((start, n): VisitContext => {
    const cls = rng.weighted(encounterClasses);
    const minutes =
      { AMB: rng.int(15, 90), EMER: rng.int(120, 600), IMP: rng.int(2, 10) * 1440 }[cls.code] ?? 30;
    const startMs = Math.floor(start / minute) * minute;
    return {
      encounterId: `enc-${k}-${n}`,
      classCode: { code: cls.code, display: cls.display },
      startMs,
      endMs: startMs + minutes * minute,
      practitionerId: practitionerId(rng.int(0, practitionerCount - 1)),
    };
  });
  const hospitals = Array.from({ length: organizationCount }, (_, n) => n).filter((n) => n % 4 !== 0);
  return {
    patientId: `pat-${k}`,
    name: { family: rng.pick(familyNames), given: rng.pick(gender === 'female' ? givenFemale : givenMale) },
    gender,
    birthMs: firstVisit - rng.int(18 * 365, 90 * 365) * day,
    gpId: practitionerId(rng.int(0, practitionerCount - 1)),
    organizationId: organizationId(rng.pick(hospitals)),
    labId: organizationId(4 * rng.int(0, organizationCount / 4 - 1)),
    encounters,
  };
}

/** Observation `n` and Condition `n` belong to these visits: the first 8 results to the first. */
const observationVisit = (n: number): number => (n < 8 ? 0 : 1);
const conditionVisit = (n: number): number => n % perPatient.encounters;

/** Every resource of patient `k`'s block, in sequence order, ids included. */
export function patientBlock(seed: number, k: number): Resource[] {
  const rng = createRng(mixSeed(seed, k));
  const ctx = patientContext(rng, k);
  const out: Resource[] = [buildPatient(rng, ctx, ctx.patientId)];
  for (const visit of ctx.encounters) out.push(buildEncounter(rng, ctx, visit, visit.encounterId));
  for (let n = 0; n < perPatient.observations; n++) {
    out.push(buildObservation(rng, ctx, ctx.encounters[observationVisit(n)]!, n, `obs-${k}-${n}`));
  }
  for (let n = 0; n < perPatient.conditions; n++) {
    out.push(buildCondition(rng, ctx, ctx.encounters[conditionVisit(n)]!, n, `cond-${k}-${n}`));
  }
  return out;
}

/** Resource `i` of the pool (i < poolSize). */
function poolResource(seed: number, i: number): Resource {
  const rng = createRng(mixSeed(seed, -1 - i));
  return i < organizationCount
    ? buildOrganization(rng, organizationId(i), i)
    : buildPractitioner(rng, practitionerId(i - organizationCount));
}

/** Resources `from` (inclusive) to `to` (exclusive) of the sequence of `seed`. */
export function* generateResources(seed: number, from: number, to: number): Generator<Resource> {
  let i = from;
  for (; i < Math.min(to, poolSize); i++) yield poolResource(seed, i);
  while (i < to) {
    const k = Math.floor((i - poolSize) / blockSize);
    const block = patientBlock(seed, k);
    const first = poolSize + k * blockSize;
    for (let m = i - first; m < blockSize && i < to; m++, i++) yield block[m]!;
  }
}

/** Number of patients whose whole block lies in the first `count` resources. */
export const completePatients = (count: number): number =>
  Math.max(0, Math.floor((count - poolSize) / blockSize));

/**
 * New resources for a create workload (no ids: the server assigns them), in the proportions of
 * a patient block, each attached to a random one of the first `patients` existing patients:
 * further results and diagnoses for known patients and visits, plus new patients and visits.
 */
export function createWorkload(seed: number, patients: number): (n: number) => Resource {
  return (n) => {
    const rng = createRng(mixSeed(seed ^ 0x5bd1e995, n));
    const k = rng.int(0, Math.max(0, patients - 1));
    const ctx = patientContext(createRng(mixSeed(seed, k)), k);
    const m = rng.int(0, blockSize - 1);
    // a new patient, and a new visit of a known patient, draw their demographics and dates afresh
    if (m === 0) return buildPatient(rng, patientContext(rng, k));
    if (m <= perPatient.encounters) return buildEncounter(rng, ctx, patientContext(rng, k).encounters[0]!);
    const o = m - 1 - perPatient.encounters;
    if (o < perPatient.observations)
      return buildObservation(rng, ctx, ctx.encounters[observationVisit(o)]!, o);
    const c = o - perPatient.observations;
    return buildCondition(rng, ctx, ctx.encounters[conditionVisit(c)]!, c);
  };
}
