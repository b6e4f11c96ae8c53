import express, { type Express } from 'express';
import helmet from 'helmet';
import type { CapabilityStatement } from 'fhir/r4.js';
import type { Auditor } from '../audit/access-audit.js';
import type { Hl7Handler } from '../ingest/hl7v2/inbound.js';
import type { Logger } from '../log.js';
import type { ServiceContext } from '../service/context.js';
import { auditRequests } from './audit-access.js';
import { errorHandler, unknownRoute } from './errors.js';
import { fhirRoutes } from './fhir-routes.js';
import { ingestRoutes } from './ingest-routes.js';
import { requestId } from './request-id.js';

export interface AppDeps {
  ctx: ServiceContext;
  metadata: CapabilityStatement;
  maxBodyBytes: number;
  maxBundleEntries: number;
  log: Logger;
  /** Handles HL7 v2 messages; `POST /ingest/hl7v2` exists only when one is given. */
  hl7v2Handler?: Hl7Handler;
  /** The audit trail: every /fhir and /ingest request records an AuditEvent when given. */
  auditor?: Auditor;
}

/**
 * The HTTP shell: request id and log line, helmet's headers, health probes, the FHIR routes and
 * the error handler that turns every failure into an OperationOutcome. Kept short on purpose:
 * each middleware here runs on every request.
 */
export function createApp(deps: AppDeps): Express {
  const { ctx, metadata, maxBodyBytes, maxBundleEntries, log, hl7v2Handler, auditor } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // versions carry their own ETag (R4 http.html#versioning)
  app.locals.baseUrl = ctx.baseUrl;
  app.use(requestId(log));
  app.use(helmet());
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
    app.use('/fhir', auditRequests(ctx, auditor));
    app.use('/ingest', auditRequests(ctx, auditor));
  }
  app.use('/fhir', fhirRoutes(ctx, metadata, { maxBodyBytes, maxBundleEntries }));
  if (hl7v2Handler) app.use('/ingest', ingestRoutes(hl7v2Handler, { maxBodyBytes }));
  app.use(unknownRoute);
  app.use(errorHandler(auditor));
  return app;
}
