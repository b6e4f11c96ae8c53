import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes an embedded store's commits durable off the event loop: fdatasync of its write-ahead
 * log through libuv's thread pool. In WAL mode a commit is the log frames it appends, and
 * synchronous=FULL does nothing more than sync the log after each commit
 * (sqlite.org/wal.html, sqlite.org/pragma.html#pragma_synchronous); with synchronous=NORMAL the
 * commit leaves that sync out and this does it, for every commit made before it started. The
 * log stays the same file while a connection holds the database open, so one handle serves.
 */
export class LogSync {
  private handle: Promise<FileHandle> | undefined;
  private directorySynced = false;

  constructor(private readonly databasePath: string) {}

  /** Resolves once every commit made before the call is on disk. */
  async sync(): Promise<void> {
    this.handle ??= open(`${this.databasePath}-wal`, 'r').catch((error: unknown) => {
      this.handle = undefined;
      throw error;
    });
    await (await this.handle).datasync();
    if (!this.directorySynced) {
      // the log file's own directory entry, once: what SQLite does on its first sync of a new log
      const directory = await open(dirname(this.databasePath), 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      this.directorySynced = true;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await (await handle.catch(() => undefined))?.close();
  }
}
