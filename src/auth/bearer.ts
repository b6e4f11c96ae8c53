import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Passport } from 'passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import type { OperationOutcome } from 'fhir/r4.js';
import type { Principal } from './principal.js';
import { InvalidTokenError, type TokenVerifier } from './tokens.js';

/**
 * The resource server's door (RFC 6750): passport's bearer strategy takes the token from the
 * Authorization header, the TokenVerifier checks it, and the request goes on with
 * `res.locals.principal` set. Anything else is a 401 with a `WWW-Authenticate: Bearer` challenge
 * and an OperationOutcome saying why.
 */

export interface DeniedEvents {
  /** Called for every refused request, before the answer is sent (for the audit trail). */
  denied?(req: Request, res: Response, status: number, reason: string): Promise<void> | void;
}

const realm = 'ferry';

/** Text for a quoted challenge parameter: printable ASCII only, no quotes or backslashes (RFC 6750 §3). */
export const challengeText = (text: string): string => text.replace(/[^\x20-\x7e]|["\\]/g, ' ').slice(0, 300);

function unauthorized(
  res: Response,
  status: number,
  error: 'invalid_token' | 'invalid_request',
  description: string,
  issueCode: 'login' | 'expired' | 'security' | 'invalid',
): void {
  res.status(status);
  res.setHeader(
    'WWW-Authenticate',
    `Bearer realm="${realm}", error="${error}", error_description="${challengeText(description)}"`,
  );
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: issueCode, diagnostics: `Access token refused: ${description}` }],
  };
  res.setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
  res.end(JSON.stringify(outcome));
}

/** Middleware requiring a valid access token; sets `res.locals.principal`. */
export function requireToken(verifier: TokenVerifier, events: DeniedEvents = {}): RequestHandler {
  const passport = new Passport();
  const problems = new WeakMap<Request, InvalidTokenError>();
  passport.use(
    new BearerStrategy(
      { realm, passReqToCallback: true },
      (
        req: Request,
        token: string,
        done: (error: Error | null, user?: Principal | false, info?: string) => void,
      ) => {
        verifier.verify(token).then(
          (principal) => done(null, principal),
          (error: unknown) => {
            if (!(error instanceof InvalidTokenError)) return done(error as Error);
            problems.set(req, error);
            return done(null, false, error.message);
          },
        );
      },
    ),
  );
  return function bearerToken(req: Request, res: Response, next: NextFunction): void {
    // the refusal is on record before it is answered
    const refuse = (answer: Parameters<typeof unauthorized>): void => {
      Promise.resolve(events.denied?.(req, res, answer[1], answer[3]))
        .catch((e: unknown) => {
          req.log.error('audit.failed', { message: e instanceof Error ? e.message : String(e) });
        })
        .finally(() => unauthorized(...answer));
    };
    const authenticate = passport.authenticate(
      'bearer',
      { session: false },
      (error: unknown, principal: Principal | false, _challenge: unknown, status?: number) => {
        if (error) return next(error);
        if (principal) {
          res.locals.principal = principal;
          return next();
        }
        const problem = problems.get(req);
        refuse(
          status === 400
            ? [res, 400, 'invalid_request', 'the Authorization header must be "Bearer <token>"', 'invalid']
            : problem
              ? [res, 401, 'invalid_token', problem.message, problem.issueCode]
              : [res, 401, 'invalid_token', 'no access token; send "Authorization: Bearer <token>"', 'login'],
        );
      },
    ) as RequestHandler;
    // the strategy would also take a token from the query string; a token in a URL leaks into logs
    if (typeof req.query.access_token === 'string' && !req.headers.authorization) {
      refuse([
        res,
        401,
        'invalid_token',
        'send the access token in the Authorization header, not the URL',
        'security',
      ]);
      return;
    }
    void authenticate(req, res, next);
  };
}
