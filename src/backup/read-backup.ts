import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline as pipelineCallback, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { decryptStream, keyId } from './cipher.js';
import { BackupError, type Manifest, type ManifestFile } from './format.js';
import { lines } from './ndjson.js';

/**
 * Reading a backup: every file is checked before any is used — its SHA-256 against the
 * manifest, then decrypted (the GCM tag proves the key and the content) and decompressed, its
 * lines counted against the manifest. Only then are the files read again, line by line.
 */

/** Refuses an encrypted backup without a key, and a key the backup was not made with. */
export function checkKey(manifest: Manifest, key: Buffer | undefined): void {
  if (manifest.encryption && !key) {
    throw new BackupError('the backup is encrypted: set FERRY_BACKUP_KEY or pass --key-file');
  }
}

/** Checks every file of the backup; throws a BackupError naming the first bad one. */
export async function verifyBackup(dir: string, manifest: Manifest, key: Buffer | undefined): Promise<void> {
  checkKey(manifest, key);
  for (const file of manifest.files) await verifyChecksum(dir, file);
  for (const file of manifest.files) await verifyContent(dir, manifest, file, key);
}

async function verifyChecksum(dir: string, file: ManifestFile): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(join(dir, file.name))) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    throw new BackupError(`${file.name}: cannot be read (${(error as Error).message})`);
  }
  if (bytes !== file.bytes || hash.digest('hex') !== file.sha256) {
    throw new BackupError(
      `${file.name}: its SHA-256 is not the one in the manifest: the file is corrupted or was changed`,
    );
  }
}

async function verifyContent(
  dir: string,
  manifest: Manifest,
  file: ManifestFile,
  key: Buffer | undefined,
): Promise<void> {
  let newlines = 0;
  let last = 0x0a;
  const counter = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) newlines++;
      if (chunk.length > 0) last = chunk[chunk.length - 1] ?? last;
      callback();
    },
  });
  try {
    await pipeline([createReadStream(join(dir, file.name)), ...decoders(manifest, file, key), counter]);
  } catch (error) {
    throw new BackupError(`${file.name}: ${readFailure(manifest, key, error)}`);
  }
  const count = newlines + (last === 0x0a ? 0 : 1);
  if (count !== file.count) {
    throw new BackupError(`${file.name}: holds ${count} lines where the manifest says ${file.count}`);
  }
}

function decoders(manifest: Manifest, file: ManifestFile, key: Buffer | undefined): NodeJS.ReadWriteStream[] {
  const gunzip = createGunzip();
  return manifest.encryption && key ? [decryptStream(key, file.name), gunzip] : [gunzip];
}

/** Why a file could not be decrypted or decompressed, in words an operator can act on. */
function readFailure(manifest: Manifest, key: Buffer | undefined, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (manifest.encryption && key) {
    if (keyId(key) !== manifest.encryption.keyId) {
      return `cannot be decrypted: the key is not the one the backup was made with (key id ${manifest.encryption.keyId})`;
    }
    if (message === 'authentication failed') return 'cannot be decrypted: the file was altered';
  }
  return `cannot be read (${message})`;
}

/**
 * The objects of one (verified) file, in order. Parse errors name the file and line.
 */
export async function* readLines<T>(
  dir: string,
  manifest: Manifest,
  file: ManifestFile,
  key: Buffer | undefined,
): AsyncIterable<T> {
  const source = createReadStream(join(dir, file.name));
  // pipeline destroys every stage with the first error, so the iteration below sees it
  const stream = pipelineCallback(
    [source, ...decoders(manifest, file, key)],
    () => undefined,
  ) as unknown as Readable;
  stream.setEncoding('utf8');
  let n = 0;
  try {
    for await (const line of lines(stream as AsyncIterable<string>)) {
      n++;
      if (line === '') continue;
      try {
        yield JSON.parse(line) as T;
      } catch {
        throw new BackupError(`${file.name}: line ${n} is not JSON`);
      }
    }
  } finally {
    stream.destroy();
  }
}
