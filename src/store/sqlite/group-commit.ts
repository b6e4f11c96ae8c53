/**
 * Group commit: write sets that arrive in the same turn of the event loop share one SQLite
 * transaction and so one fsync. Each set runs inside its own SAVEPOINT, so a set that fails
 * (a version conflict) is rolled back alone and the others still commit.
 */
export interface GroupCommitOptions<T> {
  /** Opens the shared transaction. */
  begin(): void;
  /** Applies one item; throws to reject that item alone. */
  apply(item: T): void;
  savepoint(): void;
  release(): void;
  rollbackToSavepoint(): void;
  /** Commits durably; throws when the commit itself fails (all items are then rejected). */
  commit(): void;
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
  /** Transactions committed and items carried, for benchmarks and logs. */
  readonly stats = { commits: 0, items: 0 };

  constructor(private readonly options: GroupCommitOptions<T>) {
    this.maxBatch = options.maxBatch ?? 500;
  }

  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.flush();
        });
      }
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

  private run(batch: Pending<T>[]): void {
    const o = this.options;
    const failures = new Map<Pending<T>, unknown>();
    try {
      o.begin();
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    for (const p of batch) {
      o.savepoint();
      try {
        o.apply(p.item);
        o.release();
      } catch (error) {
        o.rollbackToSavepoint();
        o.release();
        failures.set(p, error);
      }
    }
    try {
      o.commit();
    } catch (error) {
      try {
        o.rollback();
      } catch {
        // the transaction is already gone; nothing was stored either way
      }
      for (const p of batch) p.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.items += batch.length;
    for (const p of batch) {
      if (failures.has(p)) p.reject(failures.get(p));
      else p.resolve();
    }
  }
}
