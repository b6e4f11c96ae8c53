import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The layout of a backup folder: gzip-compressed NDJSON files (AES-256-GCM encrypted when a key
 * is set) and manifest.json, written last, which names each file with its line count, size and
 * SHA-256. A folder without a manifest is not a backup (one was interrupted).
 */

export const manifestName = 'manifest.json';
export const formatName = 'ferry-backup';
export const formatVersion = 1;

/** What each file holds, one JSON object per line. */
export type Part = 'versions' | 'audit-links' | 'records';

/** The file of each part, before the `.enc` an encrypted backup adds. */
export const partFiles: Record<Part, string> = {
  versions: 'resources.ndjson.gz',
  'audit-links': 'audit-chain.ndjson.gz',
  records: 'records.ndjson.gz',
};

/** A line of resources.ndjson.gz: one stored version, its JSON text kept byte for byte. */
export interface VersionLine {
  type: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  /** This is its resource's current version (the one the search index describes). */
  current: boolean;
  /** The stored JSON text (absent for a tombstone): AuditEvent hashes depend on every byte. */
  json?: string;
}

/** A line of audit-chain.ndjson.gz: one link (the AuditEvent itself is in resources). */
export interface AuditLinkLine {
  sequence: number;
  id: string;
  hash: string;
}

/** A line of records.ndjson.gz: one keyed record, its value as the stored JSON text. */
export interface RecordLine {
  namespace: string;
  key: string;
  json: string;
  expiresAt?: number;
}

export interface ManifestFile {
  name: string;
  part: Part;
  /** Lines (objects) in the file. */
  count: number;
  /** Size of the file as written (compressed, and encrypted when it is). */
  bytes: number;
  /** SHA-256 of the file as written, hex. */
  sha256: string;
}

export interface Manifest {
  format: typeof formatName;
  formatVersion: number;
  /** When the snapshot was taken: the backup holds everything committed before this instant. */
  createdAt: string;
  /** Absent when the files are not encrypted. */
  encryption?: {
    algorithm: 'aes-256-gcm';
    /** Names the key without revealing it: HMAC-SHA-256(key, "ferry-backup-key-id"), 16 hex digits. */
    keyId: string;
    /** How each file is laid out. */
    layout: 'iv(12) ciphertext tag(16); additional data: the file name';
  };
  files: ManifestFile[];
  counts: {
    /** Every version, tombstones and AuditEvents included. */
    versions: number;
    /** Resources (each has one current version). */
    resources: number;
    /** Resources whose current version is a delete. */
    deleted: number;
    auditRecords: number;
    /** Keyed records per namespace. */
    records: Record<string, number>;
  };
  /** The last link of the audit trail (anchor it elsewhere to detect a rewritten tail). */
  auditHead?: { sequence: number; hash: string };
}

/** A backup that cannot be read or restored; the message names the file when one is at fault. */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

/** Reads and checks the manifest of the backup in `dir`. */
export async function readManifest(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(dir, manifestName), 'utf8');
  } catch {
    throw new BackupError(`${dir} has no ${manifestName}: it is not a complete backup`);
  }
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(text) as Partial<Manifest>;
  } catch {
    throw new BackupError(`${manifestName}: not valid JSON (the file is corrupted)`);
  }
  if (manifest.format !== formatName || !Array.isArray(manifest.files) || !manifest.counts) {
    throw new BackupError(`${manifestName}: not a Ferry backup manifest`);
  }
  if (manifest.formatVersion !== formatVersion) {
    throw new BackupError(
      `${manifestName}: backup format ${String(manifest.formatVersion)} is not one this Ferry reads (${formatVersion})`,
    );
  }
  for (const part of Object.keys(partFiles) as Part[]) {
    if (!manifest.files.some((f) => f.part === part))
      throw new BackupError(`${manifestName}: names no file for ${part}`);
  }
  return manifest as Manifest;
}
