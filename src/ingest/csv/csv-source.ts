import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CsvSource } from './ingest-csv.js';

/**
 * Where a CSV comes from. A file is read twice: once for its SHA-256 (Provenance names the file
 * by it, and an interrupted ingest is resumed by it), then for its rows; both in constant memory.
 */

/** The SHA-256 of a file, streamed. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** A file on disk; `name` defaults to its base name. */
export async function fileSource(path: string, name = basename(path)): Promise<CsvSource> {
  const sha256 = await sha256OfFile(path);
  return { name, sha256, open: () => createReadStream(path, { highWaterMark: 256 * 1024 }) };
}

/** A CSV already in memory (a replayed dead letter, a test). */
export function bufferSource(name: string, bytes: Buffer, sha256?: string): CsvSource {
  return {
    name,
    sha256: sha256 ?? createHash('sha256').update(bytes).digest('hex'),
    open: () => Readable.from([bytes]),
  };
}
