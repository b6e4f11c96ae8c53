import { STATUS_CODES } from 'node:http';
import type { BundleEntry, BundleEntryResponse, FhirResource, OperationOutcome } from 'fhir/r4.js';
import { FhirError, informational } from '../errors.js';
import { etag } from '../fhir/ids.js';
import type { StoredVersion } from '../store/store.js';
import type { EntryRequest } from './bundle-request.js';
import { conditionalCreate, conditionalDelete, conditionalPatch, conditionalUpdate } from './conditional.js';
import type { ServiceContext } from './context.js';
import { createResource } from './create.js';
import { deleteResource } from './delete.js';
import { history } from './history.js';
import { patchResource } from './patch.js';
import { readResource, vreadResource } from './read.js';
import { searchResources } from './search.js';
import { updateResource } from './update.js';
import type { WriteResult } from './write-path.js';

/** What a batch/transaction response carries for a written resource (R4 http.html#ops Prefer). */
export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

/** `201 Created`: R4 bundle.html says the status starts with the three-digit HTTP code. */
export const statusText = (status: number): string => `${status} ${STATUS_CODES[status] ?? ''}`.trim();

/** The response entry of a stored version: status, location, etag and lastModified. */
export function versionEntry(
  version: StoredVersion,
  status: number,
  prefer: ReturnPreference,
  note?: string,
): BundleEntry {
  const response: BundleEntryResponse = {
    status: statusText(status),
    location: `${version.type}/${version.id}/_history/${version.versionId}`,
    etag: etag(version.versionId),
    lastModified: version.lastUpdated,
  };
  const entry: BundleEntry = { response };
  if (prefer === 'representation' && version.json !== undefined) {
    entry.resource = JSON.parse(version.json) as FhirResource;
  } else if (prefer === 'OperationOutcome') {
    response.outcome = informational(note ?? `${version.type}/${version.id} version ${version.versionId}`);
  }
  return entry;
}

/** How a write's OperationOutcome starts when the content equalled the current version. */
export const unchangedNote = 'Content unchanged';

/** The OperationOutcome of a conditional create that found its resource already there. */
export const existingNote = 'An existing resource matches ifNoneExist';

/** The response entry of a create, update or patch. */
export function writeEntry(result: WriteResult, prefer: ReturnPreference): BundleEntry {
  const { version } = result;
  const note = result.unchanged
    ? `${unchangedNote}; ${version.type}/${version.id} stays at version ${version.versionId}`
    : `${version.type}/${version.id} version ${version.versionId} stored`;
  return versionEntry(version, result.created ? 201 : 200, prefer, note);
}

/** The response entry of a failed entry: its status and OperationOutcome. */
export function errorEntry(error: FhirError): BundleEntry {
  return { response: { status: statusText(error.status), outcome: error.outcome } };
}

function outcomeEntry(status: number, outcome: OperationOutcome): BundleEntry {
  return { response: { status: statusText(status), outcome } };
}

/** R4 http.html#cread inside a Bundle: If-None-Match / If-Modified-Since answer 304. */
function notModified(version: StoredVersion, ifNoneMatch?: string, ifModifiedSince?: string): boolean {
  if (ifNoneMatch !== undefined)
    return ifNoneMatch.trim() === '*' || ifNoneMatch.trim() === etag(version.versionId);
  if (ifModifiedSince !== undefined) {
    const t = Date.parse(ifModifiedSince);
    return !Number.isNaN(t) && Date.parse(version.lastUpdated) <= t;
  }
  return false;
}

/**
 * Runs one entry as the standalone REST interaction it names, through the same service
 * functions the routes call, and answers its response entry. Errors are left to the caller.
 */
export async function executeEntry(
  ctx: ServiceContext,
  request: EntryRequest,
  prefer: ReturnPreference,
): Promise<BundleEntry> {
  switch (request.kind) {
    case 'read': {
      const version = await readResource(ctx, request.type, request.id);
      if (notModified(version, request.ifNoneMatch, request.ifModifiedSince)) {
        return {
          response: {
            status: statusText(304),
            etag: etag(version.versionId),
            lastModified: version.lastUpdated,
          },
        };
      }
      return versionEntry(version, 200, 'representation');
    }
    case 'vread':
      return versionEntry(
        await vreadResource(ctx, request.type, request.id, request.vid),
        200,
        'representation',
      );
    case 'search': {
      const search = { params: request.params, strict: false } as Parameters<typeof searchResources>[1];
      if (request.type !== undefined) search.type = request.type;
      if (request.compartment) search.compartment = request.compartment;
      return { resource: await searchResources(ctx, search), response: { status: statusText(200) } };
    }
    case 'history': {
      const scope: { type?: string; id?: string } = {};
      if (request.type !== undefined) scope.type = request.type;
      if (request.id !== undefined) scope.id = request.id;
      return { resource: await history(ctx, scope, request.params), response: { status: statusText(200) } };
    }
    case 'create':
      return writeEntry(
        request.ifNoneExist
          ? await conditionalCreate(ctx, request.type, request.resource, request.ifNoneExist)
          : await createResource(ctx, request.type, request.resource),
        prefer,
      );
    case 'update':
      return writeEntry(
        await updateResource(ctx, request.type, request.id, request.resource, request),
        prefer,
      );
    case 'conditional-update':
      return writeEntry(
        await conditionalUpdate(ctx, request.type, request.resource, request.criteria, request),
        prefer,
      );
    case 'patch':
      return writeEntry(await patchResource(ctx, request.type, request.id, request.patch, request), prefer);
    case 'conditional-patch':
      return writeEntry(
        await conditionalPatch(ctx, request.type, request.patch, request.criteria, request),
        prefer,
      );
    case 'delete': {
      const result = await deleteResource(ctx, request.type, request.id, request);
      if (!result)
        return outcomeEntry(
          204,
          informational(`${request.type}/${request.id} was not present; nothing to delete`),
        );
      return { response: { status: statusText(200), etag: etag(result.version.versionId) } };
    }
    case 'conditional-delete': {
      const deleted = await conditionalDelete(ctx, request.type, request.criteria);
      return outcomeEntry(
        deleted.length === 0 ? 204 : 200,
        informational(`Deleted ${deleted.length} ${request.type}`),
      );
    }
  }
}
