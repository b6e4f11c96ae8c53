import type { NextFunction, Request, Response } from 'express';
import {
  FhirError,
  badRequest,
  internal,
  methodNotAllowed,
  notFound,
  tooLarge,
  unsupportedMediaType,
  outcome,
} from '../errors.js';
import { challengeText } from '../auth/bearer.js';
import type { Auditor } from '../audit/access-audit.js';
import { StoreUnavailableError } from '../store/store.js';
import { auditFailure } from './audit-access.js';

/** What body-parser attaches to the errors it raises. */
interface HttpParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** Maps anything thrown below the API to a FhirError; unknown errors become a generic 500. */
export function toFhirError(error: unknown, req: Request): FhirError {
  if (error instanceof FhirError) return error;
  const parser = error as HttpParserError;
  switch (parser.type) {
    case 'entity.too.large':
      return tooLarge(`The request body is larger than the limit of ${String(parser.limit)} bytes`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return unsupportedMediaType('The body must be UTF-8 encoded');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return badRequest('The request body was incomplete');
  }
  if (error instanceof StoreUnavailableError) {
    return new FhirError(
      503,
      outcome([
        { severity: 'error', code: 'transient', diagnostics: 'The store is unavailable; retry shortly' },
      ]),
    );
  }
  req.log.error('http.unexpected', {
    error: error instanceof Error ? error.name : typeof error,
    message: error instanceof Error ? error.message : undefined,
    stack: error instanceof Error ? error.stack : undefined,
  });
  return internal(req.id);
}

/**
 * The last middleware: every failure leaves as an OperationOutcome, never a stack trace. With an
 * auditor, the failure is recorded in the audit trail before the answer goes out.
 */
export function errorHandler(auditor?: Auditor) {
  return async function fhirErrorHandler(
    error: unknown,
    req: Request,
    res: Response,
    _next: NextFunction,
  ): Promise<void> {
    const fhirError = toFhirError(error, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (auditor) {
      const first = fhirError.outcome.issue[0];
      try {
        await auditFailure(
          auditor,
          req,
          res,
          fhirError.status,
          first?.diagnostics ?? first?.code ?? 'failed',
        );
      } catch (auditError) {
        // the answer is a failure either way; the client may retry once the store is back
        req.log.error('audit.record_failed', {
          error: auditError instanceof Error ? auditError.name : typeof auditError,
          message: auditError instanceof Error ? auditError.message : undefined,
        });
      }
    }
    if (fhirError.status === 503) res.setHeader('Retry-After', '5');
    if (fhirError.status === 403) {
      // RFC 6750 §3.1: the token is valid but its scopes do not cover the request
      const why = challengeText(fhirError.outcome.issue[0]?.diagnostics ?? '');
      res.setHeader(
        'WWW-Authenticate',
        `Bearer realm="ferry", error="insufficient_scope", error_description="${why}"`,
      );
    }
    const text = JSON.stringify(fhirError.outcome);
    res.status(fhirError.status);
    res.setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };
}

/** 405 for a known path with a method it does not take. */
export function rejectMethod(allowed: string[]) {
  return function methodNotAllowedHandler(req: Request, res: Response): void {
    res.setHeader('Allow', allowed.join(', '));
    throw methodNotAllowed(`${req.method} is not allowed here; allowed: ${allowed.join(', ')}`);
  };
}

/** 404 for a path no route knows. */
export function unknownRoute(req: Request): never {
  throw notFound(`No endpoint for ${req.method} ${req.path.slice(0, 200)}`);
}
