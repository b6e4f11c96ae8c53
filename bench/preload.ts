import { silentLogger } from '../src/log.js';
import type { ServiceContext } from '../src/service/context.js';
import { stamp, versionWrite } from '../src/service/write-path.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { ResourceStore, VersionWrite } from '../src/store/store.js';
import type { Resource } from 'fhir/r4.js';
import { generateResources } from './generate.js';

/** A service context around `store`, for building writes exactly as the service does. */
export const benchContext = (store: ResourceStore): ServiceContext => ({
  store,
  baseUrl: 'http://localhost/fhir',
  log: silentLogger,
  now: () => new Date(),
});

/**
 * The version write a create of `resource` produces: the service's own `versionWrite` (stamped
 * JSON plus search index entries), or without the index when `index` is false.
 */
export function createWrite(
  ctx: ServiceContext,
  resource: Resource,
  lastUpdated: string,
  index: boolean,
): VersionWrite {
  const { resourceType: type, id = '' } = resource;
  if (index) return versionWrite(ctx, type, id, undefined, lastUpdated, resource);
  const json = JSON.stringify(stamp(resource, id, 1, lastUpdated));
  return { type, id, versionId: 1, lastUpdated, deleted: false, expectedVersionId: null, json };
}

/**
 * Fills the store at `path` with resources `from`..`to` of the data set of `seed`, in write sets
 * of `batch` versions (the fastest way in; no HTTP, no validation), and closes it.
 * Returns resources written per second.
 */
export async function preload(
  path: string,
  seed: number,
  range: { from: number; to: number },
  options: { index: boolean; batch?: number; onProgress?: (done: number) => void },
): Promise<number> {
  const batchSize = options.batch ?? 10_000;
  const store = new SqliteStore(path);
  const ctx = benchContext(store);
  const started = performance.now();
  try {
    let batch: VersionWrite[] = [];
    let done = 0;
    const lastUpdated = new Date().toISOString();
    for (const resource of generateResources(seed, range.from, range.to)) {
      batch.push(createWrite(ctx, resource, lastUpdated, options.index));
      if (batch.length === batchSize) {
        await store.write({ versions: batch });
        done += batch.length;
        batch = [];
        if (done % 100_000 === 0) options.onProgress?.(done);
      }
    }
    if (batch.length > 0) await store.write({ versions: batch });
  } finally {
    await store.close();
  }
  return (range.to - range.from) / ((performance.now() - started) / 1000);
}
