import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { Access } from '../auth/access.js';
import type { Principal } from '../auth/principal.js';
import { badRequest, unsupportedMediaType } from '../errors.js';
import { parseETag } from '../fhir/ids.js';
import type { ServiceContext } from '../service/context.js';
import {
  conditionalCreate,
  conditionalDelete,
  conditionalPatch,
  conditionalUpdate,
} from '../service/conditional.js';
import { processBundle } from '../service/bundle.js';
import { createResource } from '../service/create.js';
import { deleteResource } from '../service/delete.js';
import { history } from '../service/history.js';
import { isFhirPathPatch } from '../service/fhirpath-patch.js';
import { patchResource } from '../service/patch.js';
import { readResource, vreadResource } from '../service/read.js';
import { searchResources } from '../service/search.js';
import { updateResource } from '../service/update.js';
import { validateOperation } from '../service/validate-operation.js';
import type { CapabilityStatement } from 'fhir/r4.js';
import { contextOf } from './audit-access.js';
import { fhirJsonTypes, jsonBody, jsonPatchTypes } from './body.js';
import { rejectMethod } from './errors.js';
import { assertContentType } from './negotiate.js';
import {
  preferReturn,
  sendJson,
  sendOutcome,
  sendVersion,
  sendWriteResult,
  setVersionHeaders,
} from './respond.js';
import { informational } from '../errors.js';

/** JSON Patch, or FHIRPath Patch as a Parameters resource (R4 http.html#patch). */
const patchTypes = [...jsonPatchTypes, ...fhirJsonTypes];

/** A PATCH body: JSON Patch as application/json-patch+json, FHIRPath Patch as a FHIR Parameters. */
function patchBody(req: Request): unknown {
  const patch = jsonBody(req, patchTypes);
  if (req.is(jsonPatchTypes) === false && !isFhirPathPatch(patch)) {
    throw unsupportedMediaType(
      'A FHIR-typed PATCH body must be a FHIRPath Patch Parameters; send JSON Patch as application/json-patch+json',
    );
  }
  return patch;
}

const param = (req: Request, name: string): string => String(req.params[name]);

/** The request's service context: the gateway's, with the access its token grants. */
const ctxOf = (res: Response): ServiceContext => res.locals.ctx as ServiceContext;

/** The query string as ordered name/value pairs (repeated names kept: they are AND-ed). */
function queryPairs(req: Request): [string, string][] {
  const at = req.originalUrl.indexOf('?');
  return at < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(at + 1))];
}

/** A `POST _search` body (R4 http.html#search: application/x-www-form-urlencoded). */
function formPairs(req: Request): [string, string][] {
  assertContentType(req, ['application/x-www-form-urlencoded']);
  const raw: unknown = req.body;
  return Buffer.isBuffer(raw) ? [...new URLSearchParams(raw.toString('utf8'))] : [];
}

/** `Prefer: handling=strict` (R4 search.html#errors). */
function strictHandling(req: Request): boolean {
  const prefer = req.headers.prefer;
  return /(?:^|[,;\s])handling\s*=\s*strict\b/i.test(
    Array.isArray(prefer) ? prefer.join(',') : (prefer ?? ''),
  );
}

/** If-Match as a version number; a value that names no version is a 400. */
function ifMatch(req: Request): number | undefined {
  const header = req.headers['if-match'];
  if (header === undefined) return undefined;
  const version = parseETag(header);
  if (version === undefined)
    throw badRequest(`If-Match '${header.slice(0, 40)}' is not a version ETag such as W/"3"`);
  return version;
}

/** R4 http.html#cread: If-None-Match / If-Modified-Since answered 304 when nothing changed. */
function notModified(req: Request, versionId: number, lastUpdated: string): boolean {
  const noneMatch = req.headers['if-none-match'];
  if (noneMatch !== undefined) return noneMatch.trim() === '*' || parseETag(noneMatch) === versionId;
  const since = req.headers['if-modified-since'];
  if (since !== undefined) {
    const t = Date.parse(since);
    // HTTP dates have whole seconds; compare at that precision
    return !Number.isNaN(t) && Math.floor(Date.parse(lastUpdated) / 1000) <= Math.floor(t / 1000);
  }
  return false;
}

/**
 * The FHIR REST route table (R4 http.html). Each handler translates HTTP to one service call
 * and back; the interactions themselves live in service/.
 */
export function fhirRoutes(
  ctx: ServiceContext,
  metadata: CapabilityStatement,
  limits: { maxBodyBytes: number; maxBundleEntries: number },
  requireToken: RequestHandler,
  extra: Router[] = [],
): Router {
  const router = express.Router({ caseSensitive: true, strict: false });
  const body = express.raw({ type: () => true, limit: limits.maxBodyBytes });
  router.use((req, res, next) => {
    res.locals.mount = req.baseUrl;
    next();
  });

  router
    .route('/metadata')
    .get((req, res) => {
      sendJson(req, res, 200, metadata);
    })
    .all(rejectMethod(['GET']));

  // everything below needs an access token; the service asks its Access before each step
  router.use(requireToken, (_req, res, next) => {
    const requestCtx: ServiceContext = {
      ...contextOf(res, ctx),
      access: new Access(res.locals.principal as Principal),
    };
    res.locals.ctx = requestCtx;
    next();
  });
  for (const routes of extra) router.use(routes);

  router
    .route('/_history')
    .get(async (req, res) => {
      sendJson(req, res, 200, await history(ctxOf(res), {}, req.query as Record<string, string>));
    })
    .all(rejectMethod(['GET']));

  router
    .route('/:type/_history')
    .get(async (req, res) => {
      sendJson(
        req,
        res,
        200,
        await history(ctxOf(res), { type: param(req, 'type') }, req.query as Record<string, string>),
      );
    })
    .all(rejectMethod(['GET']));

  router
    .route('/:type/:id/_history')
    .get(async (req, res) => {
      const scope = { type: param(req, 'type'), id: param(req, 'id') };
      sendJson(req, res, 200, await history(ctxOf(res), scope, req.query as Record<string, string>));
    })
    .all(rejectMethod(['GET']));

  const search = async (req: Request, res: Response, type: string | undefined): Promise<void> => {
    const params = queryPairs(req);
    if (req.method === 'POST') params.push(...formPairs(req));
    sendJson(req, res, 200, await searchResources(ctxOf(res), { type, params, strict: strictHandling(req) }));
  };
  router
    .route('/')
    .get((req, res) => search(req, res, undefined))
    .post(body, async (req, res) => {
      const bundle = await processBundle(ctxOf(res), jsonBody(req, fhirJsonTypes), {
        maxEntries: limits.maxBundleEntries,
        prefer: preferReturn(req, 'minimal'),
      });
      sendJson(req, res, 200, bundle);
    })
    .all(rejectMethod(['GET', 'POST']));
  router
    .route('/_search')
    .post(body, (req, res) => search(req, res, undefined))
    .all(rejectMethod(['POST']));
  router
    .route('/:type/_search')
    .post(body, (req, res) => search(req, res, param(req, 'type')))
    .all(rejectMethod(['POST']));

  // R4 resource-operation-validate.html; before `/:compartment/:id/:type` and `/:type/:id`,
  // which would otherwise take `$validate` for a type or an id.
  const validateRoute = async (req: Request, res: Response): Promise<void> => {
    const raw: unknown = req.body;
    const query = new URLSearchParams(queryPairs(req));
    const result = await validateOperation(ctxOf(res), {
      type: param(req, 'type'),
      id: req.params.id === undefined ? undefined : param(req, 'id'),
      body: Buffer.isBuffer(raw) && raw.length > 0 ? jsonBody(req, fhirJsonTypes) : undefined,
      mode: query.get('mode') ?? undefined,
      profile: query.get('profile') ?? undefined,
    });
    sendOutcome(req, res, 200, result);
  };
  router
    .route('/:type/$validate')
    .post(body, validateRoute)
    .all(rejectMethod(['POST']));
  router
    .route('/:type/:id/$validate')
    .post(body, validateRoute)
    .all(rejectMethod(['POST']));

  router
    .route('/:compartment/:id/:type')
    .get(async (req, res) => {
      const compartment = { type: param(req, 'compartment'), id: param(req, 'id') };
      const params = queryPairs(req);
      sendJson(
        req,
        res,
        200,
        await searchResources(ctxOf(res), {
          type: param(req, 'type'),
          params,
          compartment,
          strict: strictHandling(req),
        }),
      );
    })
    .all(rejectMethod(['GET']));

  router
    .route('/:type/:id/_history/:vid')
    .get(async (req, res) => {
      const version = await vreadResource(
        ctxOf(res),
        param(req, 'type'),
        param(req, 'id'),
        param(req, 'vid'),
      );
      sendVersion(req, res, 200, version);
    })
    .all(rejectMethod(['GET']));

  router
    .route('/:type/:id')
    .get(async (req, res) => {
      const current = await readResource(ctxOf(res), param(req, 'type'), param(req, 'id'));
      if (notModified(req, current.versionId, current.lastUpdated)) {
        setVersionHeaders(res, current);
        res.status(304).end();
        return;
      }
      sendVersion(req, res, 200, current);
    })
    .put(body, async (req, res) => {
      const result = await updateResource(
        ctxOf(res),
        param(req, 'type'),
        param(req, 'id'),
        jsonBody(req, fhirJsonTypes),
        {
          ifMatch: ifMatch(req),
        },
      );
      sendWriteResult(req, res, result, 'update');
    })
    .patch(body, async (req, res) => {
      const result = await patchResource(ctxOf(res), param(req, 'type'), param(req, 'id'), patchBody(req), {
        ifMatch: ifMatch(req),
      });
      sendWriteResult(req, res, result, 'patch');
    })
    .delete(async (req: Request, res: Response) => {
      const type = param(req, 'type');
      const id = param(req, 'id');
      const result = await deleteResource(ctxOf(res), type, id, { ifMatch: ifMatch(req) });
      if (result) setVersionHeaders(res, result.version);
      sendOutcome(
        req,
        res,
        200,
        informational(
          result
            ? `Deleted ${type}/${id} (version ${result.version.versionId})`
            : `${type}/${id} was not present; nothing to delete`,
        ),
      );
    })
    .all(rejectMethod(['GET', 'PUT', 'PATCH', 'DELETE']));

  router
    .route('/:type')
    .get((req, res) => search(req, res, param(req, 'type')))
    .post(body, async (req, res) => {
      const type = param(req, 'type');
      const ifNoneExist = req.headers['if-none-exist'];
      const resource = jsonBody(req, fhirJsonTypes);
      const result =
        typeof ifNoneExist === 'string'
          ? await conditionalCreate(ctxOf(res), type, resource, [
              ...new URLSearchParams(ifNoneExist.replace(/^[^?]*\?/, '')),
            ])
          : await createResource(ctxOf(res), type, resource);
      sendWriteResult(req, res, result, 'create');
    })
    .put(body, async (req, res) => {
      const result = await conditionalUpdate(
        ctxOf(res),
        param(req, 'type'),
        jsonBody(req, fhirJsonTypes),
        queryPairs(req),
        {
          ifMatch: ifMatch(req),
        },
      );
      sendWriteResult(req, res, result, 'conditional update');
    })
    .patch(body, async (req, res) => {
      const result = await conditionalPatch(ctxOf(res), param(req, 'type'), patchBody(req), queryPairs(req), {
        ifMatch: ifMatch(req),
      });
      sendWriteResult(req, res, result, 'conditional patch');
    })
    .delete(async (req, res) => {
      const type = param(req, 'type');
      const deleted = await conditionalDelete(ctxOf(res), type, queryPairs(req));
      sendOutcome(
        req,
        res,
        200,
        informational(
          deleted.length === 0
            ? `No ${type} matched; nothing deleted`
            : `Deleted ${deleted.length} ${type}: ${deleted.map((d) => `${d.id} (version ${d.versionId})`).join(', ')}`,
        ),
      );
    })
    .all(rejectMethod(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));

  return router;
}
