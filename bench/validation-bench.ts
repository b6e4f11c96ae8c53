import { join } from 'node:path';
import type { Observation, Resource } from 'fhir/r4.js';
import { generateResources } from './generate.js';
import { progress } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * Validation throughput, on one core: Observations per second at level `schema` and at level
 * `full` (schema, R4 invariants and bindings, and a profile), and store-level create throughput
 * through the service with validation `full` against `off`.
 *
 * The measured modules are loaded from `dist/` (what `ferry serve` runs; `npm run bench` builds
 * first), not through tsx, whose per-closure function naming would add its own cost.
 */

type ValidateModule = typeof import('../src/validation/validate.js');
type CreateModule = typeof import('../src/service/create.js');
type StoreModule = typeof import('../src/store/sqlite/sqlite-store.js');
type LogModule = typeof import('../src/log.js');

const dist = (path: string): Promise<unknown> => import(new URL(`../dist/${path}`, import.meta.url).href);

export const labProfile = 'http://ferry.example.org/fhir/StructureDefinition/ferry-lab-result';
export const bloodPressureProfile = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure';

export interface ValidationRun {
  name: string;
  resources: number;
  perSecond: number;
  /** Errors found: 0 unless the data breaks a rule. */
  errors: number;
}

export interface WriteRun {
  level: 'off' | 'full';
  resources: number;
  perSecond: number;
}

const loinc = (code: string, display: string) => ({
  coding: [{ system: 'http://loinc.org', code, display }],
  text: display,
});
const mmHg = (value: number) => ({
  value,
  unit: 'mmHg',
  system: 'http://unitsofmeasure.org',
  code: 'mm[Hg]',
});

/** A US Core 5.0.1 blood pressure, varied by `i`. */
export function bloodPressure(i: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: 'vital-signs',
            display: 'Vital Signs',
          },
        ],
      },
    ],
    code: loinc('85354-9', 'Blood pressure panel'),
    subject: { reference: `Patient/p${i % 1000}` },
    encounter: { reference: `Encounter/e${i % 5000}` },
    effectiveDateTime: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
    component: [
      { code: loinc('8480-6', 'Systolic blood pressure'), valueQuantity: mmHg(100 + (i % 60)) },
      { code: loinc('8462-4', 'Diastolic blood pressure'), valueQuantity: mmHg(60 + (i % 30)) },
    ],
  };
}

function measure(
  name: string,
  items: Resource[],
  seconds: number,
  check: (r: Resource) => { severity: string }[],
): ValidationRun {
  for (const r of items.slice(0, 200)) check(r); // compile and warm up
  let n = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let k = 0; k < 100; k++) {
      const issues = check(items[n % items.length]!);
      if (issues.some((i) => i.severity === 'error')) errors++;
      n++;
    }
  }
  return { name, resources: n, perSecond: n / ((performance.now() - started) / 1000), errors };
}

/** Observations/s per validation level and profile. */
export async function runValidationBench(seed: number, seconds: number): Promise<ValidationRun[]> {
  const { validate } = (await dist('validation/validate.js')) as ValidateModule;
  const generated = [...generateResources(seed, 0, 30_000)].filter((r) => r.resourceType === 'Observation');
  const labs = generated.filter((o) =>
    (o as Observation).category?.some((c) => c.coding?.some((k) => k.code === 'laboratory')),
  );
  const pressures = Array.from({ length: 2_000 }, (_, i) => bloodPressure(i));
  const runs: ValidationRun[] = [];
  const cases: [string, Resource[], Parameters<typeof validate>[1]][] = [
    ['generated Observations, schema', generated, { level: 'schema' }],
    ['generated Observations, full (R4 invariants, bindings)', generated, { level: 'full' }],
    ['generated lab results, full + ferry-lab-result', labs, { level: 'full', profiles: [labProfile] }],
    ['blood pressures, schema', pressures, { level: 'schema' }],
    [
      'blood pressures, full + US Core blood pressure',
      pressures,
      { level: 'full', profiles: [bloodPressureProfile] },
    ],
  ];
  for (const [name, items, options] of cases) {
    progress(`validation: ${name}`);
    runs.push(measure(name, items, seconds, (r) => validate(r, options)));
  }
  return runs;
}

/**
 * Creates of the generated mix (patients, encounters, observations, conditions) through the
 * service (validation, index, group commit) into a fresh SQLite file, 64 creates in flight, at
 * level `off` and at level `full` (no profile enforced: the mix holds vital signs that are not lab
 * results).
 */
export async function runValidatedWriteBench(
  seed: number,
  count: number,
  seconds: number,
): Promise<WriteRun[]> {
  const { createResource } = (await dist('service/create.js')) as CreateModule;
  const { SqliteStore } = (await dist('store/sqlite/sqlite-store.js')) as StoreModule;
  const { silentLogger } = (await dist('log.js')) as LogModule;
  const resources = [...generateResources(seed, 0, count)].map(({ id: _id, ...r }) => r as Resource);
  const dir = makeTempDir('ferry-bench-validation-');
  const runs: WriteRun[] = [];
  try {
    for (const level of ['off', 'full'] as const) {
      progress(`validated writes: level ${level}`);
      const store = new SqliteStore(join(dir, `${level}.db`));
      const ctx = {
        store,
        baseUrl: 'http://localhost/fhir',
        log: silentLogger,
        now: () => new Date(),
        validation: { level, enforce: {}, strictProfiles: false },
      };
      let next = 0;
      let written = 0;
      const started = performance.now();
      const deadline = started + seconds * 1000;
      const writer = async (): Promise<void> => {
        while (next < resources.length && performance.now() < deadline) {
          const r = resources[next++]!;
          await createResource(ctx, r.resourceType, r);
          written++;
        }
      };
      await Promise.all(Array.from({ length: 64 }, writer));
      runs.push({ level, resources: written, perSecond: written / ((performance.now() - started) / 1000) });
      await store.close();
    }
  } finally {
    removeTempDir(dir);
  }
  return runs;
}
