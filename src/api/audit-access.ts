import type { NextFunction, Request, Response } from 'express';
import { accessAudit, agentOf, recordAccess, type AccessFacts, type Auditor } from '../audit/access-audit.js';
import type { AuditAgent } from '../audit/audit-event.js';
import { describeRequest } from '../audit/describe-request.js';
import type { Principal } from '../auth/principal.js';
import type { ServiceContext } from '../service/context.js';

/**
 * The HTTP side of the audit trail: each request's service context carries its audit trail
 * (who asks: `res.locals.principal`, set by authentication; from where: the socket), and a
 * request that fails is recorded as the interaction it attempted.
 */

/** The agent of a request: its principal (absent: unauthenticated) and the socket's address. */
export function requestAgent(req: Request, res: Response): AuditAgent {
  return agentOf(res.locals.principal as Principal | undefined, req.socket.remoteAddress);
}

/** Gives each request a service context whose calls record their AuditEvents (`res.locals.ctx`). */
export function auditRequests(ctx: ServiceContext, auditor: Auditor) {
  return function auditRequestsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const audited: ServiceContext = { ...ctx, audit: accessAudit(auditor, () => requestAgent(req, res)) };
    res.locals.ctx = audited;
    next();
  };
}

/** The service context of a request: its audited one when the audit trail is on. */
export function contextOf(res: Response, fallback: ServiceContext): ServiceContext {
  return (res.locals.ctx as ServiceContext | undefined) ?? fallback;
}

/** The Bundle type of a failed `POST [base]`, when its body says. */
function bundleTypeOf(req: Request): string | undefined {
  const raw: unknown = req.body;
  if (!Buffer.isBuffer(raw)) return undefined;
  try {
    return (JSON.parse(raw.toString('utf8')) as { type?: string }).type;
  } catch {
    return undefined;
  }
}

/** Mount points whose requests are audited. */
const auditedMounts = ['/fhir', '/ingest'];

/**
 * Records a failed request (4xx/5xx) durably, as the interaction its method and path attempt:
 * the error handler calls it for every failure, and authentication may call it for a request it
 * answers itself (401/403). Requests outside the FHIR and ingest endpoints are not recorded.
 */
export async function auditFailure(
  auditor: Auditor,
  req: Request,
  res: Response,
  status: number,
  outcomeText: string,
): Promise<void> {
  const path = req.originalUrl;
  const mount = auditedMounts.find((m) => path === m || path.startsWith(`${m}/`) || path.startsWith(`${m}?`));
  if (mount === undefined) return;
  const access =
    mount === '/fhir'
      ? describeRequest(req.method, path.slice(mount.length), bundleTypeOf(req))
      : { interaction: 'operation' as const };
  const facts: AccessFacts = { ...access, status, outcomeText: outcomeText.slice(0, 200) };
  await recordAccess(auditor, requestAgent(req, res), facts);
}
