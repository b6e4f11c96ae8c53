import type { Binary, BundleEntry, Resource } from 'fhir/r4.js';
import { badRequest } from '../errors.js';
import { parseETag } from '../fhir/ids.js';

/**
 * The request of one batch/transaction entry (R4 bundle.html#request), parsed into the
 * interaction it asks for: the same interactions the REST routes serve.
 */
export type EntryRequest =
  | { kind: 'read'; type: string; id: string; ifNoneMatch?: string; ifModifiedSince?: string }
  | { kind: 'vread'; type: string; id: string; vid: string }
  | { kind: 'search'; type?: string; params: [string, string][]; compartment?: { type: string; id: string } }
  | { kind: 'history'; type?: string; id?: string; params: Record<string, string> }
  | { kind: 'create'; type: string; resource: Resource; ifNoneExist?: [string, string][] }
  | { kind: 'update'; type: string; id: string; resource: Resource; ifMatch?: number }
  | {
      kind: 'conditional-update';
      type: string;
      criteria: [string, string][];
      resource: Resource;
      ifMatch?: number;
    }
  | { kind: 'patch'; type: string; id: string; patch: unknown; ifMatch?: number }
  | {
      kind: 'conditional-patch';
      type: string;
      criteria: [string, string][];
      patch: unknown;
      ifMatch?: number;
    }
  | { kind: 'delete'; type: string; id: string; ifMatch?: number }
  | { kind: 'conditional-delete'; type: string; criteria: [string, string][] };

export type EntryMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ParsedEntry {
  /** The entry's position in the Bundle, for error messages and the response order. */
  n: number;
  method: EntryMethod;
  request: EntryRequest;
  fullUrl?: string;
}

const methods = new Set<string>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Entry request URL → path segments and query pairs, relative to the FHIR base. */
function splitUrl(
  url: string,
  baseUrl: string,
  where: string,
): { segments: string[]; query: [string, string][] } {
  let relative = url.trim();
  if (relative.startsWith(`${baseUrl}/`)) relative = relative.slice(baseUrl.length + 1);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(relative))
    throw badRequest(
      `${where}: the URL '${url.slice(0, 120)}' is not on this server's base ${baseUrl}`,
      where,
    );
  relative = relative.replace(/^\/+/, '');
  const at = relative.indexOf('?');
  const path = at < 0 ? relative : relative.slice(0, at);
  const query = at < 0 ? [] : [...new URLSearchParams(relative.slice(at + 1))];
  const segments = path === '' ? [] : path.split('/').map((s) => decodeURIComponent(s));
  return { segments, query };
}

/** `ifNoneExist` may be a bare query (`identifier=a|b`) or carry the type (`Patient?identifier=a|b`). */
function criteriaOf(text: string): [string, string][] {
  return [...new URLSearchParams(text.replace(/^[^?]*\?/, ''))];
}

function versionOf(header: string | undefined, where: string): number | undefined {
  if (header === undefined) return undefined;
  const version = parseETag(header);
  if (version === undefined)
    throw badRequest(`${where}: '${header.slice(0, 40)}' is not a version ETag such as W/"3"`, where);
  return version;
}

/** The body of a PATCH entry: a Binary holding JSON Patch, or a FHIRPath Patch Parameters. */
function patchBody(resource: Resource | undefined, where: string): unknown {
  if (resource?.resourceType === 'Parameters') return resource;
  if (resource?.resourceType === 'Binary') {
    const binary = resource as Binary;
    if (binary.contentType !== 'application/json-patch+json' || binary.data === undefined) {
      throw badRequest(
        `${where}: a Binary patch must have contentType application/json-patch+json and data`,
        where,
      );
    }
    try {
      return JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8'));
    } catch {
      throw badRequest(`${where}: the Binary's data is not base64-encoded JSON Patch`, `${where}.data`);
    }
  }
  throw badRequest(
    `${where}: a PATCH entry needs a Binary (JSON Patch) or Parameters (FHIRPath Patch)`,
    where,
  );
}

/** Parses entry `n`; every malformed part is a 400 naming `Bundle.entry[n]…`. */
export function parseEntry(entry: BundleEntry, n: number, baseUrl: string): ParsedEntry {
  const at = `Bundle.entry[${n}]`;
  // the Bundle arrives unvalidated: an entry may be anything JSON allows
  if (typeof entry !== 'object' || (entry as unknown) === null || Array.isArray(entry))
    throw badRequest(`${at}: an entry must be an object`, at);
  const request = entry.request;
  if (typeof request !== 'object' || (request as unknown) === null)
    throw badRequest(`${at}: a batch or transaction entry needs a request`, `${at}.request`);
  const method = request.method as string;
  if (!methods.has(method))
    throw badRequest(
      `${at}: request.method '${method.slice(0, 20)}' is not GET, HEAD, POST, PUT, PATCH or DELETE`,
      `${at}.request.method`,
    );
  if (typeof request.url !== 'string' || request.url.trim() === '')
    throw badRequest(`${at}: request.url is required`, `${at}.request.url`);
  const { segments, query } = splitUrl(request.url, baseUrl, `${at}.request.url`);
  const resource = entry.resource as Resource | undefined;
  const ifMatch = versionOf(request.ifMatch, `${at}.request.ifMatch`);
  const [type, id, third, fourth] = segments;
  const bad = (): never => {
    throw badRequest(
      `${at}: ${method} ${request.url.slice(0, 120)} is not an interaction Ferry serves`,
      `${at}.request.url`,
    );
  };
  const needResource = (): Resource => {
    if (!resource) throw badRequest(`${at}: ${method} needs a resource`, `${at}.resource`);
    return resource;
  };
  const parsed = (req: EntryRequest): ParsedEntry => {
    const out: ParsedEntry = { n, method: method as EntryMethod, request: req };
    if (entry.fullUrl !== undefined) out.fullUrl = entry.fullUrl;
    return out;
  };
  switch (method) {
    case 'GET':
    case 'HEAD': {
      if (type === undefined || type === '_search') return parsed({ kind: 'search', params: query });
      if (type === '_history' && segments.length === 1)
        return parsed({ kind: 'history', params: Object.fromEntries(query) });
      if (id === undefined || (id === '_search' && third === undefined))
        return parsed({ kind: 'search', type, params: query });
      if (id === '_history' && third === undefined)
        return parsed({ kind: 'history', type, params: Object.fromEntries(query) });
      if (third === undefined) {
        const read: EntryRequest = { kind: 'read', type, id };
        if (request.ifNoneMatch !== undefined) read.ifNoneMatch = request.ifNoneMatch;
        if (request.ifModifiedSince !== undefined) read.ifModifiedSince = request.ifModifiedSince;
        return parsed(read);
      }
      if (third === '_history' && fourth === undefined)
        return parsed({ kind: 'history', type, id, params: Object.fromEntries(query) });
      if (third === '_history' && fourth !== undefined && segments.length === 4)
        return parsed({ kind: 'vread', type, id, vid: fourth });
      if (segments.length === 3)
        return parsed({ kind: 'search', type: third, params: query, compartment: { type, id } });
      return bad();
    }
    case 'POST': {
      if (type !== undefined && id === '_search' && segments.length === 2)
        return parsed({ kind: 'search', type, params: query });
      if (type === undefined || segments.length !== 1) return bad();
      const create: EntryRequest = { kind: 'create', type, resource: needResource() };
      if (request.ifNoneExist !== undefined) create.ifNoneExist = criteriaOf(request.ifNoneExist);
      return parsed(create);
    }
    case 'PUT': {
      if (type === undefined || segments.length > 2) return bad();
      const withMatch = <T extends EntryRequest>(req: T): T =>
        ifMatch === undefined ? req : { ...req, ifMatch };
      if (id === undefined) {
        if (query.length === 0) return bad();
        return parsed(
          withMatch({ kind: 'conditional-update', type, criteria: query, resource: needResource() }),
        );
      }
      return parsed(withMatch({ kind: 'update', type, id, resource: needResource() }));
    }
    case 'PATCH': {
      if (type === undefined || segments.length > 2) return bad();
      const patch = patchBody(resource, `${at}.resource`);
      const withMatch = <T extends EntryRequest>(req: T): T =>
        ifMatch === undefined ? req : { ...req, ifMatch };
      if (id === undefined) {
        if (query.length === 0) return bad();
        return parsed(withMatch({ kind: 'conditional-patch', type, criteria: query, patch }));
      }
      return parsed(withMatch({ kind: 'patch', type, id, patch }));
    }
    default: {
      // DELETE
      if (type === undefined || segments.length > 2) return bad();
      if (id === undefined) {
        if (query.length === 0) return bad();
        return parsed({ kind: 'conditional-delete', type, criteria: query });
      }
      const del: EntryRequest = { kind: 'delete', type, id };
      if (ifMatch !== undefined) del.ifMatch = ifMatch;
      return parsed(del);
    }
  }
}
