import type { Bundle, BundleEntry, Provenance } from 'fhir/r4.js';
import { uuidFrom } from '../hl7v2/mapping/apply-mapping.js';
import { identityCriteria } from '../hl7v2/mapping/identity.js';
import type { MappedResource } from './map-row.js';

/**
 * A chunk of mapped rows → one transaction Bundle of conditional writes. A resource that several
 * rows make (the patient of many lab results) is one entry, with the content of its last row;
 * the rows' references point at it by fullUrl. The chunk's Provenance names the file (its name
 * and SHA-256) and, on each target, the row it came from.
 */

/** Provenance.target extension: the file row a resource was made from (header = row 1). */
export const sourceRowExtension = 'http://ferry.example.org/fhir/StructureDefinition/source-row';

export interface MappedRow {
  row: number;
  resources: MappedResource[];
  /** The row as read, kept for its dead letter should the store refuse it. */
  cells: readonly string[];
}

export interface ChunkBundle {
  bundle: Bundle;
  /** Per Bundle entry: the rows that made it, and one of its mapped resources (for errors). */
  entries: { rows: number[]; mapped: MappedResource }[];
  provenanceId: string;
}

export interface FileFacts {
  mapping: string;
  name: string;
  sha256: string;
  /** When this ingest began (Provenance.recorded). */
  recorded: string;
}

const keyOf = (m: MappedResource): string =>
  `${m.spec.resourceType}|${m.identity.system}|${m.identity.value}`;

/** Builds the transaction of a chunk (rows in file order). */
export function chunkBundle(rows: readonly MappedRow[], file: FileFacts): ChunkBundle {
  const byKey = new Map<string, { rows: number[]; mapped: MappedResource }>();
  for (const r of rows) {
    for (const m of r.resources) {
      const key = keyOf(m);
      const have = byKey.get(key);
      if (have) {
        have.mapped = m; // the last row's content is written
        have.rows.push(r.row);
      } else byKey.set(key, { rows: [r.row], mapped: m });
    }
  }
  const entries: BundleEntry[] = [];
  const sources: ChunkBundle['entries'] = [];
  for (const { rows: made, mapped } of byKey.values()) {
    const { fullUrl } = mapped;
    const type = mapped.spec.resourceType;
    const criteria = identityCriteria(mapped.identity);
    const resource = mapped.resource as unknown as BundleEntry['resource'];
    entries.push(
      mapped.spec.write === 'create'
        ? { fullUrl, resource, request: { method: 'POST', url: type, ifNoneExist: criteria } }
        : { fullUrl, resource, request: { method: 'PUT', url: `${type}?${criteria}` } },
    );
    sources.push({ rows: made, mapped });
  }
  const first = rows[0]?.row ?? 0;
  const last = rows[rows.length - 1]?.row ?? 0;
  const provenanceId = `csv-${uuidFrom(`${file.mapping}|${file.sha256}|${first}`)}`;
  const provenance: Provenance = {
    resourceType: 'Provenance',
    id: provenanceId,
    target: entries.map((e, i) => ({
      reference: e.fullUrl ?? '',
      extension: [{ url: sourceRowExtension, valueInteger: sources[i]?.rows.at(-1) ?? 0 }],
    })),
    recorded: file.recorded,
    activity: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
          code: 'UPDATE',
          display: 'revise',
        },
      ],
      text: `CSV ${file.name} rows ${first}–${last} through the mapping ${file.mapping}`.slice(0, 500),
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'assembler',
            },
          ],
        },
        who: { display: `Ferry CSV mapping ${file.mapping}` },
      },
    ],
    entity: [
      {
        role: 'source',
        what: {
          identifier: { system: 'urn:ferry:csv:sha256', value: file.sha256 },
          display: file.name.slice(0, 200),
        },
      },
    ],
  };
  if (entries.length > 0)
    entries.push({ resource: provenance, request: { method: 'PUT', url: `Provenance/${provenanceId}` } });
  return {
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    entries: sources,
    provenanceId,
  };
}
