import { Hl7Error } from '../hl7-error.js';
import type { IdentitySpec } from './model.js';

/**
 * Stable identities: how each resource a message makes is found again, so that a message is one
 * transaction of conditional writes and the same message twice changes nothing. A resource is
 * known by one identifier (system + value): the one the IG maps (PID-3, PV1-19, OBR-2/3…), or a
 * key made of message values (an Observation by filler number + OBX-3 + OBX-4).
 */

export interface Identity {
  system: string;
  value: string;
}

type Identifier = {
  system?: string;
  value?: string;
  type?: { coding?: { code?: string }[] };
  assigner?: { display?: string };
};

/** A URN for identifiers whose assigning authority has no universal id. */
export const authoritySystem = (authority: string): string =>
  `urn:ferry:hl7v2:authority:${encodeURIComponent(authority)}`;

function chooseIdentifier(list: Identifier[], prefer: string[] | undefined): Identifier | undefined {
  const usable = list.filter((i) => typeof i.value === 'string' && i.value !== '');
  for (const code of prefer ?? []) {
    const hit = usable.find((i) => i.type?.coding?.some((c) => c.code === code));
    if (hit) return hit;
  }
  return prefer && prefer.length > 0 && usable.length > 0 ? undefined : usable[0];
}

export interface IdentityInput {
  spec: IdentitySpec;
  resource: Record<string, unknown>;
  /** Reads a message value for a key part (`OBR-3.1`), in the resource's group first. */
  read(path: string): string | undefined;
  /** `MSH-4.1` (else MSH-3.1): the authority of identifiers that name none. */
  senderAuthority: string;
  /** Identity within this one message, for `fallback: message`. */
  messageKey: Identity;
}

/**
 * The identity of a resource, adding the identifier it rests on when it is a key or when the
 * chosen identifier had no system (Ferry then scopes it to its assigning authority's name, else
 * the sending facility: the IG leaves `system` empty there, but a conditional write needs one).
 */
export function identify(input: IdentityInput): Identity {
  const { spec, resource } = input;
  const list = (Array.isArray(resource.identifier) ? resource.identifier : []) as Identifier[];
  const chosen = spec.key
    ? undefined
    : (chooseIdentifier(list, spec.prefer) ?? chooseIdentifier(list, undefined));
  if (chosen?.value) {
    chosen.system ??= authoritySystem(chosen.assigner?.display?.trim() || input.senderAuthority);
    return { system: chosen.system, value: chosen.value };
  }
  if (spec.key) {
    const parts = spec.key.values.map((alternatives) => {
      for (const path of alternatives.split('|').map((p) => p.trim())) {
        const v = input.read(path);
        if (v !== undefined) return v;
      }
      return '';
    });
    if (parts.some((p) => p !== '')) {
      const identity = { system: spec.key.system, value: parts.join('/') };
      resource.identifier = [...list, identity];
      return identity;
    }
  }
  if (spec.fallback === 'message') {
    resource.identifier = [...list, input.messageKey];
    return input.messageKey;
  }
  const at = spec.from ? /^([A-Z][A-Z0-9]{2})-(\d+)/.exec(spec.from) : null;
  throw new Hl7Error(
    101,
    `no identifier to find the ${String(resource.resourceType)} again${spec.from ? ` (${spec.from} is empty)` : ''}`,
    at ? { segment: at[1], field: Number(at[2]) } : {},
  );
}

/** `system|value` as a token search value (R4 search.html#escaping), URL-encoded. */
export function identityCriteria(identity: Identity): string {
  const escape = (s: string): string => s.replace(/[\\|,$]/g, (c) => `\\${c}`);
  return `identifier=${encodeURIComponent(`${escape(identity.system)}|${escape(identity.value)}`)}`;
}

/** Removes identifiers that are the same as an earlier one (OBR-2 and ORC-2 often repeat). */
export function dedupeIdentifiers(resource: Record<string, unknown>): void {
  if (!Array.isArray(resource.identifier)) return;
  const seen = new Set<string>();
  resource.identifier = resource.identifier.filter((i) => {
    const { system, value } = i as Identifier;
    const k = `${system ?? ''}|${value ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
