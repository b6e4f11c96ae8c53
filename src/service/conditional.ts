import type { Resource } from 'fhir/r4.js';
import { badRequest, FhirError, outcome, preconditionFailed } from '../errors.js';
import { newId } from '../fhir/ids.js';
import { RecordExistsError, type RecordWrite, type StoredVersion } from '../store/store.js';
import { expandModifiers } from './expand-modifiers.js';
import { auditEvents, recordAccess, versionFacts } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertBodyType, assertWritableType } from './guards.js';
import { patchResource } from './patch.js';
import type { ParsedSearch } from '../search/parse-query.js';
import { parseFor } from './search.js';
import { putVersion, type WriteOptions } from './update.js';
import { commit, prepareVersion, versionWrite, withRetry, type WriteResult } from './write-path.js';

/** Most resources one conditional delete removes (R4 http.html#3.1.0.7.1, "multiple" mode). */
export const maxConditionalDeletes = 100;

/** How long a conditional-create claim lasts: long enough to serialise concurrent creators. */
const claimMillis = 5 * 60 * 1000;
const claimNamespace = 'conditional-create';

/**
 * Parses conditional criteria. An unknown parameter is an error here rather than silently
 * widening the match (R4 http.html#cond-update), so parsing is strict.
 */
function parseCriteria(ctx: ServiceContext, type: string, criteria: [string, string][]): ParsedSearch {
  if (criteria.length === 0) throw badRequest('A conditional interaction needs search parameters');
  return parseFor(ctx, type, criteria, true);
}

/** The criteria in a normal form (sorted, re-encoded), naming "the same condition" for claims. */
function criteriaKey(type: string, parsed: ParsedSearch): string {
  const normalized = parsed.selfParams
    .filter(([name]) => !resultParameters.has(name))
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .sort()
    .join('&');
  return `${type}?${normalized}`;
}

const resultParameters = new Set([
  '_count',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_format',
  '_pretty',
  '_cursor',
]);

/** Up to `limit` resources matching parsed criteria. */
async function matches(ctx: ServiceContext, parsed: ParsedSearch, limit: number): Promise<StoredVersion[]> {
  const query = {
    ...parsed.query,
    filters: await expandModifiers(ctx, parsed.query.types, parsed.query.filters),
    count: limit,
    total: 'none' as const,
    include: [],
    revinclude: [],
    sort: [],
  };
  return (await ctx.store.search(query)).matches;
}

const existing = (v: StoredVersion): WriteResult => ({
  version: v,
  created: false,
  unchanged: true,
});

/** How conditional-create criteria resolved: to the one existing match, or to a claimed new id. */
export type CreateClaim =
  | { existing: StoredVersion; key: string }
  | { existing?: undefined; id: string; key: string; record: RecordWrite };

/**
 * Resolves `If-None-Exist` criteria: the one matching resource, or a new id with the claim
 * record that must be written in the same transaction as the resource (412 when several match).
 * The claim is read before searching: a creator that commits in between is then either seen by
 * the search, or makes the claim's compare-and-set fail. Matches in `deleted` (Type/id, being
 * deleted by the same transaction) do not count.
 */
export async function claimConditionalCreate(
  ctx: ServiceContext,
  type: string,
  criteria: [string, string][],
  deleted: ReadonlySet<string> = new Set(),
): Promise<CreateClaim> {
  const parsed = parseCriteria(ctx, type, criteria);
  const key = criteriaKey(type, parsed);
  const claim = await ctx.store.getRecord<{ id: string }>(claimNamespace, key);
  const found = await matches(ctx, parsed, 2 + deleted.size);
  const [first, second] = found.filter((v) => !deleted.has(`${type}/${v.id}`));
  if (second) throw preconditionFailed(`If-None-Exist matches more than one ${type}`);
  if (first) return { existing: first, key };
  const id = newId();
  const expiresAt = Date.now() + claimMillis;
  // no match but a claim: its resource was deleted or changed since, so the claim is stale
  const record: RecordWrite = claim
    ? { namespace: claimNamespace, key, value: { id }, expectValue: claim, expiresAt }
    : { namespace: claimNamespace, key, value: { id }, ifAbsent: true, expiresAt };
  return { id, key, record };
}

/** The normal form of conditional criteria ("the same condition"), e.g. to spot repeats in a Bundle. */
export function conditionKey(ctx: ServiceContext, type: string, criteria: [string, string][]): string {
  return criteriaKey(type, parseCriteria(ctx, type, criteria));
}

/**
 * R4 http.html#ccreate (`If-None-Exist`): creates unless the criteria match. One match answers
 * that resource (200, nothing written); several are a 412. Two concurrent creates with the same
 * criteria cannot both create: each claims the normalised criteria as a keyed record in the
 * same transaction as its resource, and the loser answers the winner's resource.
 */
export async function conditionalCreate(
  ctx: ServiceContext,
  type: string,
  body: unknown,
  criteria: [string, string][],
  options: Pick<WriteOptions, 'validation'> = {},
): Promise<WriteResult> {
  assertWritableType(type);
  assertBodyType(body, type);
  for (let attempt = 0; attempt < 5; attempt++) {
    const claim = await claimConditionalCreate(ctx, type, criteria);
    if (claim.existing) {
      await recordAccess(ctx, versionFacts('create', claim.existing, 200));
      return existing(claim.existing);
    }
    const resource: Resource = { ...body, id: claim.id };
    const { write, result } = prepareVersion(
      ctx,
      type,
      claim.id,
      undefined,
      resource,
      ctx.now().toISOString(),
      options.validation,
    );
    try {
      const audit = auditEvents(ctx, [versionFacts('create', result.version, 201)]);
      await commit(ctx, write ? [write] : [], false, [claim.record], audit);
      return result;
    } catch (error) {
      if (!(error instanceof RecordExistsError)) throw error;
      // another create with these criteria committed first: search again and answer its resource
    }
  }
  throw new FhirError(
    409,
    outcome([{ severity: 'error', code: 'conflict', diagnostics: 'Concurrent conditional creates; retry' }]),
  );
}

/**
 * The id a conditional update writes (R4 http.html#cond-update): the one match's, else the
 * body's or a new one; 412 when several match, 400 when the body names another id than the match.
 */
export async function conditionalUpdateTarget(
  ctx: ServiceContext,
  type: string,
  body: Resource,
  criteria: [string, string][],
): Promise<string> {
  const [first, second] = await matches(ctx, parseCriteria(ctx, type, criteria), 2);
  if (second) throw preconditionFailed(`The criteria match more than one ${type}`);
  if (first && body.id !== undefined && body.id !== first.id) {
    throw badRequest(
      `The resource id '${body.id}' is not the id of the matching ${type} ('${first.id}')`,
      'id',
    );
  }
  return first?.id ?? body.id ?? newId();
}

/** The id of the one resource conditional criteria match: 404 for none, 412 for several. */
export async function conditionalTarget(
  ctx: ServiceContext,
  type: string,
  criteria: [string, string][],
): Promise<string> {
  const [first, second] = await matches(ctx, parseCriteria(ctx, type, criteria), 2);
  if (second) throw preconditionFailed(`The criteria match more than one ${type}`);
  if (!first)
    throw new FhirError(
      404,
      outcome([{ severity: 'error', code: 'not-found', diagnostics: `No ${type} matches the criteria` }]),
    );
  return first.id;
}

/** The resources conditional-delete criteria match; 412 beyond maxConditionalDeletes. */
export async function conditionalDeleteTargets(
  ctx: ServiceContext,
  type: string,
  criteria: [string, string][],
): Promise<StoredVersion[]> {
  const found = await matches(ctx, parseCriteria(ctx, type, criteria), maxConditionalDeletes + 1);
  if (found.length > maxConditionalDeletes) {
    throw preconditionFailed(
      `The criteria match more than ${maxConditionalDeletes} ${type} resources; narrow them`,
    );
  }
  return found;
}

/**
 * R4 http.html#cond-update: updates the one resource the criteria match, creates when none
 * does (with the body's id, or a new one), 412 when several do.
 */
export async function conditionalUpdate(
  ctx: ServiceContext,
  type: string,
  body: unknown,
  criteria: [string, string][],
  options: WriteOptions = {},
): Promise<WriteResult> {
  assertWritableType(type);
  assertBodyType(body, type);
  const id = await conditionalUpdateTarget(ctx, type, body, criteria);
  return putVersion(ctx, type, id, () => ({ ...body, id }), options);
}

/** Conditional patch (R4 http.html#patch): the one matching resource, 404 for none, 412 for several. */
export async function conditionalPatch(
  ctx: ServiceContext,
  type: string,
  body: unknown,
  criteria: [string, string][],
  options: WriteOptions = {},
): Promise<WriteResult> {
  assertWritableType(type);
  return patchResource(ctx, type, await conditionalTarget(ctx, type, criteria), body, options);
}

/**
 * Conditional delete, multiple mode (R4 http.html#3.1.0.7.1): every matching resource becomes a
 * tombstone in one atomic write; more than maxConditionalDeletes matches is a 412.
 */
export async function conditionalDelete(
  ctx: ServiceContext,
  type: string,
  criteria: [string, string][],
): Promise<StoredVersion[]> {
  assertWritableType(type);
  return withRetry(async () => {
    const found = await conditionalDeleteTargets(ctx, type, criteria);
    const now = ctx.now().toISOString();
    const writes = found.map((current) => versionWrite(ctx, type, current.id, current, now));
    if (writes.length === 0) {
      await recordAccess(ctx, { interaction: 'delete', status: 200, resource: type });
      return writes;
    }
    const facts = writes.map((w, n) => versionFacts('delete', w, 200, found[n]));
    await commit(ctx, writes, false, [], auditEvents(ctx, facts));
    return writes;
  });
}
