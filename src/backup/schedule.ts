import { access, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { appendAudit, localEvent, type Auditor } from '../audit/access-audit.js';
import type { Logger } from '../log.js';
import type { ResourceStore } from '../store/store.js';
import { manifestName } from './format.js';
import { writeBackup } from './write-backup.js';

/**
 * Scheduled backups inside the gateway: every `everyMs`, a backup into its own folder named for
 * its time (ferry-backup-20261128T214424.123Z). It is written under a hidden temporary name and
 * renamed only when complete, so a crash never leaves a folder that looks like a whole backup;
 * leftovers of a crash are removed at the next start. After each backup only the newest `keep`
 * are kept. A failed backup is logged and tried again at the next interval.
 */

export interface BackupSchedule {
  /** Stops the schedule; a backup under way is abandoned and its temporary folder removed. */
  close(): Promise<void>;
}

export interface ScheduleOptions {
  store: ResourceStore;
  dir: string;
  everyMs: number;
  keep: number;
  key?: Buffer;
  /** The audit trail: each backup is on record (DICOM Export) before its first file is written. */
  auditor?: Auditor;
  log: Logger;
  now?: () => Date;
}

const prefix = 'ferry-backup-';
const partial = '.partial';
const named = /^ferry-backup-(\d{8}T\d{6}\.\d{3}Z)$/;

/** The folder name of a backup taken at `at`. */
export const backupFolderName = (at: Date): string => prefix + at.toISOString().replace(/[-:]/g, '');

/** When the backup in a folder so named was taken. */
function takenAt(name: string): number | undefined {
  const stamp = named.exec(name)?.[1];
  if (!stamp) return undefined;
  const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13)}`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The complete backups in `dir` (a folder with its manifest), oldest first. */
export async function listBackups(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[]))
    .filter((n) => takenAt(n) !== undefined)
    .sort();
  const complete: string[] = [];
  for (const name of names) {
    if (
      await access(join(dir, name, manifestName)).then(
        () => true,
        () => false,
      )
    )
      complete.push(name);
  }
  return complete;
}

/** Starts the schedule: the first backup when the newest one is `everyMs` old (now when none). */
export async function startBackupSchedule(options: ScheduleOptions): Promise<BackupSchedule> {
  const { dir, log } = options;
  const now = options.now ?? ((): Date => new Date());
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith('.') && name.endsWith(partial))
      await rm(join(dir, name), { recursive: true, force: true });
  }
  const newest = (await listBackups(dir)).map(takenAt).pop();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const abort = new AbortController();

  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = runOnce(options, now(), abort.signal).finally(() => {
        running = undefined;
        schedule(options.everyMs);
      });
    }, delay);
  };
  schedule(newest === undefined ? 0 : Math.max(0, newest + options.everyMs - now().getTime()));
  log.info('backup.scheduled', { dir, everySeconds: options.everyMs / 1000, keep: options.keep });

  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      abort.abort();
      await running;
    },
  };
}

/** One scheduled backup: written under a temporary name, renamed when whole, then retention. */
async function runOnce(options: ScheduleOptions, at: Date, signal: AbortSignal): Promise<void> {
  const { dir, log } = options;
  const name = backupFolderName(at);
  const temporary = join(dir, `.${name}${partial}`);
  const started = performance.now();
  try {
    await appendAudit(
      options.store,
      localEvent(options.auditor, 'backup schedule', {
        category: 'export',
        outcomeText: `scheduled backup of the whole store to ${join(dir, name)}${options.key ? ' (encrypted)' : ''}`,
      }),
    );
    const manifest = await writeBackup(options.store, temporary, {
      ...(options.key ? { key: options.key } : {}),
      signal,
    });
    await rename(temporary, join(dir, name));
    log.info('backup.completed', {
      folder: name,
      versions: manifest.counts.versions,
      resources: manifest.counts.resources,
      auditRecords: manifest.counts.auditRecords,
      bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
      encrypted: manifest.encryption !== undefined,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    });
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    if (signal.aborted) return;
    log.error('backup.failed', {
      folder: name,
      message: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  const complete = await listBackups(dir);
  for (const old of complete.slice(0, Math.max(0, complete.length - options.keep))) {
    await rm(join(dir, old), { recursive: true, force: true });
    log.info('backup.removed', { folder: old });
  }
}
