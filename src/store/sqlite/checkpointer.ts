import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints an embedded store's write-ahead log on a thread of its own. SQLite checkpoints
 * inside the COMMIT that grows the log past wal_autocheckpoint pages: it copies the log into the
 * database and syncs both, on the event loop, holding up every request meanwhile. Here the store
 * asks for a PASSIVE checkpoint now and then, which a second connection runs beside the writer
 * (sqlite.org/wal.html#checkpointing: readers and the writer go on while it copies; the log is
 * restarted by the next write once it has all been copied). The store keeps a high
 * wal_autocheckpoint as a backstop, should this thread fall behind or fail.
 */

/** Log pages after which the store's own connection checkpoints anyway. */
export const backstopPages = 10_000;

/** Commits between two checkpoint requests. */
const commitsPerCheckpoint = 24;

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
// a checkpoint syncs the log before copying it and the database after (any level but OFF)
db.pragma('synchronous = FULL');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, log: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message ? error.message : error) });
  }
});
`;

export class Checkpointer {
  private worker: Worker | undefined;
  private busy = false;
  private commits = 0;
  private stopped = false;
  /** Checkpoints run, for benchmarks. */
  readonly stats = { checkpoints: 0, failures: 0 };

  /** `onFailure` is told once when the thread cannot go on (the backstop then takes over). */
  constructor(
    private readonly path: string,
    private readonly onFailure: () => void,
  ) {}

  /** Called after each commit: now and then, a checkpoint on the thread (started on first use). */
  committed(): void {
    if (this.stopped || this.busy || ++this.commits < commitsPerCheckpoint) return;
    this.commits = 0;
    this.busy = true;
    this.start().postMessage('checkpoint');
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(workerSource, { eval: true, workerData: { path: this.path, driver } });
    worker.on('message', (reply: { ok: boolean }) => {
      this.busy = false;
      if (reply.ok) this.stats.checkpoints++;
      else this.stats.failures++; // e.g. SQLITE_BUSY: the next request tries again
    });
    worker.on('error', () => {
      this.fail();
    });
    worker.on('exit', () => {
      if (!this.stopped) this.fail();
    });
    // a checkpoint never keeps the process alive (after the listeners: adding one refs it again)
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private fail(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.worker = undefined;
    this.onFailure();
  }

  /** Lets a running checkpoint finish, then closes the thread's connection. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.stopped = true;
    this.worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref(); // the process waits for the connection to close
    worker.postMessage('close');
    await exited;
  }
}
