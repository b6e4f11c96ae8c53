/**
 * One backup or restore in a process of its own, so its peak memory is its own:
 *   backup DB OUT [KEYHEX]   restore OUT DB [KEYHEX]
 * Prints one JSON line: seconds, peak RSS (MB) and what was written.
 */
import { restoreBackup } from '../src/backup/restore-backup.js';
import { writeBackup } from '../src/backup/write-backup.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { benchContext } from './preload.js';

const [mode, from = '', to = '', keyHex] = process.argv.slice(2);
const key = keyHex ? Buffer.from(keyHex, 'hex') : undefined;
const started = performance.now();
let result: Record<string, number>;
if (mode === 'backup') {
  const store = new SqliteStore(from);
  const manifest = await writeBackup(store, to, key ? { key } : {});
  await store.close();
  result = {
    versions: manifest.counts.versions,
    bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
  };
} else if (mode === 'restore') {
  const store = new SqliteStore(to);
  const report = await restoreBackup(benchContext(store), from, key ? { key } : {});
  await store.close();
  if (report.audit.broken) throw new Error(`audit trail broken: ${report.audit.broken.reason}`);
  result = { versions: report.versions };
} else {
  throw new Error('usage: backup-worker.ts backup DB OUT [KEYHEX] | restore OUT DB [KEYHEX]');
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ ...result, seconds, peakMb: process.resourceUsage().maxRSS / 1024 }));
