import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { ServiceContext } from '../service/context.js';
import { RecordExistsError, type AuditAppend, type ResourceStore } from '../store/store.js';
import { ExportCancelled, runExport, type ExportOutcome, type ExportSpec } from './export-run.js';

/**
 * Export jobs, kept in the store (namespace `export-job`) so that any Ferry process on the store
 * can answer their status and serve their files, and a job outlives the process that ran it. A
 * job is run by the process holding its lease (namespace `export-lease`, renewed while it runs);
 * a job whose lease lapsed — its process died — is taken over and run again from the start, so
 * no two processes ever run one job at the same time.
 */

export type JobState = 'running' | 'completed' | 'failed' | 'cancelled';

export interface ExportJob {
  id: string;
  clientId: string;
  /** The kick-off request URL, for the manifest. */
  request: string;
  spec: ExportSpec;
  state: JobState;
  /** ISO instants. */
  createdAt: string;
  finishedAt?: string;
  resources: number;
  outcome?: ExportOutcome;
  error?: string;
  /** Epoch ms after which the job and its files are removed. */
  expiresAt?: number;
  /** How many times the job was started (more than once after a takeover). */
  attempts: number;
}

export interface ExportJobsOptions {
  ctx: ServiceContext;
  /** Where job folders are made: `{dir}/{job id}/`. */
  dir: string;
  maxJobs: number;
  maxFileBytes: number;
  /** Seconds a finished job's files are kept. */
  ttlSeconds: number;
  /** Seconds a job's lease lasts without renewal: how soon a dead process's job is taken over. */
  leaseSeconds: number;
  log: Logger;
}

const jobs = 'export-job';
const leases = 'export-lease';

export class TooManyJobs extends Error {
  constructor(readonly running: number) {
    super(`${running} exports are running; try again later`);
    this.name = 'TooManyJobs';
  }
}

export class ExportJobs {
  /** This process, as a lease holder. */
  private readonly owner = randomUUID();
  private readonly active = new Map<string, { cancelled: boolean }>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: ExportJobsOptions) {}

  private get store(): ResourceStore {
    return this.o.ctx.store;
  }

  folder(id: string): string {
    return join(this.o.dir, id);
  }

  /** Starts the upkeep: taking over orphaned jobs, removing expired ones. */
  start(): void {
    const tick = (): void => {
      this.upkeep().catch((error: unknown) =>
        this.o.log.warn('export.upkeep_failed', {
          message: error instanceof Error ? error.message : String(error),
        }),
      );
    };
    tick();
    this.timer = setInterval(tick, Math.max(1000, this.o.leaseSeconds * 500));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // running jobs keep their record: their lease lapses and a process takes them over
    for (const flag of this.active.values()) flag.cancelled = true;
  }

  async read(id: string): Promise<ExportJob | undefined> {
    return /^[0-9a-f-]{36}$/.test(id) ? this.store.getRecord<ExportJob>(jobs, id) : undefined;
  }

  private async save(job: ExportJob, audit: AuditAppend[] = []): Promise<void> {
    await this.store.write({
      versions: [],
      records: [{ namespace: jobs, key: job.id, value: job }],
      ...(audit.length > 0 ? { audit } : {}),
    });
  }

  /**
   * Creates a job and runs it in this process; TooManyJobs when the limit is reached. `audit`
   * gives the AuditEvents of the kick-off, stored in the same commit as the job.
   */
  async create(
    spec: ExportSpec,
    clientId: string,
    request: string,
    audit: (job: ExportJob) => AuditAppend[] = () => [],
  ): Promise<ExportJob> {
    const running = (await this.store.listRecords<ExportJob>(jobs)).filter(
      (r) => r.value.state === 'running',
    ).length;
    if (running >= this.o.maxJobs) throw new TooManyJobs(running);
    const job: ExportJob = {
      id: randomUUID(),
      clientId,
      request,
      spec,
      state: 'running',
      createdAt: this.o.ctx.now().toISOString(),
      resources: 0,
      attempts: 0,
    };
    await this.save(job, audit(job));
    if (await this.lease(job.id, 'claim')) void this.run(job);
    return job;
  }

  /**
   * Takes the job's lease when nobody holds it (or its holder's lapsed), or renews this process's
   * own: false when another process holds it.
   */
  private async lease(id: string, how: 'claim' | 'renew'): Promise<boolean> {
    try {
      await this.store.write({
        versions: [],
        records: [
          {
            namespace: leases,
            key: id,
            value: this.owner,
            ...(how === 'claim' ? { ifAbsent: true } : { expectValue: this.owner }),
            expiresAt: Date.now() + this.o.leaseSeconds * 1000,
          },
        ],
      });
      return true;
    } catch (error) {
      if (error instanceof RecordExistsError) return false;
      throw error;
    }
  }

  private async release(id: string): Promise<void> {
    await this.store.write({ versions: [], records: [{ namespace: leases, key: id, value: null }] });
  }

  private async run(first: ExportJob): Promise<void> {
    let job: ExportJob = { ...first, attempts: first.attempts + 1, resources: 0 };
    const flag = { cancelled: false };
    this.active.set(job.id, flag);
    const folder = this.folder(job.id);
    rmSync(folder, { recursive: true, force: true }); // a takeover starts from a clean folder
    let lastSaved = 0;
    const heartbeat = setInterval(
      () => {
        void (async () => {
          const stored = await this.read(job.id);
          if (!stored || stored.state === 'cancelled') flag.cancelled = true;
          if (!(await this.lease(job.id, 'renew'))) flag.cancelled = true; // another process holds it now
          if (!flag.cancelled && job.resources !== lastSaved) {
            lastSaved = job.resources;
            await this.save({ ...job });
          }
        })().catch((error: unknown) =>
          this.o.log.warn('export.heartbeat_failed', {
            message: error instanceof Error ? error.message : String(error),
          }),
        );
      },
      Math.max(500, (this.o.leaseSeconds * 1000) / 6),
    );
    heartbeat.unref();
    this.o.log.info('export.started', { job: job.id, attempt: job.attempts, types: job.spec.types.length });
    try {
      await this.save(job);
      const outcome = await runExport(this.o.ctx, job.spec, folder, {
        maxFileBytes: this.o.maxFileBytes,
        cancelled: () => flag.cancelled,
        onProgress: (p) => {
          job.resources = p.resources;
        },
      });
      const stored = await this.read(job.id);
      if (!stored || stored.state === 'cancelled') throw new ExportCancelled();
      job = {
        ...job,
        state: 'completed',
        outcome,
        finishedAt: this.o.ctx.now().toISOString(),
        expiresAt: Date.now() + this.o.ttlSeconds * 1000,
      };
      await this.save(job);
      this.o.log.info('export.completed', { job: job.id, resources: job.resources });
    } catch (error) {
      if (error instanceof ExportCancelled || flag.cancelled) {
        // cancelled by the client (files go), or handed over at shutdown (the record stays running)
        if (!this.closed) rmSync(folder, { recursive: true, force: true });
      } else {
        const message = error instanceof Error ? error.message : String(error);
        this.o.log.error('export.failed', { job: job.id, message });
        await this.save({
          ...job,
          state: 'failed',
          error: `The export failed: ${message}`,
          finishedAt: this.o.ctx.now().toISOString(),
          expiresAt: Date.now() + this.o.ttlSeconds * 1000,
        }).catch(() => undefined);
      }
    } finally {
      clearInterval(heartbeat);
      this.active.delete(job.id);
      if (!this.closed) await this.release(job.id).catch(() => undefined);
    }
  }

  /** A client's DELETE: the job stops, its files go, and it is forgotten (with `audit`, in one commit). */
  async cancel(job: ExportJob, audit: AuditAppend[] = []): Promise<void> {
    const flag = this.active.get(job.id);
    if (flag) flag.cancelled = true;
    await this.store.write({
      versions: [],
      records: [{ namespace: jobs, key: job.id, value: null }],
      ...(audit.length > 0 ? { audit } : {}),
    });
    if (!flag) rmSync(this.folder(job.id), { recursive: true, force: true });
  }

  /** Takes over running jobs whose process is gone; removes expired jobs and their files. */
  async upkeep(): Promise<void> {
    const now = Date.now();
    for (const { value: job } of await this.store.listRecords<ExportJob>(jobs)) {
      if (job.state === 'running' && !this.active.has(job.id) && !this.closed) {
        if (await this.lease(job.id, 'claim')) {
          this.o.log.warn('export.taken_over', { job: job.id, attempt: job.attempts + 1 });
          void this.run(job);
        }
      } else if (job.state !== 'running' && job.expiresAt !== undefined && job.expiresAt <= now) {
        await this.store.write({ versions: [], records: [{ namespace: jobs, key: job.id, value: null }] });
        if (existsSync(this.folder(job.id))) rmSync(this.folder(job.id), { recursive: true, force: true });
      }
    }
  }
}
