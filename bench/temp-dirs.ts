import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temporary directories of a run (a 1M data set takes gigabytes): removed when the caller is
 * done, and also when the run is interrupted with Ctrl-C or SIGTERM.
 */
const live = new Set<string>();

/** Removes a directory made by makeTempDir. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

/** A new empty directory under the system temp dir. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  live.add(dir);
  return dir;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const dir of live) removeTempDir(dir);
    process.exit(130);
  });
}
