import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from 'fhir/r4.js';
import { exportAudit } from '../audit/export-audit.js';
import { createLogger } from '../log.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { readManifest } from './format.js';
import { backupFolderName, listBackups, startBackupSchedule } from './schedule.js';

describe('scheduled backups', () => {
  let dir: string;
  let store: SqliteStore;
  let events: { event: string; folder?: string }[];
  const log = createLogger('info', (line) => events.push(JSON.parse(line) as { event: string }));
  const completed = (): number => events.filter((e) => e.event === 'backup.completed').length;
  const until = async (done: () => boolean): Promise<void> => {
    for (let waited = 0; !done(); waited += 20) {
      if (waited > 10_000) throw new Error(`timed out; events: ${JSON.stringify(events)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-schedule-'));
    events = [];
    store = new SqliteStore(join(dir, 'data', 'ferry.db'));
    const lastUpdated = new Date().toISOString();
    await store.write({
      versions: [
        {
          type: 'Basic',
          id: 'b',
          versionId: 1,
          lastUpdated,
          deleted: false,
          expectedVersionId: null,
          json: JSON.stringify({ resourceType: 'Basic', id: 'b', meta: { versionId: '1', lastUpdated } }),
        },
      ],
    });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs up at each interval into timestamped folders and keeps only the newest', async () => {
    const backups = join(dir, 'backups');
    mkdirSync(join(backups, '.ferry-backup-20260101T000000.000Z.partial'), { recursive: true });
    const schedule = await startBackupSchedule({ store, dir: backups, everyMs: 100, keep: 2, log });
    try {
      await until(() => completed() >= 4);
    } finally {
      await schedule.close();
    }
    const kept = await listBackups(backups);
    assert.equal(kept.length, 2);
    assert.deepEqual(readdirSync(backups).sort(), kept, 'no temporary or crashed folder left');
    for (const name of kept) {
      assert.match(name, /^ferry-backup-\d{8}T\d{6}\.\d{3}Z$/);
      assert.equal((await readManifest(join(backups, name))).counts.resources, 1);
    }
    assert.ok(events.filter((e) => e.event === 'backup.removed').length >= 2);
  });

  it('waits for the interval after the newest backup before taking the next', async () => {
    const backups = join(dir, 'backups');
    const schedule = await startBackupSchedule({ store, dir: backups, everyMs: 60_000, keep: 3, log });
    try {
      await until(() => completed() === 1); // none yet: the first one at once
    } finally {
      await schedule.close();
    }
    const again = await startBackupSchedule({ store, dir: backups, everyMs: 60_000, keep: 3, log });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await again.close();
    assert.equal(completed(), 1, 'the newest backup is recent: nothing new yet');
  });

  it('abandons a backup under way on close, leaving no folder that looks complete', async () => {
    const lastUpdated = new Date().toISOString();
    const json = JSON.stringify({
      resourceType: 'Basic',
      text: { status: 'generated', div: 'x'.repeat(2000) },
    });
    await store.write({
      versions: Array.from({ length: 20_000 }, (_, i) => ({
        type: 'Basic',
        id: `f${i}`,
        versionId: 1,
        lastUpdated,
        deleted: false,
        expectedVersionId: null,
        json,
      })),
    });
    const backups = join(dir, 'backups');
    const schedule = await startBackupSchedule({ store, dir: backups, everyMs: 60_000, keep: 3, log });
    await until(() => existsSync(backups) && readdirSync(backups).some((n) => n.endsWith('.partial')));
    await schedule.close();
    assert.deepEqual(readdirSync(backups), []);
    assert.equal(completed(), 0);
    assert.equal(
      events.filter((e) => e.event === 'backup.failed').length,
      0,
      'an abandoned backup is no failure',
    );
  });

  it('puts each backup on record (DICOM Export) before writing it, so the backup holds its own record', async () => {
    const backups = join(dir, 'backups');
    const auditor = { store, source: { site: 'http://localhost/fhir', name: 'test' }, now: () => new Date() };
    const schedule = await startBackupSchedule({
      store,
      dir: backups,
      everyMs: 60_000,
      keep: 3,
      log,
      auditor,
    });
    try {
      await until(() => completed() === 1);
    } finally {
      await schedule.close();
    }
    const lines: string[] = [];
    await exportAudit(store, {}, (line) => {
      lines.push(line);
    });
    const trail = lines.map((l) => JSON.parse(l) as AuditEvent);
    assert.equal(trail.length, 1);
    const [event] = trail;
    assert.ok(event);
    const [name] = await listBackups(backups);
    assert.equal(event.type.code, '110106');
    assert.equal(event.action, 'R');
    assert.equal(event.outcome, '0');
    assert.match(event.agent[0]?.altId ?? '', /\(backup schedule\)$/);
    assert.equal(event.outcomeDesc, `scheduled backup of the whole store to ${join(backups, name ?? '')}`);
    assert.equal((await readManifest(join(backups, name ?? ''))).counts.auditRecords, 1);
  });

  it('names folders so that they sort by time', () => {
    assert.equal(backupFolderName(new Date('2026-11-28T21:44:24.123Z')), 'ferry-backup-20261128T214424.123Z');
  });
});
