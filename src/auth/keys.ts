import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyObject } from 'jose';
import type { AuditAppend, ResourceStore } from '../store/store.js';

/**
 * Ferry's own signing keys, for the access tokens it issues. Kept in the store (namespace
 * `signing-key`) so every Ferry process on one store signs and verifies with the same keys.
 * The newest key signs; older ones stay published and accepted until the tokens they signed have
 * expired (`ferry keys rotate`).
 */

const namespace = 'signing-key';
/** RS384: one of the two algorithms SMART names, and the faster of them to verify. */
export const tokenAlgorithm = 'RS384';

export interface StoredKey {
  kid: string;
  alg: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms after which the key no longer verifies (set when a newer key replaces it). */
  retiresAt?: number;
  publicJwk: JWK;
  privateJwk: JWK;
}

interface LoadedKey {
  stored: StoredKey;
  publicKey: KeyObject;
  privateKey?: KeyObject;
}

async function newKey(now: number): Promise<StoredKey> {
  const { publicKey, privateKey } = await generateKeyPair(tokenAlgorithm, {
    modulusLength: 2048,
    extractable: true,
  });
  const kid = `${new Date(now).toISOString().slice(0, 10)}-${randomBytes(6).toString('hex')}`;
  const meta = { kid, alg: tokenAlgorithm, use: 'sig' };
  return {
    kid,
    alg: tokenAlgorithm,
    createdAt: now,
    publicJwk: { ...(await exportJWK(publicKey)), ...meta },
    privateJwk: { ...(await exportJWK(privateKey)), ...meta },
  };
}

async function storedKeys(store: ResourceStore): Promise<StoredKey[]> {
  return (await store.listRecords<StoredKey>(namespace)).map((r) => r.value);
}

/** Adds a key to the store, its AuditEvents in the same transaction, and returns it. */
async function addKey(
  store: ResourceStore,
  now: number,
  audit: (key: StoredKey) => AuditAppend[],
): Promise<StoredKey> {
  const key = await newKey(now);
  await store.write({
    versions: [],
    records: [{ namespace, key: key.kid, value: key, ifAbsent: true }],
    audit: audit(key),
  });
  return key;
}

/** What a rotation did: the key added, the keys now retiring and the kids of those removed. */
export interface KeyRotation {
  added: StoredKey;
  retiring: StoredKey[];
  removed: string[];
}

/**
 * Adds a new signing key; the ones before it keep verifying for `graceSeconds` (the longest a
 * token they signed can live), and keys whose grace has passed are removed.
 */
export async function rotateKeys(
  store: ResourceStore,
  graceSeconds: number,
  now = Date.now(),
  audit: (rotation: KeyRotation) => AuditAppend[] = () => [],
): Promise<KeyRotation> {
  const existing = await storedKeys(store);
  const added = await newKey(now);
  const retiring: StoredKey[] = [];
  const removed: string[] = [];
  const records = [{ namespace, key: added.kid, value: added as unknown, ifAbsent: true }];
  for (const key of existing) {
    if (key.retiresAt !== undefined && key.retiresAt <= now) {
      removed.push(key.kid);
      records.push({ namespace, key: key.kid, value: null, ifAbsent: false });
    } else if (key.retiresAt === undefined) {
      const retired = { ...key, retiresAt: now + graceSeconds * 1000 };
      retiring.push(retired);
      records.push({ namespace, key: key.kid, value: retired, ifAbsent: false });
    }
  }
  // the rotation's AuditEvents go in its own transaction
  await store.write({ versions: [], records, audit: audit({ added, retiring, removed }) });
  return { added, retiring, removed };
}

/** The keys of one process: loaded from the store, reloaded when an unknown `kid` appears. */
export class KeyRing {
  private keys = new Map<string, LoadedKey>();
  private loadedAt = 0;
  private reloading: Promise<void> | undefined;

  private constructor(
    private readonly store: ResourceStore,
    private readonly now: () => number,
  ) {}

  /**
   * Loads the store's keys, creating the first one when there is none; `audit` gives the
   * AuditEvents of that creation, stored with the key.
   */
  static async open(
    store: ResourceStore,
    now: () => number = Date.now,
    audit: (key: StoredKey) => AuditAppend[] = () => [],
  ): Promise<KeyRing> {
    const ring = new KeyRing(store, now);
    await ring.reload();
    if (ring.keys.size === 0) {
      await addKey(store, now(), audit);
      await ring.reload();
    }
    return ring;
  }

  /** Reads the keys again (after a rotation by another process). */
  async reload(): Promise<void> {
    this.reloading ??= (async () => {
      const next = new Map<string, LoadedKey>();
      for (const stored of await storedKeys(this.store)) {
        const known = this.keys.get(stored.kid);
        const loaded: LoadedKey = known
          ? { ...known, stored }
          : {
              stored,
              publicKey: (await importJWK(stored.publicJwk, stored.alg)) as KeyObject,
              privateKey: (await importJWK(stored.privateJwk, stored.alg)) as KeyObject,
            };
        next.set(stored.kid, loaded);
      }
      this.keys = next;
      this.loadedAt = this.now();
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /** Reloads when the keys were read longer ago than `maxAgeMs` (a rotation elsewhere shows up). */
  async refresh(maxAgeMs: number): Promise<void> {
    if (this.now() - this.loadedAt >= maxAgeMs) await this.reload();
  }

  private live(key: LoadedKey): boolean {
    return key.stored.retiresAt === undefined || key.stored.retiresAt > this.now();
  }

  /** The key that signs new tokens: the newest that is not retiring. */
  signingKey(): { kid: string; alg: string; privateKey: KeyObject } {
    let best: LoadedKey | undefined;
    for (const key of this.keys.values()) {
      if (key.stored.retiresAt !== undefined || !key.privateKey) continue;
      if (!best || key.stored.createdAt > best.stored.createdAt) best = key;
    }
    best ??= [...this.keys.values()]
      .filter((k) => this.live(k))
      .sort((a, b) => b.stored.createdAt - a.stored.createdAt)[0];
    if (!best?.privateKey) throw new Error('no signing key is available; run "ferry keys rotate"');
    return { kid: best.stored.kid, alg: best.stored.alg, privateKey: best.privateKey };
  }

  /**
   * The public key for `kid`, or undefined when no live key has it. An unknown `kid` reloads the
   * keys at most once a second, so a key added by another process is found without a restart.
   */
  async verificationKey(kid: string | undefined): Promise<KeyObject | undefined> {
    if (kid === undefined) return undefined;
    let key = this.keys.get(kid);
    if (!key && this.now() - this.loadedAt > 1000) {
      await this.reload();
      key = this.keys.get(kid);
    }
    return key && this.live(key) ? key.publicKey : undefined;
  }

  /** The published JWKS: every key that still verifies, public parts only. */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.keys.values()].filter((k) => this.live(k)).map((k) => k.stored.publicJwk) };
  }
}
