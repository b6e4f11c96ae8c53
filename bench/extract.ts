import { pathToFileURL } from 'node:url';
import type { Observation, Patient } from 'fhir/r4.js';
import { extractIndexEntries, isFastParameter } from '../src/search/extract.js';
import { searchParameters } from '../src/search/parameters.js';

/** A lab result as a feed sends it: coded, with a reference range, interpretation and performer. */
function labObservation(i: number): Observation {
  return {
    resourceType: 'Observation',
    id: `obs-${i}`,
    meta: { versionId: '1', lastUpdated: '2024-05-02T08:15:00.123Z', profile: ['http://example.org/lab'] },
    identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: `LAB-${i}` }],
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: 'laboratory',
            display: 'Laboratory',
          },
        ],
      },
    ],
    code: {
      coding: [
        { system: 'http://loinc.org', code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma' },
      ],
      text: 'Glucose',
    },
    subject: { reference: `Patient/p-${i % 1000}`, display: 'Amy Shaw' },
    encounter: { reference: `Encounter/e-${i}` },
    effectiveDateTime: '2024-05-02T07:30:00+02:00',
    issued: '2024-05-02T08:14:59.287Z',
    performer: [{ reference: 'Organization/lab-1', display: 'Acme Lab' }],
    valueQuantity: { value: 6.3, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: 'H',
            display: 'High',
          },
        ],
      },
    ],
    referenceRange: [
      {
        low: { value: 3.1, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
        high: { value: 6.2, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
      },
    ],
  };
}

/** A registered patient: two names, MRN and national id, phone and email, a home address. */
function patient(i: number): Patient {
  return {
    resourceType: 'Patient',
    id: `p-${i}`,
    meta: { versionId: '3', lastUpdated: '2024-04-30T10:00:00Z' },
    identifier: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
          text: 'MRN',
        },
        system: 'http://hospital.example.org/mrn',
        value: `MRN${100000 + i}`,
      },
      { system: 'urn:oid:2.16.840.1.113883.2.4.6.3', value: `9${i}` },
    ],
    active: true,
    name: [
      {
        use: 'official',
        family: `Müller-Lüdenscheidt ${i}`,
        given: ['Amélie', `Rose${i % 97}`],
        prefix: ['Dr.'],
      },
      { use: 'nickname', given: ['Amy'] },
    ],
    telecom: [
      { system: 'phone', value: '+49 30 1234567', use: 'home' },
      { system: 'email', value: `amy${i}@example.org` },
    ],
    gender: 'female',
    birthDate: '1974-12-25',
    address: [
      {
        use: 'home',
        line: ['Hauptstraße 5', 'Hinterhaus'],
        city: 'Berlin',
        postalCode: '10115',
        country: 'DE',
      },
    ],
    generalPractitioner: [{ reference: 'Practitioner/gp-1' }],
    managingOrganization: { reference: 'Organization/hosp-1' },
  };
}

function perSecond(make: (i: number) => { resourceType: string }, seconds: number): number {
  const pool = Array.from({ length: 1000 }, (_, i) => make(i));
  for (const r of pool) extractIndexEntries(r); // warm up: compile every expression, let the JIT settle
  let done = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  while (performance.now() < until) {
    for (const r of pool) extractIndexEntries(r);
    done += pool.length;
  }
  return done / ((performance.now() - start) / 1000);
}

function fastShare(type: string): string {
  const defs = [...searchParameters(type).values()];
  const fast = defs.filter(isFastParameter).length;
  return `${fast}/${defs.length} parameters on the fast path`;
}

/** Prints extraction throughput for lab Observations and Patients (all parameters of each type). */
export function runExtractBench(seconds = 2): Promise<void> {
  const obs = extractIndexEntries(labObservation(0));
  const pat = extractIndexEntries(patient(0));
  console.log(
    `extract Observation: ${Math.round(perSecond(labObservation, seconds)).toLocaleString('en')}/s ` +
      `(${obs.entries.length} entries each; ${fastShare('Observation')})`,
  );
  console.log(
    `extract Patient:     ${Math.round(perSecond(patient, seconds)).toLocaleString('en')}/s ` +
      `(${pat.entries.length} entries each; ${fastShare('Patient')})`,
  );
  return Promise.resolve();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runExtractBench();
}
