import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import express, { type Request, type Response, type Router } from 'express';
import type { Access } from '../auth/access.js';
import { ExportJobs, TooManyJobs, type ExportJob } from '../bulk/export-jobs.js';
import { kickOffParameters, readKickOff, type KickOff } from '../bulk/export-request.js';
import { badRequest, FhirError, informational, notFound, outcome } from '../errors.js';
import type { ServiceContext } from '../service/context.js';
import type { AuditAppend } from '../store/store.js';
import { jsonBody, fhirJsonTypes } from './body.js';
import { rejectMethod } from './errors.js';
import { sendJson, sendOutcome } from './respond.js';

/**
 * Bulk Data $export (Bulk Data Access IG 2.0.0): kick-off at the system, Patient and Group
 * levels, the status endpoint (202 with progress, 200 with the manifest, DELETE to cancel) and
 * the files, which need a token of the same client and support Range and gzip.
 */

const ctxOf = (res: Response): ServiceContext => res.locals.ctx as ServiceContext;
const accessOf = (res: Response): Access => ctxOf(res).access as Access;

/** The AuditEvent of an export access, for a write set; none when the trail is off. */
function exportEvents(res: Response, status: number, what: string, resource?: string): AuditAppend[] {
  const audit = ctxOf(res).audit;
  if (!audit) return [];
  return [
    audit.event({
      interaction: 'operation',
      status,
      outcomeText: what,
      ...(resource !== undefined ? { resource } : {}),
    }),
  ];
}

/** Records an export access that changes nothing (status, download) durably before it is answered. */
async function audited(res: Response, status: number, what: string, resource?: string): Promise<void> {
  const events = exportEvents(res, status, what, resource);
  if (events.length > 0) await ctxOf(res).audit?.record(events);
}

/** The job, when it exists and belongs to the requesting client; 404 otherwise (not revealing others'). */
async function ownJob(jobs: ExportJobs, req: Request, res: Response): Promise<ExportJob> {
  const job = await jobs.read(String(req.params.job));
  if (!job || job.clientId !== accessOf(res).principal.clientId) throw notFound('No such export job');
  return job;
}

export function exportRoutes(jobs: ExportJobs, limits: { maxBodyBytes: number }): Router {
  const router = express.Router({ caseSensitive: true });
  const body = express.raw({ type: () => true, limit: limits.maxBodyBytes });

  const kickOff =
    (level: KickOff['level']) =>
    async (req: Request, res: Response): Promise<void> => {
      const ctx = ctxOf(res);
      const access = accessOf(res);
      let params: [string, string][];
      let patients: string[] = [];
      if (req.method === 'POST') {
        ({ params, patients } = kickOffParameters(jsonBody(req, fhirJsonTypes)));
      } else {
        const at = req.originalUrl.indexOf('?');
        params = at < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(at + 1))];
        if (params.some(([n]) => n === 'patient')) {
          throw badRequest('patient is a POST parameter of $export (a Parameters body)', 'patient');
        }
      }
      const spec = await readKickOff(ctx, access, {
        level,
        ...(level === 'group' ? { groupId: String(req.params.id) } : {}),
        params,
        patients,
        prefer: req.get('prefer'),
        accept: req.get('accept'),
      });
      let job: ExportJob;
      try {
        // the kick-off's event is committed with the job
        job = await jobs.create(
          spec,
          access.principal.clientId,
          `${ctx.baseUrl}${req.originalUrl.replace(/^\/fhir/, '')}`,
          (created) =>
            exportEvents(res, 202, `$export kick-off: job ${created.id}, ${spec.types.length} types`),
        );
      } catch (error) {
        if (!(error instanceof TooManyJobs)) throw error;
        res.setHeader('Retry-After', '30');
        throw new FhirError(
          429,
          outcome([{ severity: 'error', code: 'throttled', diagnostics: error.message }]),
        );
      }
      res.setHeader('Content-Location', `${ctx.baseUrl}/$export-status/${job.id}`);
      sendOutcome(
        req,
        res,
        202,
        informational(`Export ${job.id} started; poll the Content-Location for its status`),
      );
    };
  router
    .route('/$export')
    .get(kickOff('system'))
    .post(body, kickOff('system'))
    .all(rejectMethod(['GET', 'POST']));
  router
    .route('/Patient/$export')
    .get(kickOff('patient'))
    .post(body, kickOff('patient'))
    .all(rejectMethod(['GET', 'POST']));
  router
    .route('/Group/:id/$export')
    .get(kickOff('group'))
    .post(body, kickOff('group'))
    .all(rejectMethod(['GET', 'POST']));

  router
    .route('/$export-status/:job')
    .get(async (req, res) => {
      const job = await ownJob(jobs, req, res);
      if (job.state === 'running') {
        res.setHeader('X-Progress', `exporting: ${job.resources} resources written`);
        res.setHeader('Retry-After', '2');
        res.status(202).end();
        return;
      }
      if (job.state === 'failed' || !job.outcome) {
        throw new FhirError(
          500,
          outcome([{ severity: 'error', code: 'exception', diagnostics: job.error ?? 'The export failed' }]),
        );
      }
      const base = ctxOf(res).baseUrl;
      const url = (name: string): string => `${base}/$export-file/${job.id}/${name}`;
      const list = (files: { type: string; name: string; count: number }[]) =>
        files.map((f) => ({ type: f.type, url: url(f.name), count: f.count }));
      if (job.expiresAt !== undefined) res.setHeader('Expires', new Date(job.expiresAt).toUTCString());
      const files = job.outcome.output.length + job.outcome.deleted.length + job.outcome.error.length;
      await audited(res, 200, `$export complete: job ${job.id}, manifest of ${files} files`);
      sendJson(req, res, 200, {
        transactionTime: job.outcome.transactionTime,
        request: job.request,
        requiresAccessToken: true,
        output: list(job.outcome.output),
        deleted: list(job.outcome.deleted),
        error: list(job.outcome.error),
      });
    })
    .delete(async (req, res) => {
      const job = await ownJob(jobs, req, res);
      await jobs.cancel(job, exportEvents(res, 202, `$export cancelled: job ${job.id}`));
      sendOutcome(req, res, 202, informational(`Export ${job.id} cancelled; its files are removed`));
    })
    .all(rejectMethod(['GET', 'DELETE']));

  router
    .route('/$export-file/:job/:name')
    .get(async (req, res) => {
      const job = await ownJob(jobs, req, res);
      const name = req.params.name;
      const files = [
        ...(job.outcome?.output ?? []),
        ...(job.outcome?.deleted ?? []),
        ...(job.outcome?.error ?? []),
      ];
      const path = join(jobs.folder(job.id), name);
      if (!files.some((f) => f.name === name) || !existsSync(path)) throw notFound('No such export file');
      await audited(res, 200, `$export file download: job ${job.id}, ${name}`);
      res.setHeader('Content-Type', 'application/fhir+ndjson');
      res.setHeader('Cache-Control', 'private, no-store');
      const gzip = /\bgzip\b/.test(req.get('accept-encoding') ?? '') && req.get('range') === undefined;
      if (!gzip) {
        // send handles Range (206, 416), Content-Length and Last-Modified
        await new Promise<void>((resolve, reject) =>
          res.sendFile(
            path,
            { headers: { 'Content-Type': 'application/fhir+ndjson' }, etag: false },
            (error) => (error && !res.headersSent ? reject(error) : resolve()),
          ),
        );
        return;
      }
      res.setHeader('Content-Encoding', 'gzip');
      res.setHeader('Vary', 'Accept-Encoding');
      res.setHeader('Last-Modified', statSync(path).mtime.toUTCString());
      res.status(200);
      await new Promise<void>((resolve, reject) => {
        const source = createReadStream(path);
        source.on('error', reject);
        source
          .pipe(createGzip({ level: 1 }))
          .pipe(res)
          .on('finish', resolve)
          .on('error', reject);
      });
    })
    .all(rejectMethod(['GET']));

  return router;
}
