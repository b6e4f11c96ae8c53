import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Resource } from 'fhir/r4.js';
import { compartmentPatients } from '../auth/access.js';
import { compartmentParams } from '../fhir/compartments.js';
import { subsetResource } from '../fhir/subset.js';
import type { StoredVersion } from '../store/store.js';
import type { ServiceContext } from '../service/context.js';
import { expandModifiers } from '../service/expand-modifiers.js';
import { parseFor } from '../service/search.js';

/**
 * One Bulk Data export (Bulk Data Access IG 2.0.0): the resources a kick-off asked for, as NDJSON
 * files of one type each, split at a size, written as they stream from one consistent snapshot of
 * the store, so memory stays flat however much there is.
 */

export interface ExportSpec {
  level: 'system' | 'patient' | 'group';
  /** The exported types, resolved and checked (never empty). */
  types: string[];
  /** Only resources changed at or after this instant; deletions since then are listed too. */
  since?: string;
  /** Per type, search queries whose union is exported instead of every resource of the type. */
  typeFilters: Record<string, [string, string][][]>;
  /** Elements kept (R4 search `_elements`), with the mandatory ones. */
  elements?: string[];
  /**
   * The patients whose compartments are exported (Group members, the `patient` parameter, a
   * patient token); undefined at the patient level means every patient.
   */
  patients?: string[];
  /** Problems of the request noted instead of refused (`handling=lenient`). */
  notes: string[];
}

export interface ExportFile {
  type: string;
  name: string;
  count: number;
  bytes: number;
}

export interface ExportOutcome {
  transactionTime: string;
  output: ExportFile[];
  deleted: ExportFile[];
  error: ExportFile[];
}

export interface ExportProgress {
  resources: number;
  type?: string;
}

export interface RunOptions {
  /** Start a new file once one reaches this many bytes. */
  maxFileBytes: number;
  onProgress?(progress: ExportProgress): void;
  /** Checked between batches: a cancelled export stops. */
  cancelled?(): boolean;
}

export class ExportCancelled extends Error {
  constructor() {
    super('the export was cancelled');
    this.name = 'ExportCancelled';
  }
}

/** NDJSON files of one kind (`Observation`, `errors`, …), a new file at each size limit. */
class SplitWriter {
  private stream?: WriteStream;
  private current?: ExportFile;
  readonly files: ExportFile[] = [];
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly type: string,
    private readonly prefix: string,
    private readonly maxBytes: number,
  ) {}

  /** Queues a line; true when enough is queued that the caller should `flush()`. */
  push(line: string): boolean {
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    const file = this.current ?? this.open();
    file.count++;
    return this.pendingBytes >= 256 * 1024 || file.bytes + this.pendingBytes >= this.maxBytes;
  }

  async add(line: string): Promise<void> {
    if (this.push(line)) await this.flush();
  }

  private open(): ExportFile {
    const name = `${this.prefix}-${this.files.length + 1}.ndjson`;
    const file = { type: this.type, name, count: 0, bytes: 0 };
    this.current = file;
    this.files.push(file);
    this.stream = createWriteStream(join(this.dir, name));
    return file;
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0 || !this.stream || !this.current) return;
    const chunk = `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.pendingBytes = 0;
    const bytes = Buffer.byteLength(chunk);
    this.current.bytes += bytes;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
    if (this.current.bytes >= this.maxBytes) await this.close();
  }

  async close(): Promise<void> {
    await this.flush();
    const stream = this.stream;
    this.stream = undefined;
    this.current = undefined;
    if (stream) {
      stream.end();
      await once(stream, 'finish');
    }
  }
}

/** The resource as exported: whole, or with only the requested elements (marked SUBSETTED). */
function line(version: StoredVersion, elements: string[] | undefined): string {
  if (!elements) return version.json ?? '';
  return JSON.stringify(subsetResource(JSON.parse(version.json ?? '{}') as Resource, undefined, elements));
}

/** Whether a resource belongs to the exported patients' compartments. */
function forPatients(version: StoredVersion, patients: ReadonlySet<string> | undefined): boolean {
  if (version.type === 'Patient') return patients === undefined || patients.has(version.id);
  const resource = JSON.parse(version.json ?? '{}') as Resource;
  const found = compartmentPatients(resource);
  return patients === undefined ? found.length > 0 : found.some((p) => patients.has(p));
}

/** Every resource of `type` matching one of the queries, through the search engine, each once. */
async function* filtered(
  ctx: ServiceContext,
  type: string,
  queries: [string, string][][],
  since: string | undefined,
): AsyncIterable<StoredVersion> {
  const seen = new Set<string>();
  for (const params of queries) {
    const all: [string, string][] = [...params.filter(([n]) => n !== '_count'), ['_count', '1000']];
    if (since !== undefined) all.push(['_lastUpdated', `ge${since}`]);
    const query = parseFor(ctx, type, all, true).query;
    query.filters = await expandModifiers(ctx, query.types, query.filters);
    query.include = [];
    query.revinclude = [];
    query.total = 'none';
    for (;;) {
      const page = await ctx.store.search(query);
      for (const v of page.matches) {
        if (seen.has(v.id)) continue;
        seen.add(v.id);
        yield v;
      }
      if (page.next === undefined) break;
      query.cursor = page.next;
    }
  }
}

/** Lets the event loop answer other requests now and then during a long export. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs an export into `dir`: one snapshot stream for the unfiltered types, the search engine for
 * the types with `_typeFilter`, deletions since `_since` from the history, problems as
 * OperationOutcome NDJSON.
 */
export async function runExport(
  ctx: ServiceContext,
  spec: ExportSpec,
  dir: string,
  options: RunOptions,
): Promise<ExportOutcome> {
  mkdirSync(dir, { recursive: true });
  const transactionTime = ctx.now().toISOString();
  const writers = new Map<string, SplitWriter>();
  const writer = (type: string): SplitWriter => {
    let w = writers.get(type);
    if (!w) {
      w = new SplitWriter(dir, type, type, options.maxFileBytes);
      writers.set(type, w);
    }
    return w;
  };
  const errors = new SplitWriter(dir, 'OperationOutcome', 'errors', options.maxFileBytes);
  const deleted = new SplitWriter(dir, 'Bundle', 'deleted', options.maxFileBytes);
  for (const note of spec.notes) {
    await errors.add(
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'warning', code: 'not-supported', diagnostics: note }],
      }),
    );
  }
  const patientLevel = spec.level !== 'system';
  const patients = spec.patients && new Set(spec.patients);
  let resources = 0;
  // the hot loop: awaits only when a file needs writing or every few thousand resources
  const take = (version: StoredVersion): Promise<void> | undefined => {
    if (patientLevel && !forPatients(version, patients)) return undefined;
    const w = writer(version.type);
    const full = w.push(line(version, spec.elements));
    resources++;
    const tick = resources % 2000 === 0;
    if (!full && !tick) return undefined;
    return (async () => {
      if (full) await w.flush();
      if (tick) {
        options.onProgress?.({ resources, type: version.type });
        if (options.cancelled?.()) throw new ExportCancelled();
        await yieldToLoop();
      }
    })();
  };

  const plain = spec.types.filter((t) => spec.typeFilters[t] === undefined);
  if (plain.length > 0) {
    for await (const version of ctx.store.streamCurrent({
      types: plain,
      ...(spec.since !== undefined ? { since: spec.since } : {}),
    })) {
      const pending = take(version);
      if (pending) await pending;
    }
  }
  for (const [type, queries] of Object.entries(spec.typeFilters)) {
    for await (const version of filtered(ctx, type, queries, spec.since)) await take(version);
  }

  if (spec.since !== undefined && !patientLevel) {
    await listDeleted(ctx, spec, deleted);
  }
  for (const w of writers.values()) await w.close();
  await errors.close();
  await deleted.close();
  options.onProgress?.({ resources });
  return {
    transactionTime,
    output: [...writers.values()].flatMap((w) => w.files),
    deleted: deleted.files,
    error: errors.files,
  };
}

/**
 * Resources deleted since `_since` that are still deleted: transaction Bundles of DELETE entries
 * (Bulk Data IG: the manifest's `deleted`), up to 1000 entries a line.
 */
async function listDeleted(ctx: ServiceContext, spec: ExportSpec, out: SplitWriter): Promise<void> {
  const types = new Set(spec.types);
  const listed = new Set<string>();
  let entries: { request: { method: 'DELETE'; url: string } }[] = [];
  const flush = async (): Promise<void> => {
    if (entries.length === 0) return;
    await out.add(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }));
    entries = [];
  };
  let cursor: string | undefined;
  do {
    const page = await ctx.store.history({
      since: spec.since,
      count: 1000,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    for (const v of page.versions) {
      const key = `${v.type}/${v.id}`;
      if (!v.deleted || !types.has(v.type) || listed.has(key)) continue;
      listed.add(key);
      const current = await ctx.store.readCurrent(v.type, v.id);
      if (!current?.deleted) continue;
      entries.push({ request: { method: 'DELETE', url: key } });
      if (entries.length === 1000) await flush();
    }
    cursor = page.next;
  } while (cursor !== undefined);
  await flush();
}

/** The types a patient-level export covers: Patient and every type in the Patient compartment. */
export function patientCompartmentTypes(types: readonly string[]): string[] {
  return types.filter((t) => t === 'Patient' || compartmentParams('Patient', t) !== undefined);
}
