import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../log.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Correlates the response, every log line and (later) the audit record of this request. */
    id: string;
    log: Logger;
  }
}

const acceptable = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is sane, else a new one), echoes
 * it on the response and logs one line per request: method, route, status and time. Never the
 * query string or body: they can hold patient data.
 */
export function requestId(log: Logger) {
  return function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
    const offered = req.headers['x-request-id'];
    req.id = typeof offered === 'string' && acceptable.test(offered) ? offered : randomUUID();
    req.log = log.child({ requestId: req.id });
    res.setHeader('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      // the router's mount path is gone from req.baseUrl once an error left the router
      const mount = typeof res.locals.mount === 'string' ? res.locals.mount : '';
      req.log.info('http.request', {
        method: req.method,
        route: route === undefined ? 'unmatched' : `${mount}${route}`,
        type: typeof req.params.type === 'string' ? req.params.type : undefined,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  };
}
