import type { Issue } from '../errors.js';
import { checkNode, checkResourceNode, type Walk } from './check-structure.js';
import { compiledBase, compiledStructure } from './compile-structure.js';
import { validateResource } from './validate-resource.js';

/**
 * Validation levels (R4 validation.html): `off` stores what it is given (for restoring data that
 * was validated when first written), `schema` checks the R4 JSON shape, `full` adds the R4 base
 * definitions' invariants and required bindings, and every profile that applies.
 */
export type ValidationLevel = 'off' | 'schema' | 'full';

/** What the configuration says about validation. */
export interface ValidationPolicy {
  /** The level for writes that do not ask for another one. */
  level: ValidationLevel;
  /** Profiles enforced on every resource of a type: type → canonical URLs. */
  enforce: Readonly<Record<string, readonly string[]>>;
  /** A declared `meta.profile` Ferry does not know is an error rather than a warning. */
  strictProfiles: boolean;
}

export const defaultPolicy: ValidationPolicy = Object.freeze({
  level: 'full',
  enforce: {},
  strictProfiles: false,
});

export interface ValidateOptions {
  policy?: ValidationPolicy;
  /** Overrides the policy's level (a trusted feed, a restore). */
  level?: ValidationLevel;
  /** More profiles to check, e.g. `$validate?profile=`; an unknown one is reported as an error. */
  profiles?: readonly string[];
}

/** The profiles a resource is checked against: enforced for its type, declared, and asked for. */
function profilesFor(
  resource: Record<string, unknown>,
  type: string,
  options: ValidateOptions,
  policy: ValidationPolicy,
) {
  const declared = ((resource.meta as { profile?: unknown } | undefined)?.profile ?? []) as unknown[];
  const urls = new Map<string, 'enforced' | 'declared' | 'requested'>();
  for (const url of policy.enforce[type] ?? []) urls.set(url, 'enforced');
  for (const url of options.profiles ?? []) if (!urls.has(url)) urls.set(url, 'requested');
  declared.forEach((url) => {
    if (typeof url === 'string' && !urls.has(url)) urls.set(url, 'declared');
  });
  return urls;
}

/**
 * Validates a resource at the level asked for and returns every issue (errors, warnings and
 * notes); callers decide what to refuse. Profile and invariant checks run only on a resource the
 * schema accepts, so that their messages never describe a shape that is already wrong.
 */
export function validate(resource: unknown, options: ValidateOptions = {}): Issue[] {
  const policy = options.policy ?? defaultPolicy;
  const level = options.level ?? policy.level;
  if (level === 'off') return [];
  const issues = validateResource(resource);
  if (level === 'schema' || issues.some((i) => i.severity === 'error' || i.severity === 'fatal'))
    return issues;
  const node = resource as Record<string, unknown>;
  const type = String(node.resourceType);
  const walk: Walk = { resource: node, root: node, issues };
  checkResourceNode(node, type, walk);
  for (const [url, why] of profilesFor(node, type, options, policy)) {
    const profile = compiledStructure(url);
    if (!profile) {
      issues.push({
        severity: why === 'declared' && !policy.strictProfiles ? 'warning' : 'error',
        code: 'not-supported',
        diagnostics: `Profile ${url} is not known to this server, so the resource was not checked against it`,
        expression: [`${type}.meta.profile`],
      });
      continue;
    }
    if (profile.type !== type || compiledBase(type) === profile) {
      if (profile.type !== type) {
        issues.push({
          severity: 'error',
          code: 'invalid',
          diagnostics: `Profile ${url} constrains ${profile.type}, not ${type}`,
          expression: [type],
        });
      }
      continue;
    }
    checkNode(profile, node, type, { ...walk, profile: url });
  }
  return issues;
}
