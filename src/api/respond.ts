import type { OperationOutcome, Resource } from 'fhir/r4.js';
import type { Request, Response } from 'express';
import { badRequest, informational } from '../errors.js';
import { etag } from '../fhir/ids.js';
import { subsetResource, summaryModes, type SummaryMode } from '../fhir/subset.js';
import type { StoredVersion } from '../store/store.js';
import type { WriteResult } from '../service/write-path.js';
import { responseMediaType, wantsPretty } from './negotiate.js';

/** Writes a JSON body (an object, or JSON text already serialised) with FHIR's media type. */
export function sendJson(req: Request, res: Response, status: number, body: object | string): void {
  const type = responseMediaType(req);
  let text = typeof body === 'string' ? body : JSON.stringify(body);
  if (wantsPretty(req)) text = JSON.stringify(typeof body === 'string' ? JSON.parse(body) : body, null, 2);
  res.status(status);
  res.setHeader('Content-Type', `${type}; charset=utf-8`);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function sendOutcome(req: Request, res: Response, status: number, outcome: OperationOutcome): void {
  sendJson(req, res, status, outcome);
}

/** `_summary` and `_elements` as given on a read (R4 search.html#summary, #elements). */
export function readSubsetting(req: Request): { summary?: SummaryMode; elements?: string[] } {
  const out: { summary?: SummaryMode; elements?: string[] } = {};
  const summary = req.query._summary;
  if (summary !== undefined) {
    if (
      typeof summary !== 'string' ||
      !summaryModes.includes(summary as SummaryMode) ||
      summary === 'count'
    ) {
      throw badRequest('_summary must be one of true, text, data or false', '_summary');
    }
    out.summary = summary as SummaryMode;
  }
  const elements = req.query._elements;
  if (elements !== undefined) {
    if (typeof elements !== 'string' || !/^[A-Za-z][A-Za-z0-9]*(,[A-Za-z][A-Za-z0-9]*)*$/.test(elements)) {
      throw badRequest('_elements must be a comma-separated list of element names', '_elements');
    }
    if (out.summary !== undefined) throw badRequest('Use _summary or _elements, not both', '_elements');
    out.elements = elements.split(',');
  }
  return out;
}

function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}

/** Version headers of R4 http.html#read: ETag and Last-Modified. */
export function setVersionHeaders(res: Response, version: StoredVersion): void {
  res.setHeader('ETag', etag(version.versionId));
  res.setHeader('Last-Modified', httpDate(version.lastUpdated));
}

/** Sends a stored version, subsetted when asked; the stored JSON goes out as is otherwise. */
export function sendVersion(req: Request, res: Response, status: number, version: StoredVersion): void {
  setVersionHeaders(res, version);
  const { summary, elements } = readSubsetting(req);
  const json = version.json ?? '{}';
  if (summary === undefined && elements === undefined) {
    sendJson(req, res, status, json);
    return;
  }
  sendJson(req, res, status, subsetResource(JSON.parse(json) as Resource, summary, elements));
}

type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** Reads `Prefer: return=…` (R4 http.html#ops); `fallback` (representation) when absent or unknown. */
export function preferReturn(req: Request, fallback: PreferReturn = 'representation'): PreferReturn {
  const header = req.headers.prefer ?? '';
  const prefer = Array.isArray(header) ? header.join(',') : header;
  const m = /(?:^|[,;\s])return\s*=\s*"?(minimal|representation|OperationOutcome)"?/i.exec(prefer);
  const value = m?.[1]?.toLowerCase();
  if (value === 'minimal') return 'minimal';
  if (value === 'operationoutcome') return 'OperationOutcome';
  if (value === 'representation') return 'representation';
  return fallback;
}

/** Answers a create/update/patch as R4 http.html asks: status, Location, ETag, Prefer. */
export function sendWriteResult(req: Request, res: Response, result: WriteResult, what: string): void {
  const { version } = result;
  const status = result.created ? 201 : 200;
  setVersionHeaders(res, version);
  const base = (req.app.locals.baseUrl as string | undefined) ?? '';
  const location = `${base}/${version.type}/${version.id}/_history/${version.versionId}`;
  if (result.created) res.setHeader('Location', location);
  else res.setHeader('Content-Location', location);
  switch (preferReturn(req)) {
    case 'minimal':
      res.status(status).end();
      return;
    case 'OperationOutcome':
      sendOutcome(
        req,
        res,
        status,
        informational(
          result.unchanged
            ? `${what}: content unchanged; ${version.type}/${version.id} stays at version ${version.versionId}`
            : `${what}: ${version.type}/${version.id} version ${version.versionId} stored`,
        ),
      );
      return;
    default:
      sendJson(req, res, status, version.json ?? '{}');
  }
}
