import type { Bundle, BundleEntry, OperationOutcomeIssue, Resource } from 'fhir/r4.js';
import { badRequest, conflict, FhirError, informational, notFound, preconditionFailed } from '../errors.js';
import { newId } from '../fhir/ids.js';
import {
  RecordExistsError,
  StoreConflictError,
  type AuditAppend,
  type RecordWrite,
  type StoredVersion,
  type VersionWrite,
} from '../store/store.js';
import {
  executeEntry,
  existingNote,
  statusText,
  versionEntry,
  writeEntry,
  type ReturnPreference,
} from './bundle-entry.js';
import { conditionalReference, referencesIn, rewriteReferences } from './bundle-references.js';
import type { EntryRequest, ParsedEntry } from './bundle-request.js';
import {
  claimConditionalCreate,
  conditionalDeleteTargets,
  conditionalTarget,
  conditionalUpdateTarget,
  conditionKey,
} from './conditional.js';
import type { AccessFacts } from '../audit/access-audit.js';
import { auditEvents, versionFacts } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertBodyType, assertId, assertResourceType, assertWritableType } from './guards.js';
import { patchTransform } from './patch.js';
import { assertUpdateBody, checkIfMatch } from './update.js';
import { commit, prepareVersion, versionWrite, type WriteResult } from './write-path.js';

/**
 * R4 http.html#transaction: all entries succeed together or nothing is written. Entries are
 * processed DELETE → POST → PUT/PATCH → GET/HEAD; `urn:uuid:`/`urn:oid:` fullUrls and
 * conditional references are resolved; every written resource is prepared by the same
 * prepareVersion as a standalone write and the whole set is committed in one store write.
 * A concurrent writer that changes a touched resource, or claims the same conditional create,
 * makes the commit fail; the transaction is then planned again from the start.
 */

/** What one entry will do once its target is known. */
type Plan =
  | { kind: 'delete'; type: string; ids: string[]; ifMatch?: number }
  | {
      kind: 'create';
      type: string;
      id: string;
      resource?: Resource;
      existing?: StoredVersion;
      record?: RecordWrite;
    }
  | { kind: 'update'; type: string; id: string; resource: Resource; ifMatch?: number }
  | { kind: 'patch'; type: string; id: string; patch: unknown; ifMatch?: number }
  | { kind: 'get'; request: EntryRequest };

const rank: Record<ParsedEntry['method'], number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

const maxAttempts = 5;

/**
 * Where a failed transaction's first error points (the inverse of entryError): the entry, and the
 * top-level element of its resource when the issue names one; for doors that map entries back to
 * what they were made from (an HL7 segment, a CSV row).
 */
export function failedEntry(error: FhirError): {
  issue?: OperationOutcomeIssue;
  entry?: number;
  element?: string;
} {
  const issue =
    error.outcome.issue.find((i) => i.severity === 'error' || i.severity === 'fatal') ??
    error.outcome.issue[0];
  const m = /^Bundle\.entry\[(\d+)\](?:\.resource\.?([A-Za-z]+)?)?/.exec(issue?.expression?.[0] ?? '');
  return {
    ...(issue ? { issue } : {}),
    ...(m ? { entry: Number(m[1]) } : {}),
    ...(m?.[2] ? { element: m[2] } : {}),
  };
}

/** Re-raises an entry's error naming the entry, with expressions pointing into the Bundle. */
export function entryError(n: number, error: unknown, resourceType?: string): unknown {
  if (!(error instanceof FhirError)) return error;
  const at = `Bundle.entry[${n}]`;
  const issue = error.outcome.issue.map((i) => {
    const mapped = { ...i, diagnostics: `${at}: ${i.diagnostics ?? i.code}` };
    if (i.expression) {
      mapped.expression = i.expression.map((e) => {
        if (e.startsWith('Bundle.')) return e;
        if (resourceType !== undefined && (e === resourceType || e.startsWith(`${resourceType}.`)))
          return `${at}.resource${e.slice(resourceType.length)}`;
        if (e === 'id' || e === 'resourceType') return `${at}.resource.${e}`;
        return `${at}.request.url`;
      });
    }
    return mapped;
  });
  return new FhirError(error.status, { ...error.outcome, issue });
}

async function inEntry<T>(entry: ParsedEntry, step: () => Promise<T> | T): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw entryError(entry.n, error, resourceTypeOf(entry.request));
  }
}

function resourceTypeOf(request: EntryRequest): string | undefined {
  if ('resource' in request) return request.resource.resourceType;
  if (
    'patch' in request &&
    typeof request.patch === 'object' &&
    request.patch !== null &&
    !Array.isArray(request.patch)
  )
    return 'Parameters';
  return undefined;
}

/** One planning and commit attempt; throws StoreConflictError/RecordExistsError to be retried. */
async function attempt(
  outer: ServiceContext,
  entries: ParsedEntry[],
  prefer: ReturnPreference,
  commitWith: { records?: RecordWrite[]; audit?: AuditAppend[] },
): Promise<Bundle> {
  // The audit records of every entry and of the Bundle go into the transaction's own commit:
  // the reads' (which would otherwise be recorded on their own) are collected here.
  const readEvents: AuditAppend[] = [];
  const ctx: ServiceContext = outer.audit
    ? {
        ...outer,
        audit: {
          event: outer.audit.event.bind(outer.audit),
          record: (events) => {
            readEvents.push(...events);
            return Promise.resolve();
          },
        },
      }
    : outer;
  const facts: AccessFacts[] = [];
  const ordered = [...entries].sort((a, b) => rank[a.method] - rank[b.method] || a.n - b.n);
  const plans = new Map<number, Plan>();
  const touched = new Map<string, number>();
  const targets = new Map<string, string>(); // fullUrl or conditional reference → Type/id
  const claimed = new Map<string, string>(); // in-Bundle conditional create criteria → Type/id

  const touch = (entry: ParsedEntry, type: string, id: string): void => {
    const key = `${type}/${id}`;
    const other = touched.get(key);
    if (other !== undefined && other !== entry.n)
      throw badRequest(
        `Bundle.entry[${other}] and Bundle.entry[${entry.n}] both touch ${key}; a transaction may touch a resource once`,
      );
    touched.set(key, entry.n);
  };
  const name = (entry: ParsedEntry, type: string, id: string): void => {
    if (entry.fullUrl === undefined) return;
    if (targets.has(entry.fullUrl))
      throw badRequest(`Two entries have the fullUrl ${entry.fullUrl.slice(0, 120)}`, 'Bundle.entry.fullUrl');
    targets.set(entry.fullUrl, `${type}/${id}`);
  };

  // 1. Targets: which resource each entry touches, with new ids for creates.
  for (const entry of ordered) {
    const request = entry.request;
    const plan = await inEntry(entry, async (): Promise<Plan> => {
      switch (request.kind) {
        case 'delete':
          assertWritableType(request.type);
          assertId(request.id, request.type);
          return withIfMatch({ kind: 'delete', type: request.type, ids: [request.id] }, request);
        case 'conditional-delete': {
          assertWritableType(request.type);
          const found = await conditionalDeleteTargets(ctx, request.type, request.criteria);
          return { kind: 'delete', type: request.type, ids: found.map((v) => v.id) };
        }
        case 'create': {
          assertWritableType(request.type);
          assertBodyType(request.resource, request.type);
          if (!request.ifNoneExist)
            return { kind: 'create', type: request.type, id: newId(), resource: request.resource };
          const key = conditionKey(ctx, request.type, request.ifNoneExist);
          if (claimed.has(key))
            throw badRequest(`Another entry conditionally creates ${request.type} with the same criteria`);
          const deleted = new Set(
            [...touched].filter(([, n]) => plans.get(n)?.kind === 'delete').map(([k]) => k),
          );
          const claim = await claimConditionalCreate(ctx, request.type, request.ifNoneExist, deleted);
          const plan: Plan = claim.existing
            ? { kind: 'create', type: request.type, id: claim.existing.id, existing: claim.existing }
            : {
                kind: 'create',
                type: request.type,
                id: claim.id,
                resource: request.resource,
                record: claim.record,
              };
          claimed.set(key, `${request.type}/${plan.id}`);
          return plan;
        }
        case 'update':
          assertUpdateBody(request.type, request.id, request.resource);
          return withIfMatch(
            { kind: 'update', type: request.type, id: request.id, resource: request.resource },
            request,
          );
        case 'conditional-update': {
          assertWritableType(request.type);
          assertBodyType(request.resource, request.type);
          const id = await conditionalUpdateTarget(ctx, request.type, request.resource, request.criteria);
          return withIfMatch(
            { kind: 'update', type: request.type, id, resource: { ...request.resource, id } },
            request,
          );
        }
        case 'patch':
          assertWritableType(request.type);
          assertId(request.id, request.type);
          return withIfMatch(
            { kind: 'patch', type: request.type, id: request.id, patch: request.patch },
            request,
          );
        case 'conditional-patch': {
          assertWritableType(request.type);
          const id = await conditionalTarget(ctx, request.type, request.criteria);
          return withIfMatch({ kind: 'patch', type: request.type, id, patch: request.patch }, request);
        }
        default:
          return { kind: 'get', request };
      }
    });
    await inEntry(entry, () => {
      if (plan.kind === 'delete') for (const id of plan.ids) touch(entry, plan.type, id);
      else if (plan.kind !== 'get') touch(entry, plan.type, plan.id);
      if (plan.kind === 'create' || plan.kind === 'update') name(entry, plan.type, plan.id);
    });
    plans.set(entry.n, plan);
  }

  // 2. References: fullUrls and conditional references in every resource written.
  for (const entry of ordered) {
    const plan = plans.get(entry.n);
    if ((plan?.kind !== 'create' && plan?.kind !== 'update') || plan.resource === undefined) continue;
    const resource = structuredClone(plan.resource);
    await inEntry(entry, async () => {
      for (const reference of referencesIn(resource)) {
        if (targets.has(reference)) continue;
        if (/^urn:(?:uuid|oid):/.test(reference))
          throw badRequest(
            `The reference ${reference.slice(0, 80)} names no entry's fullUrl in this Bundle`,
            plan.type,
          );
        const conditional = conditionalReference(reference);
        if (conditional)
          targets.set(
            reference,
            await resolveConditional(ctx, conditional.type, conditional.criteria, claimed, reference),
          );
      }
    });
    rewriteReferences(resource, targets);
    plan.resource = resource;
  }

  // 3. Versions: read, check, validate and index every write, then commit them together.
  const now = ctx.now().toISOString();
  const versions: VersionWrite[] = [];
  const records: RecordWrite[] = [];
  const results = new Map<number, BundleEntry>();
  const written = new Map<string, StoredVersion>();
  for (const entry of ordered) {
    const plan = plans.get(entry.n);
    if (!plan || plan.kind === 'get') continue;
    const response = await inEntry(entry, async (): Promise<BundleEntry> => {
      switch (plan.kind) {
        case 'delete': {
          let deleted = 0;
          for (const id of plan.ids) {
            const current = await ctx.store.readCurrent(plan.type, id);
            checkIfMatch(current, plan.ifMatch);
            if (!current || current.deleted) {
              facts.push({ interaction: 'delete', status: 204, resource: `${plan.type}/${id}` });
              continue;
            }
            const write = versionWrite(ctx, plan.type, id, current, now);
            facts.push(versionFacts('delete', write, 200, current));
            versions.push(write);
            written.set(`${plan.type}/${id}`, write);
            deleted++;
          }
          return {
            response: {
              status: statusText(deleted > 0 ? 200 : 204),
              outcome: informational(
                deleted > 0 ? `Deleted ${deleted} ${plan.type}` : `No ${plan.type} to delete`,
              ),
            },
          };
        }
        case 'create': {
          if (plan.existing) {
            facts.push(versionFacts('create', plan.existing, 200));
            return versionEntry(plan.existing, 200, prefer, existingNote);
          }
          const resource = { ...(plan.resource as Resource), id: plan.id };
          return keep(
            'create',
            prepareVersion(ctx, plan.type, plan.id, undefined, resource, now),
            plan.record,
          );
        }
        case 'update': {
          const current = await ctx.store.readCurrent(plan.type, plan.id);
          checkIfMatch(current, plan.ifMatch);
          return keep('update', prepareVersion(ctx, plan.type, plan.id, current, plan.resource, now));
        }
        case 'patch': {
          const current = await ctx.store.readCurrent(plan.type, plan.id);
          checkIfMatch(current, plan.ifMatch);
          const patched = patchTransform(plan.type, plan.id, plan.patch)(current);
          return keep('patch', prepareVersion(ctx, plan.type, plan.id, current, patched, now));
        }
      }
    });
    results.set(entry.n, response);
  }
  function keep(
    interaction: 'create' | 'update' | 'patch',
    prepared: { write?: VersionWrite; result: WriteResult },
    record?: RecordWrite,
  ): BundleEntry {
    facts.push(versionFacts(interaction, prepared.result.version, prepared.result.created ? 201 : 200));
    if (prepared.write) {
      versions.push(prepared.write);
      written.set(`${prepared.write.type}/${prepared.write.id}`, prepared.write);
    }
    if (record) records.push(record);
    return writeEntry(prepared.result, prefer);
  }

  // 4. Reads, answered before the commit so that a failing read still writes nothing; a read of
  //    a resource this transaction writes answers the new version.
  for (const entry of ordered) {
    const plan = plans.get(entry.n);
    if (plan?.kind !== 'get') continue;
    const request = plan.request;
    const response = await inEntry(entry, async () => {
      const mine = request.kind === 'read' ? written.get(`${request.type}/${request.id}`) : undefined;
      if (request.kind === 'read' && mine) {
        if (mine.deleted) throw notFound(`${request.type}/${request.id} is deleted by this transaction`);
        return versionEntry(mine, 200, 'representation');
      }
      return executeEntry(ctx, request, prefer);
    });
    if (entry.method === 'HEAD') delete response.resource;
    results.set(entry.n, response);
  }

  facts.push({ interaction: 'transaction', status: 200 });
  await commit(
    ctx,
    versions,
    false,
    [...records, ...(commitWith.records ?? [])],
    [...readEvents, ...auditEvents(ctx, facts), ...(commitWith.audit ?? [])],
  );
  return {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: entries.map((e) => results.get(e.n) ?? { response: { status: statusText(200) } }),
  };
}

function withIfMatch<T extends Plan>(plan: T, request: { ifMatch?: number }): T {
  return request.ifMatch === undefined ? plan : { ...plan, ifMatch: request.ifMatch };
}

/**
 * A conditional reference: the resource this Bundle conditionally creates with the same
 * criteria, or else the one stored match (404 for none, 412 for several).
 */
async function resolveConditional(
  ctx: ServiceContext,
  type: string,
  criteria: [string, string][],
  claimed: Map<string, string>,
  reference: string,
): Promise<string> {
  assertResourceType(type);
  const inBundle = claimed.get(conditionKey(ctx, type, criteria));
  if (inBundle !== undefined) return inBundle;
  try {
    return `${type}/${await conditionalTarget(ctx, type, criteria)}`;
  } catch (error) {
    if (error instanceof FhirError && error.status === 404)
      throw notFound(`The conditional reference ${reference.slice(0, 120)} matches no ${type}`);
    if (error instanceof FhirError && error.status === 412)
      throw preconditionFailed(
        `The conditional reference ${reference.slice(0, 120)} matches more than one ${type}`,
      );
    throw error;
  }
}

/** Processes a transaction Bundle's parsed entries atomically, retrying after a concurrent write. */
export async function processTransaction(
  ctx: ServiceContext,
  entries: ParsedEntry[],
  prefer: ReturnPreference,
  commitWith: { records?: RecordWrite[]; audit?: AuditAppend[] } = {},
): Promise<Bundle> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(ctx, entries, prefer, commitWith);
    } catch (error) {
      if (!(error instanceof StoreConflictError) && !(error instanceof RecordExistsError)) throw error;
      if (n >= maxAttempts)
        throw conflict('The transaction kept meeting concurrent writes to the same resources; retry');
    }
  }
}
