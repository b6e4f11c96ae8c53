import { completePatients } from './generate.js';
import type { Client } from './http-client.js';

/** One search shape measured over HTTP. */
export interface SearchShape {
  name: string;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** Matches on the last page of the last request (sanity: a shape that finds nothing proves little). */
  lastPageSize: number;
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/**
 * The search shapes of the search targets, each as a function of a request number so every
 * request asks something different (a random patient, a code, a month): token, reference,
 * date range, string prefix, each also sorted by -date, a two-level chain, _has and full text.
 */
export function searchShapes(patients: number): { name: string; path: (i: number) => string }[] {
  const labs = ['2345-7', '3094-0', '2160-0', '2951-2', '2823-3', '718-7', '4544-3'];
  const patient = (i: number): string => `pat-${(i * 7919) % patients}`;
  const month = (i: number): string => `${2019 + (i % 6)}-${String(1 + (i % 12)).padStart(2, '0')}`;
  // prefixes of the generator's family names (accents ignored: Müller matches mul)
  const prefixes = ['mul', 'sch', 'smi', 'gar', 'ngu', 'kow', 'ros', 'jan'];
  return [
    {
      name: 'token: Observation?code=X',
      path: (i) => `/fhir/Observation?code=${labs[i % labs.length] ?? ''}`,
    },
    {
      name: 'token + -date: Observation?code=X&_sort=-date',
      path: (i) => `/fhir/Observation?code=${labs[i % labs.length] ?? ''}&_sort=-date`,
    },
    {
      name: 'reference: Observation?subject=Patient/X',
      path: (i) => `/fhir/Observation?subject=Patient/${patient(i)}`,
    },
    {
      name: 'reference + token: Observation?subject=X&code=Y',
      path: (i) => `/fhir/Observation?subject=Patient/${patient(i)}&code=${labs[i % labs.length] ?? ''}`,
    },
    {
      name: 'date range: Encounter?date=geM&date=ltM+1',
      path: (i) => `/fhir/Encounter?date=ge${month(i)}-01&date=lt${month(i)}-15`,
    },
    {
      name: 'date range + -date: Observation?date=…&_sort=-date',
      path: (i) => `/fhir/Observation?date=ge${month(i)}-01&date=lt${month(i)}-15&_sort=-date`,
    },
    {
      name: 'string prefix: Patient?name=xx',
      path: (i) => `/fhir/Patient?name=${prefixes[i % prefixes.length] ?? ''}`,
    },
    {
      name: 'string prefix + sort: Patient?family=xx&_sort=birthdate',
      path: (i) => `/fhir/Patient?family=${prefixes[i % prefixes.length] ?? ''}&_sort=birthdate`,
    },
    {
      name: 'chain 2 levels: Observation?encounter.subject:Patient.name=xx',
      path: (i) => `/fhir/Observation?encounter.subject:Patient.name=${prefixes[i % prefixes.length] ?? ''}`,
    },
    {
      name: '_has: Patient?_has:Observation:subject:code=X',
      path: (i) => `/fhir/Patient?_has:Observation:subject:code=${labs[i % labs.length] ?? ''}&_count=20`,
    },
    { name: 'compartment: Patient/X/Observation', path: (i) => `/fhir/Patient/${patient(i)}/Observation` },
  ];
}

/**
 * Search latency and throughput over HTTP against a running gateway holding `resources` bench
 * resources: each shape runs `perShape` requests from `clients` concurrent clients, `_count=20`.
 */
export async function runSearchBench(
  client: Client,
  resources: number,
  clients: number,
  perShape: number,
  secondsPerShape = 10,
): Promise<SearchShape[]> {
  const out: SearchShape[] = [];
  for (const shape of searchShapes(Math.max(1, completePatients(resources)))) {
    const times: number[] = [];
    let next = 0;
    let lastPageSize = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        // each shape stops at its count or after secondsPerShape, whichever comes first
        while (next < perShape && Number(process.hrtime.bigint() - started) / 1e9 < secondsPerShape) {
          const i = next++;
          const path = shape.path(i);
          const t = process.hrtime.bigint();
          const paged = path.includes('_count') ? path : `${path}${path.includes('?') ? '&' : '?'}_count=20`;
          const reply = await client.send('GET', paged);
          times.push(Number(process.hrtime.bigint() - t) / 1e6);
          if (reply.status !== 200)
            throw new Error(`${path}: HTTP ${reply.status} ${reply.body.slice(0, 300)}`);
          lastPageSize = (JSON.parse(reply.body) as { entry?: unknown[] }).entry?.length ?? 0;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    times.sort((a, b) => a - b);
    out.push({
      name: shape.name,
      requests: times.length,
      perSecond: Math.round(times.length / seconds),
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      lastPageSize,
    });
  }
  return out;
}
