import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent, Observation } from 'fhir/r4.js';
import { accessAudit } from '../audit/access-audit.js';
import { silentLogger } from '../log.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { createResource } from './create.js';
import { readResource, vreadResource } from './read.js';
import { searchResources } from './search.js';
import { updateResource } from './update.js';

describe('the patient of an access in the audit trail', () => {
  let store: SqliteStore;
  const plain = () => ({ store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() });
  const audited = () => ({
    ...plain(),
    audit: accessAudit(
      { store, source: { site: 'http://localhost/fhir', name: 'test' }, now: () => new Date() },
      () => ({ clientId: 'reader' }),
    ),
  });
  const observation = (subject: string, performer?: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'potassium' },
    subject: { reference: subject },
    ...(performer ? { performer: [{ reference: performer }] } : {}),
  });
  /** The patient entity of each event of an interaction, sorted ('none' for an event without one). */
  const patients = async (subtype: string): Promise<string[]> => {
    const bundle = await searchResources(plain(), {
      type: 'AuditEvent',
      params: [['subtype', subtype]],
      strict: true,
    });
    return (bundle.entry ?? [])
      .map((e) => (e.resource as AuditEvent).entity?.find((x) => x.role?.code === '1')?.what?.reference)
      .map((reference) => reference ?? 'none')
      .sort();
  };

  beforeEach(() => {
    store = new SqliteStore(':memory:');
  });
  afterEach(() => store.close());

  it('is the current version’s patient for a read and each version’s own for a vread', async () => {
    const { version } = await createResource(plain(), 'Observation', observation('Patient/first'));
    await updateResource(plain(), 'Observation', version.id, {
      ...observation('Patient/second'),
      id: version.id,
    });
    await readResource(audited(), 'Observation', version.id);
    await vreadResource(audited(), 'Observation', version.id, '1');
    await vreadResource(audited(), 'Observation', version.id, '2');
    assert.deepEqual(await patients('read'), ['Patient/second']);
    assert.deepEqual(await patients('vread'), ['Patient/first', 'Patient/second']);
  });

  it('is the same patient for the write and a read of a resource that references two', async () => {
    // the compartment's order decides (subject, then performer), not the parameters' (performer first)
    const audit = audited();
    const { version } = await createResource(audit, 'Observation', observation('Patient/s', 'Patient/p'));
    await readResource(audit, 'Observation', version.id);
    assert.deepEqual(await patients('create'), ['Patient/s']);
    assert.deepEqual(await patients('read'), ['Patient/s']);
  });

  it('is the patient the store kept with the version, else the one its JSON names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-audit-patient-'));
    const path = join(dir, 'ferry.db');
    try {
      await store.close();
      store = new SqliteStore(path);
      const kept = await createResource(plain(), 'Observation', observation('Patient/s'));
      const older = await createResource(plain(), 'Observation', observation('Patient/t'));
      await store.close();
      // what the store kept is what a read names, with no second look at the JSON…
      const raw = new Database(path);
      raw.prepare("UPDATE resource_version SET patient = 'Patient/kept' WHERE id = ?").run(kept.version.id);
      // …and a version written before stores kept it is read from its JSON
      raw.prepare('UPDATE resource_version SET patient = NULL WHERE id = ?').run(older.version.id);
      raw.close();
      store = new SqliteStore(path);
      await readResource(audited(), 'Observation', kept.version.id);
      await readResource(audited(), 'Observation', older.version.id);
      assert.deepEqual(await patients('read'), ['Patient/kept', 'Patient/t']);
    } finally {
      await store.close();
      store = new SqliteStore(':memory:');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is none for a resource that references no patient, and the Patient itself for a Patient', async () => {
    const { version } = await createResource(plain(), 'Observation', observation('Group/g'));
    const patient = await createResource(plain(), 'Patient', { resourceType: 'Patient' });
    await readResource(audited(), 'Observation', version.id);
    await readResource(audited(), 'Patient', patient.version.id);
    assert.deepEqual(await patients('read'), [`Patient/${patient.version.id}`, 'none'].sort());
  });
});
