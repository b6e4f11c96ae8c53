import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { ResourceStore, SnapshotVersion, StoredRecord } from '../store/store.js';
import { encryptStream, keyId } from './cipher.js';
import {
  BackupError,
  formatName,
  formatVersion,
  manifestName,
  partFiles,
  type AuditLinkLine,
  type Manifest,
  type ManifestFile,
  type Part,
  type RecordLine,
  type VersionLine,
} from './format.js';
import { ndjsonChunks } from './ndjson.js';

/**
 * Fast compression: FHIR JSON still shrinks several times, and the backup is bound by the
 * compressor's speed (it runs on the libuv pool, off the main thread).
 */
const gzipLevel = 1;

export interface BackupOptions {
  /** Encrypts every file with AES-256-GCM when given. */
  key?: Buffer;
  /** Called now and then with the number of versions written so far. */
  onProgress?: (versions: number) => void;
  /** Stops the backup (its files are left incomplete, without a manifest). */
  signal?: AbortSignal;
}

/**
 * Writes a backup of everything in `store` to `dir` (created; it must be empty): every version of
 * every resource, the audit trail's links and every keyed record, from one consistent snapshot
 * taken as it starts, while the store goes on serving. Streams: memory stays flat whatever the
 * size. The manifest is written last, after every file is on disk.
 */
export async function writeBackup(
  store: ResourceStore,
  dir: string,
  options: BackupOptions = {},
): Promise<Manifest> {
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0)
    throw new BackupError(`${dir} is not empty; back up into a new folder`);
  const createdAt = new Date().toISOString();
  const snapshot = await store.snapshot();
  const counts: Manifest['counts'] = { versions: 0, resources: 0, deleted: 0, auditRecords: 0, records: {} };
  let auditHead: Manifest['auditHead'];
  const files: ManifestFile[] = [];
  try {
    const versions = mapItems(snapshot.versions(), (v: SnapshotVersion): VersionLine => {
      counts.versions++;
      if (v.current) {
        counts.resources++;
        if (v.deleted) counts.deleted++;
      }
      if (counts.versions % 10_000 === 0) options.onProgress?.(counts.versions);
      const line: VersionLine = {
        type: v.type,
        id: v.id,
        versionId: v.versionId,
        lastUpdated: v.lastUpdated,
        deleted: v.deleted,
        current: v.current,
      };
      if (v.json !== undefined) line.json = v.json;
      return line;
    });
    files.push(await writePart(dir, 'versions', versions, () => counts.versions, options));
    const links = mapItems(snapshot.auditLinks(), (l): AuditLinkLine => {
      counts.auditRecords++;
      auditHead = { sequence: l.sequence, hash: l.hash };
      return { sequence: l.sequence, id: l.id, hash: l.hash };
    });
    files.push(await writePart(dir, 'audit-links', links, () => counts.auditRecords, options));
    const records = mapItems(snapshot.records(), (r: StoredRecord): RecordLine => {
      counts.records[r.namespace] = (counts.records[r.namespace] ?? 0) + 1;
      return r.expiresAt === undefined
        ? { namespace: r.namespace, key: r.key, json: r.json }
        : { namespace: r.namespace, key: r.key, json: r.json, expiresAt: r.expiresAt };
    });
    files.push(
      await writePart(
        dir,
        'records',
        records,
        () => Object.values(counts.records).reduce((a, b) => a + b, 0),
        options,
      ),
    );
  } finally {
    await snapshot.close();
  }
  options.onProgress?.(counts.versions);
  const manifest: Manifest = { format: formatName, formatVersion, createdAt, files, counts };
  if (options.key) {
    manifest.encryption = {
      algorithm: 'aes-256-gcm',
      keyId: keyId(options.key),
      layout: 'iv(12) ciphertext tag(16); additional data: the file name',
    };
  }
  if (auditHead) manifest.auditHead = auditHead;
  const path = join(dir, manifestName);
  await writeFile(path, JSON.stringify(manifest, null, 2) + '\n', { flag: 'wx' });
  await syncFile(path);
  await syncFile(dir);
  return manifest;
}

async function* mapItems<T, U>(items: AsyncIterable<T>, map: (item: T) => U): AsyncIterable<U> {
  for await (const item of items) yield map(item);
}

/** Writes one part: NDJSON → gzip → (AES-256-GCM) → file, hashing what reaches the disk. */
async function writePart(
  dir: string,
  part: Part,
  items: AsyncIterable<object>,
  /** The lines written, known once the file is. */
  count: () => number,
  options: BackupOptions,
): Promise<ManifestFile> {
  const name = options.key ? `${partFiles[part]}.enc` : partFiles[part];
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  const path = join(dir, name);
  await pipeline(
    [
      Readable.from(ndjsonChunks(items)),
      createGzip({ level: gzipLevel }),
      ...(options.key ? [encryptStream(options.key, name)] : []),
      tap,
      createWriteStream(path, { flags: 'wx' }),
    ],
    options.signal ? { signal: options.signal } : {},
  );
  await syncFile(path);
  return { name, part, count: count(), bytes, sha256: hash.digest('hex') };
}

/** fsync: the file (or a folder's entries) is on disk before the manifest says the backup is whole. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
