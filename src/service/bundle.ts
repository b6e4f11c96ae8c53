import type { Bundle, BundleEntry } from 'fhir/r4.js';
import { badRequest, FhirError, tooLarge } from '../errors.js';
import { StoreUnavailableError, type AuditAppend, type RecordWrite } from '../store/store.js';
import { errorEntry, executeEntry, statusText, type ReturnPreference } from './bundle-entry.js';
import { parseEntry, type EntryRequest, type ParsedEntry } from './bundle-request.js';
import type { Interaction } from '../audit/audit-event.js';
import { recordAccess } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { entryError, processTransaction } from './transaction.js';

export interface BundleOptions {
  /** Most entries one Bundle may hold (413 beyond). */
  maxEntries: number;
  /** What a written entry's response carries (the request's `Prefer: return=`). */
  prefer: ReturnPreference;
  /**
   * Written in the same store commit as a transaction's resources, so that they are stored
   * together or not at all (an ingest's checkpoint and dead letters, its own AuditEvent).
   */
  commitWith?: { records?: RecordWrite[]; audit?: AuditAppend[] };
}

/**
 * R4 http.html#transaction, `POST [base]` with a batch or transaction Bundle: answers a
 * batch-response or transaction-response with one entry per request entry, in request order.
 */
export async function processBundle(
  ctx: ServiceContext,
  body: unknown,
  options: BundleOptions,
): Promise<Bundle> {
  if (
    body === null ||
    typeof body !== 'object' ||
    (body as { resourceType?: unknown }).resourceType !== 'Bundle'
  ) {
    throw badRequest('POST to the base takes a Bundle of type batch or transaction', 'resourceType');
  }
  const bundle = body as Bundle;
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw badRequest(
      `A Bundle of type '${((bundle.type as string | undefined) ?? 'none').slice(0, 40)}' is not processed here: only batch and transaction are; POST it to /Bundle to store it`,
      'Bundle.type',
    );
  }
  const entries = bundle.entry ?? [];
  if (!Array.isArray(entries)) throw badRequest('Bundle.entry must be a list', 'Bundle.entry');
  if (entries.length > options.maxEntries) {
    throw tooLarge(`The Bundle has ${entries.length} entries; at most ${options.maxEntries} are accepted`);
  }
  if (bundle.type === 'batch') return processBatch(ctx, entries, options.prefer);
  const parsed = entries.map((entry, n) => {
    try {
      return parseEntry(entry, n, ctx.baseUrl);
    } catch (error) {
      throw entryError(n, error);
    }
  });
  return processTransaction(ctx, parsed, options.prefer, options.commitWith);
}

/** The interaction a Bundle entry's request is (R4 restful-interaction). */
function interactionOf(request: EntryRequest): Interaction {
  switch (request.kind) {
    case 'search':
      return request.type === undefined ? 'search-system' : 'search-type';
    case 'history':
      return request.id !== undefined
        ? 'history-instance'
        : request.type !== undefined
          ? 'history-type'
          : 'history-system';
    case 'conditional-update':
      return 'update';
    case 'conditional-patch':
      return 'patch';
    case 'conditional-delete':
      return 'delete';
    default:
      return request.kind;
  }
}

/** The first issue's text, for the record. */
export const outcomeText = (error: FhirError): string =>
  (error.outcome.issue[0]?.diagnostics ?? error.outcome.issue[0]?.code ?? 'failed').slice(0, 200);

/**
 * R4 http.html#brules: each entry on its own, in order; a failure becomes that entry's response
 * and does not affect the others. A store outage fails the whole request (nothing could succeed).
 */
async function processBatch(
  ctx: ServiceContext,
  entries: BundleEntry[],
  prefer: ReturnPreference,
): Promise<Bundle> {
  const responses: BundleEntry[] = [];
  for (const [n, entry] of entries.entries()) {
    let parsed: ParsedEntry | undefined;
    try {
      parsed = parseEntry(entry, n, ctx.baseUrl);
      const response = await executeEntry(ctx, parsed.request, prefer);
      if (parsed.method === 'HEAD') delete response.resource;
      responses.push(response);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // a failed entry is an access too: recorded as the interaction it attempted
      const status = error instanceof FhirError ? error.status : 500;
      await recordAccess(ctx, {
        interaction: parsed ? interactionOf(parsed.request) : 'batch',
        status,
        ...(error instanceof FhirError ? { outcomeText: outcomeText(error) } : {}),
        ...(parsed && 'id' in parsed.request && parsed.request.id !== undefined
          ? { resource: `${parsed.request.type}/${parsed.request.id}` }
          : {}),
      });
      if (error instanceof FhirError) {
        responses.push(errorEntry(error));
        continue;
      }
      ctx.log.error('bundle.entry_failed', {
        entry: n,
        error: error instanceof Error ? error.name : typeof error,
        message: error instanceof Error ? error.message : undefined,
      });
      responses.push({
        response: {
          status: statusText(500),
          outcome: {
            resourceType: 'OperationOutcome',
            issue: [
              { severity: 'error', code: 'exception', diagnostics: 'Internal error; see the server log' },
            ],
          },
        },
      });
    }
  }
  await recordAccess(ctx, { interaction: 'batch', status: 200 });
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}
