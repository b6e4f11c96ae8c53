/**
 * Group commit: write sets that arrive in the same turn of the event loop share one SQLite
 * transaction and so one fsync. Each set's preconditions are checked before it writes anything,
 * so a set that fails them (a version conflict) is refused alone and the others still commit;
 * should a set fail half-way through its writes, the batch runs again with a SAVEPOINT per set
 * (savepoints cost a statement journal per set, so they are the exception, not the rule).
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
    for (const p of batch) {
      if (failures.has(p)) p.reject(failures.get(p));
      else p.resolve();
    }
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
