import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import type { AuditAppend, ResourceStore } from '../store/store.js';

/**
 * The registry of SMART clients (namespace `smart-client` in the store): who may ask for a token,
 * how it proves who it is (a JWKS or a JWKS URL for SMART Backend Services, or a secret for
 * simple integrations) and which scopes it may be granted.
 */

const namespace = 'smart-client';

export interface SecretHash {
  /** scrypt parameters and output, base64url. */
  salt: string;
  hash: string;
  N: number;
  r: number;
  p: number;
}

export interface RegisteredClient {
  id: string;
  /** The scopes the client may be granted (space-separated in the CLI). */
  scope: string[];
  jwks?: JSONWebKeySet;
  jwksUrl?: string;
  secret?: SecretHash;
  /** A patient the client is bound to: its tokens carry this launch context. */
  patient?: string;
  /** ISO instant. */
  createdAt: string;
}

const clientId = /^[A-Za-z0-9._~-]{1,128}$/;

/** Whether a client id is acceptable (URL- and header-safe). */
export function validClientId(id: string): boolean {
  return clientId.test(id);
}

function scryptAsync(secret: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, 32, { N, r, p, maxmem: 64 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** A new random client secret and its stored hash; the secret itself is never stored. */
export async function newSecret(): Promise<{ secret: string; hash: SecretHash }> {
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  const params = { N: 16384, r: 8, p: 1 };
  const hash = await scryptAsync(secret, salt, params.N, params.r, params.p);
  return { secret, hash: { salt: salt.toString('base64url'), hash: hash.toString('base64url'), ...params } };
}

/** Whether `secret` is the client's secret (constant-time comparison). */
export async function secretMatches(stored: SecretHash, secret: string): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64url');
  const actual = await scryptAsync(
    secret,
    Buffer.from(stored.salt, 'base64url'),
    stored.N,
    stored.r,
    stored.p,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export async function readClient(store: ResourceStore, id: string): Promise<RegisteredClient | undefined> {
  return validClientId(id) ? store.getRecord<RegisteredClient>(namespace, id) : undefined;
}

export async function listClients(store: ResourceStore): Promise<RegisteredClient[]> {
  return (await store.listRecords<RegisteredClient>(namespace)).map((r) => r.value);
}

/**
 * Registers a client; fails with RecordExistsError when the id is taken. `audit` (the change's
 * AuditEvents) is written in the same transaction.
 */
export async function addClient(
  store: ResourceStore,
  client: RegisteredClient,
  audit: AuditAppend[] = [],
): Promise<void> {
  await store.write({
    versions: [],
    records: [{ namespace, key: client.id, value: client, ifAbsent: true }],
    audit,
  });
}

/** Removes a client (with `audit`, as addClient); its tokens already issued stay valid until they expire. */
export async function removeClient(
  store: ResourceStore,
  id: string,
  audit: AuditAppend[] = [],
): Promise<boolean> {
  if (!(await readClient(store, id))) return false;
  await store.write({ versions: [], records: [{ namespace, key: id, value: null }], audit });
  return true;
}
