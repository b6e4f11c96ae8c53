import type { Resource } from 'fhir/r4.js';
import { extractionVersion } from '../search/extract.js';
import type { IndexRewrite } from '../store/store.js';
import type { ServiceContext } from './context.js';
import { indexFacts } from './write-path.js';

/** Where a store keeps the extraction version its search index was built with. */
const versionRecord = { namespace: 'store', key: 'extractionVersion' } as const;

/** Resources per write while reindexing: large enough to amortise the commit, small enough to interleave. */
const batchSize = 500;

export type IndexState = 'current' | 'stale';

/**
 * Whether the store's search index was built by this version of extraction. A store with no
 * record is stamped as current when it holds no resource yet, and is stale otherwise (it was
 * indexed before the version was kept).
 */
export async function checkIndexVersion(ctx: ServiceContext): Promise<IndexState> {
  const recorded = await ctx.store.getRecord<number>(versionRecord.namespace, versionRecord.key);
  if (recorded === extractionVersion) return 'current';
  if (recorded === undefined) {
    let empty = true;
    for await (const _ of ctx.store.streamCurrent({})) {
      empty = false;
      break;
    }
    if (empty) {
      await ctx.store.write({ versions: [], records: [{ ...versionRecord, value: extractionVersion }] });
      return 'current';
    }
  }
  return 'stale';
}

export interface ReindexOptions {
  /** Only these types (all when absent). */
  types?: string[];
  /** Called after each batch with the number of resources reindexed so far. */
  onProgress?: (done: number) => void;
}

/**
 * Recomputes the search index of every current resource with today's extraction (R4 search
 * semantics unchanged, only the stored entries), in batches beside normal traffic: a resource
 * written meanwhile keeps the index its own write made. The patient kept with each version for
 * the audit trail is found again with it (a version written before patients were kept gains one
 * here); AuditEvents, whose own reads are rare, keep theirs as appended. Records the extraction
 * version when the whole store was done.
 */
export async function reindex(
  ctx: ServiceContext,
  options: ReindexOptions = {},
): Promise<{ resources: number; seconds: number }> {
  const started = performance.now();
  let batch: IndexRewrite[] = [];
  let done = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await ctx.store.write({ versions: [], reindex: batch });
    done += batch.length;
    batch = [];
    options.onProgress?.(done);
  };
  const query = options.types ? { types: options.types } : {};
  for await (const version of ctx.store.streamCurrent(query)) {
    if (version.json === undefined) continue;
    const resource = JSON.parse(version.json) as Resource;
    const facts = indexFacts(ctx, version.type, version.id, resource);
    batch.push({
      type: version.type,
      id: version.id,
      versionId: version.versionId,
      index: facts.index,
      ...(version.type === 'AuditEvent' ? {} : { patient: facts.patient }),
    });
    if (batch.length === batchSize) await flush();
  }
  await flush();
  if (!options.types) {
    await ctx.store.write({ versions: [], records: [{ ...versionRecord, value: extractionVersion }] });
  }
  return { resources: done, seconds: (performance.now() - started) / 1000 };
}
