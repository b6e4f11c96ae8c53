/**
 * Group commit: write sets that arrive in the same turn of the event loop share one SQLite
 * transaction. Each set's preconditions are checked before it writes anything, so a set that
 * fails them (a version conflict) is refused alone and the others still commit; should a set
 * fail half-way through its writes, the batch runs again with a SAVEPOINT per set (savepoints
 * cost a statement journal per set, so they are the exception, not the rule).
 *
 * With a `sync` option the commit itself does not wait for the disk: committed batches wait for
 * the next `sync` (one fsync of the log, off the event loop), and only then are their writers
 * answered. One sync runs at a time and covers every batch committed before it started; the write
 * sets that arrive while it runs wait for it to end, then share one commit and the next sync —
 * the event loop keeps serving requests while the disk flushes.
 */
export interface GroupCommitOptions<T> {
  /** Opens the shared transaction. */
  begin(): void;
  /** Checks one item's preconditions against the transaction's state; throws to refuse it. */
  check(item: T): void;
  /** Applies one (checked) item. */
  apply(item: T): void;
  savepoint(): void;
  release(): void;
  rollbackToSavepoint(): void;
  /**
   * Commits; throws when the commit itself fails (all items are then rejected). Durably, unless
   * `sync` is given: then the commit need only be ordered before the next sync.
   */
  commit(): void;
  /**
   * Makes every batch committed so far durable (e.g. fdatasync of the write-ahead log). When
   * absent, `commit` is durable by itself and writers are answered right after it.
   */
  sync?(): Promise<void>;
  /** Whether the batches committed now may skip `sync` (a bulk load that syncs at its end). */
  relaxed?(): boolean;
  rollback(): void;
  /** Upper bound on items per transaction, to bound latency. */
  maxBatch?: number;
}

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private scheduled = false;
  private readonly maxBatch: number;
  /** Committed items waiting for the next sync. */
  private unsynced: Pending<T>[] = [];
  /** The sync running now, if any. */
  private syncing: Promise<void> | undefined;
  /** A failed sync: what was committed may not be on disk, so nothing more is acknowledged. */
  private failed: Error | undefined;
  /** Transactions committed, items carried and syncs made, for benchmarks and logs. */
  readonly stats = { commits: 0, items: 0, syncs: 0 };

  constructor(private readonly options: GroupCommitOptions<T>) {
    this.maxBatch = options.maxBatch ?? 500;
  }

  submit(item: T): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Flushes the queue at the end of this turn — unless a sync is running: what is committed now
   * could not be answered before the sync after it anyway, so the queue waits for the running
   * sync to end and then goes in one transaction (fewer, larger commits under load).
   */
  private schedule(): void {
    if (this.scheduled || this.syncing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.flush();
    });
  }

  /** Runs everything queued now; called by the scheduler and before closing. */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.run(batch);
    }
  }

  /** Resolves once everything committed so far is durable (and its writers answered). */
  async settled(): Promise<void> {
    while (this.syncing) await this.syncing;
  }

  private run(batch: Pending<T>[]): void {
    const o = this.options;
    const failures = new Map<Pending<T>, unknown>();
    if (!this.begin(batch)) return;
    let halfWritten = false;
    for (const p of batch) {
      try {
        o.check(p.item);
      } catch (error) {
        failures.set(p, error);
        continue;
      }
      try {
        o.apply(p.item);
      } catch {
        halfWritten = true;
        break;
      }
    }
    if (halfWritten) {
      this.rollbackQuietly();
      this.runWithSavepoints(batch);
      return;
    }
    this.finish(batch, failures);
  }

  /** The careful path: each item in its own savepoint, rolled back alone when it fails. */
  private runWithSavepoints(batch: Pending<T>[]): void {
    const o = this.options;
    const failures = new Map<Pending<T>, unknown>();
    if (!this.begin(batch)) return;
    for (const p of batch) {
      o.savepoint();
      try {
        o.check(p.item);
        o.apply(p.item);
        o.release();
      } catch (error) {
        o.rollbackToSavepoint();
        o.release();
        failures.set(p, error);
      }
    }
    this.finish(batch, failures);
  }

  private finish(batch: Pending<T>[], failures: Map<Pending<T>, unknown>): void {
    try {
      this.options.commit();
    } catch (error) {
      this.rollbackQuietly();
      for (const p of batch) p.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.items += batch.length;
    const committed: Pending<T>[] = [];
    for (const p of batch) {
      if (failures.has(p)) p.reject(failures.get(p));
      else committed.push(p);
    }
    if (!this.options.sync || this.options.relaxed?.()) {
      for (const p of committed) p.resolve();
      return;
    }
    this.unsynced.push(...committed);
    this.startSync();
  }

  /**
   * Starts a sync for the committed items waiting, unless one runs: those committed meanwhile
   * wait for the next one, because the running sync may have begun before their commit.
   */
  private startSync(): void {
    const o = this.options;
    if (this.syncing || this.unsynced.length === 0 || !o.sync) return;
    const waiting = this.unsynced;
    this.unsynced = [];
    this.stats.syncs++;
    this.syncing = (this.failed ? Promise.reject(this.failed) : o.sync()).then(
      () => {
        for (const p of waiting) p.resolve();
      },
      (error: unknown) => {
        // like PostgreSQL after a failed fsync: what the kernel dropped cannot be written again,
        // so every later write is refused too rather than acknowledged on a bad log
        this.failed ??= error instanceof Error ? error : new Error(String(error));
        for (const p of waiting) p.reject(error);
      },
    );
    void this.syncing.finally(() => {
      this.syncing = undefined;
      this.startSync();
      if (this.queue.length > 0) this.schedule();
    });
  }

  /** Opens the transaction, or rejects the whole batch when it cannot be opened. */
  private begin(batch: Pending<T>[]): boolean {
    try {
      this.options.begin();
      return true;
    } catch (error) {
      for (const p of batch) p.reject(error);
      return false;
    }
  }

  private rollbackQuietly(): void {
    try {
      this.options.rollback();
    } catch {
      // the transaction is already gone; nothing was stored either way
    }
  }
}
