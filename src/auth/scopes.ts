/**
 * SMART App Launch scopes for clinical data (SMART 2.x scopes-and-launch-context), v1 and v2:
 * `context/Type.permissions[?query]` with context `patient`, `user` or `system`, Type a resource
 * type or `*`, and permissions either the v1 words (`read`, `write`, `*`) or the v2 letters
 * `c r u d s` in that order. A v2 scope may carry search parameters that narrow it
 * (`patient/Observation.rs?category=laboratory`).
 */

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

const order: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

/** One clinical-data scope, parsed. */
export interface ResourceScope {
  context: ScopeContext;
  /** A resource type, or `*` for every type but AuditEvent (see `coversType`). */
  type: string;
  permissions: ReadonlySet<Permission>;
  /** Search parameters that narrow the scope (v2 granular scopes), as name/value pairs. */
  params: readonly [string, string][];
  /** The scope as it was written. */
  text: string;
}

const v1: Record<string, Permission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

const shape = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.+))?$/;

/**
 * Parses one scope string; undefined when it is not a clinical-data scope (e.g. `openid`,
 * `launch/patient`, `offline_access`) or is malformed.
 */
export function parseScope(text: string): ResourceScope | undefined {
  const m = shape.exec(text);
  if (!m) return undefined;
  const [, context, type, perms, query] = m as unknown as [string, ScopeContext, string, string, string?];
  let permissions: Permission[] | undefined = v1[perms];
  if (!permissions) {
    // v2: a non-empty run of c r u d s, each at most once and in that order
    let at = -1;
    permissions = [];
    for (const letter of perms) {
      const i = order.indexOf(letter as Permission);
      if (i <= at) return undefined;
      at = i;
      permissions.push(letter as Permission);
    }
  } else if (query !== undefined) {
    return undefined; // search parameters narrow v2 scopes only
  }
  const params: [string, string][] = query === undefined ? [] : [...new URLSearchParams(query)];
  if (query !== undefined && (params.length === 0 || params.some(([n, v]) => n === '' || v === ''))) {
    return undefined;
  }
  return { context, type, permissions: new Set(permissions), params, text };
}

/** Splits a space-separated scope parameter (RFC 6749 §3.3), dropping empty parts and repeats. */
export function splitScopes(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(/\s+/).filter((s) => s !== ''))];
}

/**
 * Whether a scope's type covers `type`. AuditEvent is never covered by `*`: reading the audit
 * trail takes a scope that names it.
 */
export function coversType(scopeType: string, type: string): boolean {
  return scopeType === type || (scopeType === '*' && type !== 'AuditEvent');
}

/** The scope in v2 syntax. */
export function formatScope(s: Omit<ResourceScope, 'text'>): string {
  const perms = order.filter((p) => s.permissions.has(p)).join('');
  const query =
    s.params.length > 0 ? `?${new URLSearchParams(s.params as [string, string][]).toString()}` : '';
  return `${s.context}/${s.type}.${perms}${query}`;
}

/**
 * What a requested scope leaves when narrowed by a registered one: same context, the narrower
 * type, the common permissions, both sets of search parameters. Undefined when nothing is left.
 */
function narrow(requested: ResourceScope, registered: ResourceScope): ResourceScope | undefined {
  if (requested.context !== registered.context) return undefined;
  let type: string;
  if (requested.type === registered.type) type = requested.type;
  else if (registered.type === '*' && requested.type !== 'AuditEvent') type = requested.type;
  else if (requested.type === '*' && registered.type !== 'AuditEvent') type = registered.type;
  else return undefined;
  const permissions = new Set([...requested.permissions].filter((p) => registered.permissions.has(p)));
  if (permissions.size === 0) return undefined;
  const params = [...requested.params];
  for (const p of registered.params) {
    if (!params.some(([n, v]) => n === p[0] && v === p[1])) params.push(p);
  }
  const sameAsRequested =
    type === requested.type &&
    permissions.size === requested.permissions.size &&
    params.length === requested.params.length;
  const result = { context: requested.context, type, permissions, params };
  return { ...result, text: sameAsRequested ? requested.text : formatScope(result) };
}

/**
 * The scopes to grant: each requested scope narrowed by what the client is registered for
 * (requested ∩ registered). Scopes that are not about clinical data are granted only when
 * registered exactly as requested.
 */
export function grantScopes(requested: string[], registered: string[]): string[] {
  const registeredScopes = registered.map(parseScope);
  const granted: string[] = [];
  for (const text of requested) {
    const scope = parseScope(text);
    if (!scope) {
      if (registered.includes(text)) granted.push(text);
      continue;
    }
    for (const reg of registeredScopes) {
      const left = reg && narrow(scope, reg);
      if (left && !granted.includes(left.text)) granted.push(left.text);
    }
  }
  return granted;
}
