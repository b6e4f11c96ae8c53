import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent } from 'fhir/r4.js';
import { readLink, recordHash } from '../fhir/audit-chain.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { AuditAppend } from '../store/store.js';
import { accessAudit } from './access-audit.js';
import { verifyAuditChain } from './verify-chain.js';

let n = 0;
function audit(): AuditAppend {
  const lastUpdated = new Date().toISOString();
  const resource: AuditEvent = {
    resourceType: 'AuditEvent',
    id: `a${++n}`,
    meta: { versionId: '1', lastUpdated },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: lastUpdated,
    agent: [{ requestor: true, who: { display: 'test' } }],
    source: { observer: { display: 'ferry' } },
  };
  return { id: resource.id ?? '', lastUpdated, resource };
}

describe('the audit trail hash chain', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-audit-'));
    path = join(dir, 'ferry.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes `count` events from concurrent writers, then closes the store. */
  async function fill(count: number): Promise<void> {
    const store = new SqliteStore(path);
    await Promise.all(Array.from({ length: count }, () => store.write({ versions: [], audit: [audit()] })));
    await store.close();
  }
  const verify = async (): Promise<Awaited<ReturnType<typeof verifyAuditChain>>> => {
    const store = new SqliteStore(path);
    try {
      return await verifyAuditChain(store);
    } finally {
      await store.close();
    }
  };
  const tamper = (sql: string, ...params: unknown[]): void => {
    const db = new Database(path);
    db.prepare(sql).run(...params);
    db.close();
  };

  it('stays one line under concurrent writers, each record naming its predecessor', async () => {
    await fill(50);
    const store = new SqliteStore(path);
    let previous: string | undefined;
    let sequence = 0;
    for await (const record of store.auditChain()) {
      const json = record.version?.json ?? '';
      const link = readLink(JSON.parse(json) as AuditEvent);
      assert.equal(link?.sequence, ++sequence);
      if (previous !== undefined) assert.equal(link.previous, previous);
      previous = recordHash(json);
    }
    await store.close();
    assert.equal(sequence, 50);
    const report = await verify();
    assert.equal(report.broken, undefined);
    assert.equal(report.records, 50);
    assert.equal(report.head?.hash, previous);
  });

  it('keeps one line and one event per read when reads arrive while earlier batches sync', async () => {
    const store = new SqliteStore(path);
    const auditor = {
      store,
      source: { site: 'http://localhost/fhir', name: 'ferry-test' },
      now: () => new Date(),
    };
    const audit = accessAudit(auditor, () => ({ clientId: 'reader', address: '10.0.0.9' }));
    const read = (i: number): Promise<void> =>
      audit.record([
        audit.event({ interaction: 'read', status: 200, resource: `Observation/o${i}/_history/1` }),
      ]);
    // 40 waves of 25 concurrent reads, each wave a turn after the last: batches commit while the
    // log sync of an earlier batch is still running, and a checkpoint thread starts on the way
    const waves: Promise<void>[] = [];
    for (let w = 0; w < 40; w++) {
      waves.push(Promise.all(Array.from({ length: 25 }, (_, i) => read(w * 25 + i))).then(() => undefined));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(waves);
    const { commits, items, syncs } = store.commitStats;
    assert.equal(items, 1000);
    assert.ok(commits > 1 && syncs <= commits, `${commits} commits, ${syncs} syncs`);
    await store.close();
    const report = await verify();
    assert.equal(report.broken, undefined);
    assert.equal(report.records, 1000);
  });

  it('names the record that was edited', async () => {
    await fill(5);
    tamper(
      "UPDATE resource_version SET body = replace(body, '\"test\"', '\"someone else\"') WHERE type = 'AuditEvent' AND id = ?",
      'a' + String(n - 2),
    );
    const report = await verify();
    assert.equal(report.broken?.sequence, 3);
    assert.match(report.broken.reason, /edited/);
    assert.equal(report.records, 2);
  });

  it('names a record that was removed', async () => {
    await fill(5);
    const victim = `a${n - 1}`;
    tamper("DELETE FROM resource_version WHERE type = 'AuditEvent' AND id = ?", victim);
    tamper('DELETE FROM audit_chain WHERE id = ?', victim);
    const report = await verify();
    assert.equal(report.broken?.sequence, 4);
    assert.match(report.broken.reason, /missing/);
  });

  it('finds an AuditEvent inserted beside the chain', async () => {
    await fill(3);
    tamper(
      `INSERT INTO resource_version (type, id, version, last_updated, last_updated_ms, deleted, body)
       VALUES ('AuditEvent', 'forged', 1, '2026-01-01T00:00:00Z', 0, 0, '{}')`,
    );
    const report = await verify();
    assert.match(report.broken?.reason ?? 'intact', /not in the chain/);
    assert.equal(report.broken?.id, 'forged');
    assert.equal(report.records, 3);
  });

  it('finds an edit stored as a new version of a chained record', async () => {
    await fill(3);
    const victim = `a${n - 1}`;
    tamper(
      `INSERT INTO resource_version (type, id, version, last_updated, last_updated_ms, deleted, body)
       SELECT type, id, 2, last_updated, last_updated_ms, deleted, body FROM resource_version
       WHERE type = 'AuditEvent' AND id = ?`,
      victim,
    );
    const report = await verify();
    assert.equal(report.broken?.id, victim);
    assert.match(report.broken.reason, /version 2 is not in the chain/);
  });

  it('reads one snapshot: events appended during the walk are not taken for insertions', async () => {
    await fill(300);
    const store = new SqliteStore(path);
    try {
      const walking = verifyAuditChain(store);
      const appending = Promise.all(
        Array.from({ length: 50 }, () => store.write({ versions: [], audit: [audit()] })),
      );
      const [report] = await Promise.all([walking, appending]);
      assert.equal(report.broken, undefined);
      assert.ok(report.records >= 300, `${report.records} records`);
    } finally {
      await store.close();
    }
    const after = await verify();
    assert.equal(after.broken, undefined);
    assert.equal(after.records, 350);
  });
});
