import express, { Router, type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { CapabilityStatement } from 'fhir/r4.js';
import { Access, forbidden } from '../auth/access.js';
import type { Principal } from '../auth/principal.js';
import type { Auditor } from '../audit/access-audit.js';
import type { Hl7Handler } from '../ingest/hl7v2/inbound.js';
import type { Logger } from '../log.js';
import type { ServiceContext } from '../service/context.js';
import { auditRequests } from './audit-access.js';
import { errorHandler, unknownRoute } from './errors.js';
import type { ExportJobs } from '../bulk/export-jobs.js';
import { exportRoutes } from './export-routes.js';
import { fhirRoutes } from './fhir-routes.js';
import { ingestRoutes } from './ingest-routes.js';
import { csvIngestRoute } from './ingest-csv-route.js';
import { deadLetterRoutes, type DeadLetterRouteDeps } from './dead-letter-routes.js';
import type { CsvCatalog } from '../ingest/csv/model.js';
import { requestId } from './request-id.js';

export interface AppDeps {
  ctx: ServiceContext;
  metadata: CapabilityStatement;
  maxBodyBytes: number;
  maxBundleEntries: number;
  log: Logger;
  /** Handles HL7 v2 messages; `POST /ingest/hl7v2` exists only when one is given. */
  hl7v2Handler?: Hl7Handler;
  auth: {
    /** Requires a valid access token and sets `res.locals.principal`. */
    requireToken: RequestHandler;
    /** `/auth/token` and `/auth/jwks`. */
    tokenEndpoint: Router;
    /** The SMART configuration document. */
    smartConfiguration: Record<string, unknown>;
  };
  /** The types HL7 v2 ingest writes: a client needs create and update on each to post to `/ingest/hl7v2`. */
  ingestTypes: readonly string[];
  /** Dead letters over HTTP (`/ingest/deadletters`), when given. */
  deadLetters?: Omit<DeadLetterRouteDeps, 'ctx' | 'auditor'>;
  /** CSV mappings; `POST /ingest/csv/{mapping}` exists only when given. */
  csv?: { catalog: CsvCatalog; maxBodyBytes: number; uploadDir?: string };
  /** Send HSTS (when serving HTTPS). */
  hsts: boolean;
  /** Bulk Data export jobs; `$export` exists only when given. */
  exportJobs?: ExportJobs;
  /** The audit trail: every /fhir and /ingest request records an AuditEvent when given. */
  auditor?: Auditor;
}

/** Ingest writes with the gateway's authority, so the token must allow c and u on every type it may write. */
function ingestScopes(types: readonly string[]): RequestHandler {
  return (_req, res, next) => {
    const access = new Access(res.locals.principal as Principal);
    for (const type of types) {
      for (const permission of ['c', 'u'] as const) {
        if (!access.unrestricted(type, permission)) {
          throw forbidden(
            `Ingest writes ${types.join(', ')}; the access token needs create and update on each (e.g. system/${type}.cu)`,
          );
        }
      }
    }
    next();
  };
}

/**
 * The HTTP shell: request id and log line, helmet's headers, health probes, the FHIR routes and
 * the error handler that turns every failure into an OperationOutcome. Kept short on purpose:
 * each middleware here runs on every request.
 */
export function createApp(deps: AppDeps): Express {
  const { ctx, metadata, maxBodyBytes, maxBundleEntries, log, hl7v2Handler, auth, auditor } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // versions carry their own ETag (R4 http.html#versioning)
  app.locals.baseUrl = ctx.baseUrl;
  app.use(requestId(log));
  app.use(
    helmet({ strictTransportSecurity: deps.hsts ? { maxAge: 31536000, includeSubDomains: true } : false }),
  );
  const smart: RequestHandler = (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.json(auth.smartConfiguration);
  };
  // some clients look for the SMART configuration at the host root, others under the FHIR base
  app.get('/.well-known/smart-configuration', smart);
  app.get('/fhir/.well-known/smart-configuration', smart);
  app.use('/auth', auth.tokenEndpoint);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'up' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await ctx.store.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'store unreachable' });
    }
  });
  if (auditor) {
    // before authentication, so a refused request is recorded with the context it would have had
    app.use('/fhir', auditRequests(ctx, auditor));
    app.use('/ingest', auditRequests(ctx, auditor));
  }
  const extra = deps.exportJobs ? [exportRoutes(deps.exportJobs, { maxBodyBytes })] : [];
  app.use('/fhir', fhirRoutes(ctx, metadata, { maxBodyBytes, maxBundleEntries }, auth.requireToken, extra));
  if (hl7v2Handler || deps.csv || deps.deadLetters) {
    const ingest = Router();
    if (deps.deadLetters)
      ingest.use(
        '/deadletters',
        deadLetterRoutes({ ...deps.deadLetters, ctx, ...(auditor ? { auditor } : {}) }),
      );
    if (hl7v2Handler) ingest.use('/hl7v2', ingestScopes(deps.ingestTypes));
    if (deps.csv)
      ingest.post('/csv/:mapping', csvIngestRoute({ ...deps.csv, ctx, ...(auditor ? { auditor } : {}) }));
    if (hl7v2Handler) ingest.use(ingestRoutes(hl7v2Handler, { maxBodyBytes }));
    app.use('/ingest', auth.requireToken, ingest);
  }
  app.use(unknownRoute);
  app.use(errorHandler(auditor));
  return app;
}
