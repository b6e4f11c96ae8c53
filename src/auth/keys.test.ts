import assert from 'node:assert/strict';
import type { AuditEvent } from 'fhir/r4.js';
import { describe, it } from 'mocha';
import { firstKeyFacts, localEvent, type Auditor } from '../audit/access-audit.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { KeyRing, rotateKeys } from './keys.js';

async function trail(store: SqliteStore): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for await (const record of store.auditChain()) {
    if (record.version?.json) events.push(JSON.parse(record.version.json) as AuditEvent);
  }
  return events;
}

describe('signing keys on the audit trail', () => {
  it("records a store's first key, with the key, and nothing when keys exist", async () => {
    const store = new SqliteStore(':memory:');
    try {
      const auditor: Auditor = {
        store,
        source: { site: 'http://localhost/fhir', name: 'test' },
        now: () => new Date(),
      };
      await KeyRing.open(store, Date.now, (key) =>
        localEvent(auditor, 'ferry serve', firstKeyFacts(key.kid)),
      );
      const keys = await store.listRecords<{ kid: string }>('signing-key');
      assert.equal(keys.length, 1);
      const [event] = await trail(store);
      assert.ok(event);
      assert.equal(event.type.code, '110113');
      assert.equal(event.subtype?.[0]?.code, '110129');
      assert.deepEqual(event.entity?.[0]?.what?.identifier, {
        system: 'urn:ferry:signing-key',
        value: keys[0]?.value.kid,
      });
      assert.equal(event.outcomeDesc, `first signing key ${keys[0]?.value.kid} created`);
      assert.match(event.agent[0]?.altId ?? '', /\(ferry serve\)$/);

      // a later open, by this process or another, finds the key: no new key, no new record
      await KeyRing.open(store, Date.now, (key) =>
        localEvent(auditor, 'ferry token', firstKeyFacts(key.kid)),
      );
      assert.equal((await store.listRecords('signing-key')).length, 1);
      assert.equal((await trail(store)).length, 1);
    } finally {
      await store.close();
    }
  });

  it('records nothing without an audit trail', async () => {
    const store = new SqliteStore(':memory:');
    try {
      await KeyRing.open(store, Date.now, (key) =>
        localEvent(undefined, 'ferry serve', firstKeyFacts(key.kid)),
      );
      await rotateKeys(store, 60);
      assert.equal((await store.listRecords('signing-key')).length, 2);
      assert.deepEqual(await trail(store), []);
    } finally {
      await store.close();
    }
  });
});
