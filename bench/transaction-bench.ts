import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { blockSize, patientBlock } from './generate.js';

/** Entries per benchmark transaction: five whole patient blocks (Patient, visits, results, diagnoses). */
export const entriesPerTransaction = 5 * blockSize;

/** A deterministic UUID for resource `id` of patient block `k`. */
function urn(k: number, id: string): string {
  const h = createHash('sha1').update(`${k}/${id}`).digest('hex');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Transaction Bundle `t`: the blocks of patients firstPatient + 5t … + 5t+4 as an EHR would upload
 * them: no ids, every patient-to-visit and visit-to-result link a urn:uuid fullUrl, the shared
 * practitioners and organizations by plain reference.
 */
export function transactionBody(seed: number, firstPatient: number, t: number): string {
  const entry: BundleEntry[] = [];
  for (let b = 0; b < entriesPerTransaction / blockSize; b++) {
    const k = firstPatient + t * (entriesPerTransaction / blockSize) + b;
    const block = patientBlock(seed, k);
    const fullUrls = new Map(block.map((r) => [`${r.resourceType}/${r.id ?? ''}`, urn(k, r.id ?? '')]));
    for (const resource of block) {
      const text = JSON.stringify({ ...resource, id: undefined }).replace(
        /"reference":"((?:Patient|Encounter)\/[^"]+)"/g,
        (whole, ref: string) => {
          const target = fullUrls.get(ref);
          return target === undefined ? whole : `"reference":"${target}"`;
        },
      );
      entry.push({
        fullUrl: fullUrls.get(`${resource.resourceType}/${resource.id ?? ''}`),
        resource: JSON.parse(text) as BundleEntry['resource'],
        request: { method: 'POST', url: resource.resourceType },
      });
    }
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry };
  return JSON.stringify(bundle);
}

/** How many resources a transaction response says were created (each entry `201 Created`). */
export function createdIn(responseBody: string): number {
  const bundle = JSON.parse(responseBody) as Bundle<Resource>;
  return (bundle.entry ?? []).filter((e) => e.response?.status.startsWith('201')).length;
}
