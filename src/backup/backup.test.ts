import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { AuditEvent, Bundle, Patient } from 'fhir/r4.js';
import { verifyAuditChain } from '../audit/verify-chain.js';
import { silentLogger } from '../log.js';
import type { ServiceContext } from '../service/context.js';
import { deleteResource } from '../service/delete.js';
import { searchResources } from '../service/search.js';
import { updateResource } from '../service/update.js';
import { versionWrite } from '../service/write-path.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { AuditAppend, ResourceStore, StoredVersion } from '../store/store.js';
import { BackupError, type Manifest } from './format.js';
import { RestoreIncompleteError, restoreBackup } from './restore-backup.js';
import { writeBackup } from './write-backup.js';

let dir: string;
let n = 0;
const context = (store: ResourceStore): ServiceContext => ({
  store,
  baseUrl: 'http://localhost/fhir',
  log: silentLogger,
  now: () => new Date(Date.parse('2026-03-01T00:00:00.000Z') + ++n * 1000),
});
const open = (name: string): SqliteStore => new SqliteStore(join(dir, name, 'ferry.db'));

function audit(): AuditAppend {
  const lastUpdated = new Date(Date.parse('2026-03-02T00:00:00.000Z') + ++n * 1000).toISOString();
  const resource: AuditEvent = {
    resourceType: 'AuditEvent',
    id: `audit-${n}`,
    meta: { versionId: '1', lastUpdated },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: lastUpdated,
    agent: [{ requestor: true, who: { display: 'test' } }],
    source: { observer: { display: 'ferry' } },
  };
  return { id: resource.id ?? '', lastUpdated, resource };
}

/** A store with versions, a deleted resource, an audit trail and records in two namespaces. */
async function fill(store: ResourceStore): Promise<void> {
  const ctx = context(store);
  for (let i = 0; i < 30; i++) {
    const patient: Patient = {
      resourceType: 'Patient',
      id: `p${i}`,
      name: [{ family: i % 2 ? 'Lee' : 'Okafor', given: ['Ann'] }],
      gender: 'female',
    };
    await updateResource(ctx, 'Patient', `p${i}`, patient);
    if (i % 3 === 0) await updateResource(ctx, 'Patient', `p${i}`, { ...patient, gender: 'other' });
  }
  await deleteResource(ctx, 'Patient', 'p1');
  await deleteResource(ctx, 'Patient', 'p3');
  await updateResource(ctx, 'Patient', 'p3', { resourceType: 'Patient', id: 'p3', gender: 'male' });
  for (let i = 0; i < 12; i++) await store.write({ versions: [], audit: [audit()] });
  await store.write({
    versions: [],
    records: [
      { namespace: 'client', key: 'lab', value: { scope: 'system/*.rs', note: 'ü ✓' } },
      { namespace: 'key', key: 'k1', value: { kty: 'EC' }, expiresAt: Date.now() + 3_600_000 },
      { namespace: 'dead-letter', key: 'd1', value: { text: 'MSH|^~\\&|' } },
    ],
  });
}

/**
 * Every version as stored, without the patient the store keeps beside it: a restore finds that
 * again for current versions only (earlier ones find it from their JSON when read).
 */
async function allVersions(store: ResourceStore): Promise<StoredVersion[]> {
  return (await store.history({ count: 100_000 })).versions.map(({ patient: _kept, ...v }) => v);
}

async function recordsOf(store: ResourceStore): Promise<unknown[]> {
  const out = [];
  for (const ns of ['client', 'key', 'dead-letter']) out.push(...(await store.listRecords(ns)));
  return out;
}

const search = async (store: ResourceStore, params: [string, string][]): Promise<string[]> => {
  const bundle: Bundle = await searchResources(context(store), { type: 'Patient', params, strict: true });
  return (bundle.entry ?? []).map((e) => e.resource?.id ?? '').sort();
};

const refusal = (pattern: RegExp) => (e: unknown) => e instanceof BackupError && pattern.test(e.message);

describe('backup and restore', () => {
  let source: SqliteStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-backup-'));
    source = open('source');
    await fill(source);
  });
  afterEach(async () => {
    await source.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restores every version exactly, the records, the search index and a verifiable audit trail', async () => {
    const manifest = await writeBackup(source, join(dir, 'b'));
    assert.equal(manifest.counts.resources, 30 + 12);
    assert.equal(manifest.counts.deleted, 1);
    assert.equal(manifest.counts.auditRecords, 12);
    assert.deepEqual(manifest.counts.records, { client: 1, 'dead-letter': 1, key: 1 });
    const target = open('target');
    try {
      const report = await restoreBackup(context(target), join(dir, 'b'));
      assert.equal(report.versions, manifest.counts.versions);
      assert.equal(report.audit.broken, undefined);
      assert.equal(report.audit.records, 12);
      // ids, versionIds, lastUpdated, bodies and tombstones, in the same history order
      assert.deepEqual(await allVersions(target), await allVersions(source));
      assert.deepEqual(await recordsOf(target), await recordsOf(source));
      assert.equal((await target.readCurrent('Patient', 'p1'))?.deleted, true);
      assert.equal((await target.readVersion('Patient', 'p3', 4))?.deleted, false);
      assert.equal((await target.readVersion('Patient', 'p3', 3))?.deleted, true);
      assert.equal((await target.readCurrent('Patient', 'p3'))?.patient, 'Patient/p3');
      for (const params of [
        [['family', 'lee']],
        [['gender', 'other']],
        [['gender', 'male']],
        [['name', 'okafor']],
      ] as [string, string][][]) {
        assert.deepEqual(await search(target, params), await search(source, params), JSON.stringify(params));
      }
      assert.deepEqual((await verifyAuditChain(target)).head, (await verifyAuditChain(source)).head);
    } finally {
      await target.close();
    }
  });

  it('encrypts every file, and restores with the same key', async () => {
    const key = randomBytes(32);
    const manifest = await writeBackup(source, join(dir, 'b'), { key });
    assert.ok(manifest.encryption);
    assert.deepEqual(
      manifest.files.map((f) => f.name),
      ['resources.ndjson.gz.enc', 'audit-chain.ndjson.gz.enc', 'records.ndjson.gz.enc'],
    );
    const bytes = readFileSync(join(dir, 'b', 'resources.ndjson.gz.enc'));
    assert.notEqual(bytes[0], 0x1f, 'not a plain gzip file');
    const target = open('target');
    try {
      await restoreBackup(context(target), join(dir, 'b'), { key });
      assert.deepEqual(await allVersions(target), await allVersions(source));
    } finally {
      await target.close();
    }
  });

  it('refuses a wrong key or no key, naming the file, and stores nothing', async () => {
    await writeBackup(source, join(dir, 'b'), { key: randomBytes(32) });
    const target = open('target');
    try {
      await assert.rejects(
        restoreBackup(context(target), join(dir, 'b'), { key: randomBytes(32) }),
        refusal(/^resources\.ndjson\.gz\.enc: cannot be decrypted: the key is not the one/),
      );
      await assert.rejects(restoreBackup(context(target), join(dir, 'b')), refusal(/encrypted/));
      assert.deepEqual(await target.contents(), { versions: 0, auditLinks: 0, records: {} });
    } finally {
      await target.close();
    }
  });

  it('refuses a corrupted file, naming it, before storing anything', async () => {
    await writeBackup(source, join(dir, 'b'));
    const path = join(dir, 'b', 'records.ndjson.gz');
    const bytes = readFileSync(path);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const target = open('target');
    try {
      await assert.rejects(
        restoreBackup(context(target), join(dir, 'b')),
        refusal(/^records\.ndjson\.gz: its SHA-256 is not the one in the manifest/),
      );
      assert.deepEqual(await target.contents(), { versions: 0, auditLinks: 0, records: {} });
    } finally {
      await target.close();
    }
  });

  it('refuses an altered encrypted file whose manifest was changed to match, naming it', async () => {
    const key = randomBytes(32);
    await writeBackup(source, join(dir, 'b'), { key });
    const path = join(dir, 'b', 'audit-chain.ndjson.gz.enc');
    const bytes = readFileSync(path);
    bytes[20] = (bytes[20] ?? 0) ^ 0x01;
    writeFileSync(path, bytes);
    const manifestPath = join(dir, 'b', 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    const file = manifest.files.find((f) => f.name === 'audit-chain.ndjson.gz.enc');
    if (file) file.sha256 = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const target = open('target');
    try {
      await assert.rejects(
        restoreBackup(context(target), join(dir, 'b'), { key }),
        refusal(/^audit-chain\.ndjson\.gz\.enc: cannot be decrypted: the file was altered/),
      );
      assert.equal((await target.contents()).versions, 0);
    } finally {
      await target.close();
    }
  });

  it('reports a restored trail whose head is not the one the manifest records', async () => {
    await writeBackup(source, join(dir, 'b'));
    const manifestPath = join(dir, 'b', 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    assert.equal(manifest.auditHead?.sequence, 12);
    manifest.auditHead = { sequence: 13, hash: '0'.repeat(64) };
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const target = open('target');
    try {
      const report = await restoreBackup(context(target), join(dir, 'b'));
      assert.equal(report.audit.records, 12);
      assert.match(report.audit.broken?.reason ?? 'intact', /where the backup's manifest records 13 0{64}/);
    } finally {
      await target.close();
    }
  });

  it('says when a restore did not complete, and refuses the half-restored store until forced', async () => {
    await writeBackup(source, join(dir, 'good'));
    // a backup whose checksums hold but whose content cannot be written: a version is missing
    const bad = join(dir, 'bad');
    await writeBackup(source, bad);
    const path = join(bad, 'resources.ndjson.gz');
    const kept = gunzipSync(readFileSync(path))
      .toString('utf8')
      .split('\n')
      .filter((line) => !line.startsWith('{"type":"Patient","id":"p27","versionId":1,'));
    const bytes = gzipSync(kept.join('\n'));
    writeFileSync(path, bytes);
    const manifest = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8')) as Manifest;
    const file = manifest.files.find((f) => f.name === 'resources.ndjson.gz');
    assert.ok(file);
    Object.assign(file, {
      count: kept.filter((l) => l !== '').length,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    writeFileSync(join(bad, 'manifest.json'), JSON.stringify(manifest));
    const target = open('target');
    try {
      await assert.rejects(
        restoreBackup(context(target), bad, { batchSize: 10 }),
        (e: unknown) =>
          e instanceof RestoreIncompleteError && /did not complete.*Patient\/p27/.test(e.message),
      );
      await assert.rejects(restoreBackup(context(target), join(dir, 'good')), refusal(/unfinished restore/));
      await restoreBackup(context(target), join(dir, 'good'), { force: true });
      assert.deepEqual(await allVersions(target), await allVersions(source));
      assert.equal(await target.getRecord('store', 'restore'), undefined);
    } finally {
      await target.close();
    }
  });

  it('refuses a folder without a manifest (an interrupted backup)', async () => {
    await writeBackup(source, join(dir, 'b'));
    rmSync(join(dir, 'b', 'manifest.json'));
    const target = open('target');
    try {
      await assert.rejects(restoreBackup(context(target), join(dir, 'b')), refusal(/no manifest\.json/));
    } finally {
      await target.close();
    }
  });

  it('refuses a store that is not empty, and with force erases it first', async () => {
    await writeBackup(source, join(dir, 'b'));
    const target = open('target');
    try {
      await updateResource(context(target), 'Patient', 'stranger', {
        resourceType: 'Patient',
        id: 'stranger',
        gender: 'male',
      });
      await assert.rejects(restoreBackup(context(target), join(dir, 'b')), refusal(/not empty.*--force/));
      const report = await restoreBackup(context(target), join(dir, 'b'), { force: true });
      assert.ok(report.erased);
      assert.equal(await target.readCurrent('Patient', 'stranger'), undefined);
      assert.deepEqual(await search(target, [['gender', 'male']]), ['p3']);
      assert.deepEqual(await allVersions(target), await allVersions(source));
    } finally {
      await target.close();
    }
  });

  it('restores into a store that was opened by a gateway but holds nothing', async () => {
    await writeBackup(source, join(dir, 'b'));
    const target = open('target');
    try {
      await target.write({
        versions: [],
        records: [{ namespace: 'store', key: 'extractionVersion', value: 1 }],
      });
      await restoreBackup(context(target), join(dir, 'b'), { batchSize: 7 });
      assert.deepEqual(await allVersions(target), await allVersions(source));
    } finally {
      await target.close();
    }
  });

  it('backs up one consistent instant while writers go on', async () => {
    // each write set updates a pair together: a consistent snapshot never holds half a pair
    const ctx = context(source);
    const filler = Array.from({ length: 20_000 }, (_, i) => {
      const lastUpdated = ctx.now().toISOString();
      const json = JSON.stringify({
        resourceType: 'Basic',
        id: `f${i}`,
        meta: { versionId: '1', lastUpdated },
      });
      return {
        type: 'Basic',
        id: `f${i}`,
        versionId: 1,
        lastUpdated,
        deleted: false,
        expectedVersionId: null,
        json,
      };
    });
    await source.write({ versions: filler });
    const state = { writing: true };
    let round = 0;
    const writer = (async () => {
      while (state.writing) {
        round++;
        const pair = [`a${round % 20}`, `b${round % 20}`].map((id) => ({
          id,
          gender: round % 2 ? 'male' : 'female',
        }));
        const writes = [];
        for (const { id, gender } of pair) {
          const current = await source.readCurrent('Patient', id);
          const patient: Patient = { resourceType: 'Patient', id, gender: gender as Patient['gender'] };
          writes.push(versionWrite(ctx, 'Patient', id, current, ctx.now().toISOString(), patient));
        }
        await source.write({ versions: writes, audit: [audit()] });
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = round;
    const manifest = await writeBackup(source, join(dir, 'b'));
    const during = round - before;
    state.writing = false;
    await writer;
    assert.ok(during > 0, 'writers went on during the backup');
    const target = open('target');
    try {
      const report = await restoreBackup(context(target), join(dir, 'b'));
      assert.equal(report.audit.broken, undefined);
      assert.equal(report.versions, manifest.counts.versions);
      for (let i = 0; i < 20; i++) {
        const a = await target.readCurrent('Patient', `a${i}`);
        const b = await target.readCurrent('Patient', `b${i}`);
        assert.equal(a?.versionId, b?.versionId, `pair ${i}`);
      }
      assert.ok((await allVersions(target)).length < (await allVersions(source)).length);
    } finally {
      await target.close();
    }
  });

  it('refuses to back up into a folder that is not empty', async () => {
    await writeBackup(source, join(dir, 'b'));
    await assert.rejects(writeBackup(source, join(dir, 'b')), refusal(/is not empty/));
    assert.ok(readdirSync(join(dir, 'b')).includes('manifest.json'));
  });
});
