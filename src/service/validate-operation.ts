import { checkReadType, checkReadVersion } from './authorize.js';
import type { OperationOutcome, Parameters, Resource } from 'fhir/r4.js';
import { badRequest, gone, notFound, outcome, type Issue } from '../errors.js';
import { compiledStructure } from '../validation/compile-structure.js';
import { validate } from '../validation/validate.js';
import { recordAccess } from './audit-trail.js';
import type { ServiceContext } from './context.js';
import { assertBodyType, assertId, assertResourceType } from './guards.js';

/** What a `$validate` request carries once HTTP is peeled off. */
export interface ValidateRequest {
  type: string;
  /** Set for the instance-level operation (`POST /{type}/{id}/$validate`). */
  id?: string;
  /** The body: the resource itself, or a Parameters with `resource`, `mode` and `profile`. */
  body?: unknown;
  /** `mode` and `profile` from the query string, used when the body does not give them. */
  mode?: string;
  profile?: string;
}

type Mode = 'create' | 'update' | 'delete' | undefined;

interface Arguments {
  resource?: unknown;
  mode: Mode;
  profile?: string;
}

function parseArguments(request: ValidateRequest): Arguments {
  let resource: unknown = request.body;
  let mode = request.mode;
  let profile = request.profile;
  const body = request.body as Partial<Parameters> | undefined;
  if (body?.resourceType === 'Parameters') {
    resource = undefined;
    for (const p of body.parameter ?? []) {
      if (p.name === 'resource') resource = p.resource;
      else if (p.name === 'mode') mode = p.valueCode ?? p.valueString;
      else if (p.name === 'profile') profile = p.valueUri ?? p.valueCanonical ?? p.valueString;
      else throw badRequest(`Unknown $validate parameter '${p.name}'`, `Parameters.parameter.name`);
    }
  }
  if (mode !== undefined && mode !== 'create' && mode !== 'update' && mode !== 'delete') {
    throw badRequest(`$validate mode '${mode}' must be create, update or delete`);
  }
  return { resource, mode, profile };
}

const allClear = (text: string): OperationOutcome =>
  outcome([{ severity: 'information', code: 'informational', diagnostics: text }]);

/**
 * R4 resource-operation-validate.html (`$validate`): checks a resource as a write would (schema,
 * invariants, bindings, enforced and declared profiles, plus `profile` when given) at level
 * `full` whatever the configured level, and stores nothing. Answers every issue; an all-clear
 * informational issue when there is none. `mode=delete` asks whether the stored resource may be
 * deleted: all-clear once the resource exists, except an AuditEvent. The audit trail is
 * append-only, so every write mode on AuditEvent answers the error the write itself would get.
 */
export async function validateOperation(
  ctx: ServiceContext,
  request: ValidateRequest,
): Promise<OperationOutcome> {
  const answer = await validateResource(ctx, request);
  await recordAccess(ctx, {
    interaction: 'operation',
    status: 200,
    ...(request.id !== undefined ? { resource: `${request.type}/${request.id}` } : {}),
  });
  return answer;
}

async function validateResource(ctx: ServiceContext, request: ValidateRequest): Promise<OperationOutcome> {
  const { type, id } = request;
  assertResourceType(type);
  if (id !== undefined) assertId(id, type);
  const args = parseArguments(request);
  if (type === 'AuditEvent' && args.mode !== undefined) {
    return outcome([
      {
        severity: 'error',
        code: 'not-supported',
        diagnostics: `The audit trail is append-only: an AuditEvent ${args.mode} is refused for every client`,
      },
    ]);
  }
  if (args.profile !== undefined) {
    const profile = compiledStructure(args.profile);
    if (!profile) throw badRequest(`Profile ${args.profile} is not known to this server`, 'profile');
    if (profile.type !== type)
      throw badRequest(`Profile ${args.profile} constrains ${profile.type}, not ${type}`, 'profile');
  }

  if (args.mode === 'delete') {
    if (id === undefined)
      throw badRequest('$validate with mode=delete needs the instance: POST /{type}/{id}/$validate');
    checkReadType(ctx, type);
    const current = await ctx.store.readCurrent(type, id);
    if (!current) throw notFound(`${type}/${id} is not known`);
    checkReadVersion(ctx, type, id, current);
    if (current.deleted) throw gone(`${type}/${id} was deleted (version ${current.versionId})`);
    return allClear(`${type}/${id} may be deleted`);
  }

  if (args.resource === undefined) throw badRequest('$validate needs a resource to validate');
  assertBodyType(args.resource, type);
  const resource: Resource = args.resource;
  const issues: Issue[] = [];
  if (args.mode === 'update') {
    const expected = id ?? resource.id;
    if (resource.id === undefined) {
      issues.push({
        severity: 'error',
        code: 'required',
        diagnostics: 'An update must carry the id',
        expression: [`${type}.id`],
      });
    } else if (expected !== resource.id) {
      issues.push({
        severity: 'error',
        code: 'invalid',
        diagnostics: `The resource id '${resource.id}' does not match the URL id '${expected}'`,
        expression: [`${type}.id`],
      });
    }
  }
  issues.push(
    ...validate(resource, {
      policy: ctx.validation,
      level: 'full',
      profiles: args.profile === undefined ? [] : [args.profile],
    }),
  );
  return issues.length > 0 ? outcome(issues) : allClear('No issues found');
}
