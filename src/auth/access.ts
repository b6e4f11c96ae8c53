import { FhirError, notFound, outcome } from '../errors.js';
import { compartmentParams } from '../fhir/compartments.js';
import { extractIndexEntries } from '../search/extract.js';
import { searchParameter } from '../search/parameters.js';
import type { IndexEntry, SearchParamDef } from '../search/types.js';
import type { Principal } from './principal.js';
import { coversType, parseScope, type Permission, type ResourceScope } from './scopes.js';

/**
 * What a request's access token lets it do, interaction by interaction (SMART scopes), and which
 * resources it may see (the token's patient compartment, the search parameters of granular
 * scopes). The service asks it before every read, search and write; a request without one (the
 * CLI, ingest after its own check) is unrestricted.
 */

/** One way an interaction is allowed: within a patient's compartment and/or narrowed by parameters. */
export interface Allowance {
  /** Only resources in this patient's compartment (a `patient/` scope with the token's patient). */
  patient?: string;
  /** Only resources matching these search parameters (a granular v2 scope). */
  params: readonly [string, string][];
}

/** How a search must be narrowed to stay within the token's scopes. */
export interface SearchNarrowing {
  patient?: string;
  /** Parameters to add to the query (AND-ed with the client's own). */
  params: [string, string][];
}

const permissionWords: Record<Permission, string> = {
  c: 'create',
  r: 'read',
  u: 'update',
  d: 'delete',
  s: 'search',
};

/** 403 insufficient_scope with an OperationOutcome saying which scope would allow it. */
export function forbidden(text: string): FhirError {
  return new FhirError(403, outcome([{ severity: 'error', code: 'forbidden', diagnostics: text }]));
}

function definitions(type: string, names: Iterable<string>): SearchParamDef[] {
  const defs: SearchParamDef[] = [];
  for (const name of names) {
    const def = searchParameter(type, name);
    if (def) defs.push(def);
  }
  return defs;
}

/** Whether an index entry matches a scope parameter's value (token, reference, string, uri). */
function entryMatches(entry: IndexEntry, value: string): boolean {
  switch (entry.kind) {
    case 'token': {
      const bar = value.indexOf('|');
      if (bar < 0) return entry.code === value;
      const system = value.slice(0, bar);
      const code = value.slice(bar + 1);
      return (
        (system === '' ? entry.system === null : entry.system === system) &&
        (code === '' || entry.code === code)
      );
    }
    case 'reference':
      return value.includes('/')
        ? `${entry.targetType ?? ''}/${entry.targetId ?? ''}` === value || entry.url === value
        : entry.targetId === value;
    case 'string':
      return entry.exact === value;
    case 'uri':
      return entry.value === value;
    default:
      return false;
  }
}

/** The patients whose compartments a resource is in (R4 compartmentdefinition-patient). */
export function compartmentPatients(resource: { resourceType: string; id?: string }): string[] {
  if (resource.resourceType === 'Patient') return resource.id === undefined ? [] : [resource.id];
  const params = compartmentParams('Patient', resource.resourceType);
  if (!params) return [];
  const { entries } = extractIndexEntries(resource, definitions(resource.resourceType, params));
  const found = new Set<string>();
  for (const e of entries) {
    if (e.kind === 'reference' && e.targetType === 'Patient' && e.targetId !== null) found.add(e.targetId);
  }
  return [...found];
}

/** Whether a resource is in a patient's compartment (R4 compartmentdefinition-patient). */
export function inPatientCompartment(
  resource: { resourceType: string; id?: string },
  patient: string,
): boolean {
  if (resource.resourceType === 'Patient') return resource.id === patient;
  const params = compartmentParams('Patient', resource.resourceType);
  if (!params) return false;
  const { entries } = extractIndexEntries(resource, definitions(resource.resourceType, params));
  return entries.some((e) => e.kind === 'reference' && e.targetType === 'Patient' && e.targetId === patient);
}

/**
 * Whether a resource matches every parameter of a granular scope. Token, reference, string and
 * uri parameters are compared with the resource's own index values; any other kind does not match
 * (such a scope then allows nothing it cannot check).
 */
export function matchesParams(
  resource: { resourceType: string },
  params: readonly [string, string][],
): boolean {
  if (params.length === 0) return true;
  const type = resource.resourceType;
  const { entries } = extractIndexEntries(resource, definitions(type, new Set(params.map(([n]) => n))));
  return params.every(([name, value]) => {
    if (!searchParameter(type, name)) return false;
    const values = value.split(',');
    return entries.some((e) => e.param === name && values.some((v) => entryMatches(e, v)));
  });
}

export class Access {
  private readonly scopes: ResourceScope[];

  constructor(readonly principal: Principal) {
    this.scopes = principal.scopes.map(parseScope).filter((s): s is ResourceScope => s !== undefined);
  }

  /**
   * The ways `permission` on `type` is allowed: `all` when some scope allows it without
   * restriction. Throws 403 when no scope allows it. `patient/` scopes count only when the
   * token has a patient.
   */
  allowances(type: string, permission: Permission): 'all' | Allowance[] {
    const found: Allowance[] = [];
    for (const s of this.scopes) {
      if (!coversType(s.type, type) || !s.permissions.has(permission)) continue;
      if (s.context === 'patient') {
        if (this.principal.patient === undefined) continue;
        found.push({ patient: this.principal.patient, params: s.params });
      } else if (s.params.length === 0) {
        return 'all';
      } else {
        found.push({ params: s.params });
      }
    }
    if (found.length === 0) {
      const needed =
        type === 'AuditEvent' ? `a scope naming AuditEvent` : `a scope such as system/${type}.${permission}`;
      throw forbidden(
        `The access token's scopes do not allow ${permissionWords[permission]} on ${type}; it needs ${needed}`,
      );
    }
    return found;
  }

  /** Whether `permission` on `type` is allowed for every resource of the type. */
  unrestricted(type: string, permission: Permission): boolean {
    try {
      return this.allowances(type, permission) === 'all';
    } catch {
      return false;
    }
  }

  /** Whether the token may see this resource (read, vread, history, included in a search). */
  canSee(resource: { resourceType: string; id?: string }, permission: Permission = 'r'): boolean {
    let allowed: 'all' | Allowance[];
    try {
      allowed = this.allowances(resource.resourceType, permission);
    } catch {
      return false;
    }
    if (allowed === 'all') return true;
    return allowed.some(
      (a) =>
        (a.patient === undefined || inPatientCompartment(resource, a.patient)) &&
        matchesParams(resource, a.params),
    );
  }

  /**
   * A read of a resource the token may not see is answered as if it did not exist (404), so a
   * patient token learns nothing about other patients' records.
   */
  assertCanRead(type: string, id: string, resource: { resourceType: string; id?: string } | undefined): void {
    this.allowances(type, 'r'); // 403 when the type is not readable at all
    if (resource && !this.canSee(resource)) throw notFound(`${type}/${id} is not known`);
  }

  /**
   * A write must leave the resource within the token's reach, and may only change a resource the
   * token can see: `permission` is c for a create, u for an update or patch, d for a delete.
   */
  assertCanWrite(
    type: string,
    permission: Permission,
    next: { resourceType: string; id?: string } | undefined,
    current: { resourceType: string; id?: string } | undefined,
  ): void {
    const allowed = this.allowances(type, permission);
    if (allowed === 'all') return;
    const fits = (r: { resourceType: string; id?: string }, a: Allowance): boolean =>
      (a.patient === undefined || inPatientCompartment(r, a.patient)) && matchesParams(r, a.params);
    if (current && !allowed.some((a) => fits(current, a))) {
      throw notFound(`${type}/${current.id ?? ''} is not known`);
    }
    if (next && !allowed.some((a) => fits(next, a))) {
      const patient = allowed.find((a) => a.patient !== undefined)?.patient;
      throw forbidden(
        patient !== undefined
          ? `The access token may only write resources in the compartment of Patient/${patient}`
          : `The access token may only write ${type} resources matching its scope's search parameters`,
      );
    }
  }

  /**
   * How a search of `type` must be narrowed: a scope whose parameters the query already carries
   * is used as it is; a single narrowing scope adds its parameters; a patient scope adds the
   * patient's compartment. 403 when the query would have to satisfy one of several granular
   * scopes and names none of them.
   */
  narrowSearch(type: string, query: readonly [string, string][]): SearchNarrowing | undefined {
    const allowed = this.allowances(type, 's');
    if (allowed === 'all') return undefined;
    const carries = (a: Allowance): boolean =>
      a.params.every(([n, v]) => query.some(([qn, qv]) => qn === n && qv === v));
    const pick =
      allowed.find((a) => carries(a) && a.patient === undefined) ??
      allowed.find(carries) ??
      allowed.find((a) => a.params.length === 0) ??
      (allowed.length === 1 ? allowed[0] : undefined);
    if (!pick) {
      const options = allowed.map((a) => a.params.map(([n, v]) => `${n}=${v}`).join('&')).join(' or ');
      throw forbidden(
        `The access token allows searching ${type} only with ${options}; add one of them to the query`,
      );
    }
    const narrowing: SearchNarrowing = { params: carries(pick) ? [] : [...pick.params] };
    if (pick.patient !== undefined) narrowing.patient = pick.patient;
    return narrowing;
  }
}
