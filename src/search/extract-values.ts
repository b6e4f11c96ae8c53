import type {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  HumanName,
  Identifier,
  Reference,
} from 'fhir/r4.js';
import { normalizeString } from './normalize.js';
import { resourceTypes } from './parameters.js';
import type { ReferenceEntry, StringEntry, TokenEntry, UriEntry } from './types.js';

/** Displays and names repeat across resources: remember recent normal forms (bounded). */
const normalForms = new Map<string, string>();
function normalize(value: string): string {
  let out = normalForms.get(value);
  if (out === undefined) {
    if (normalForms.size >= 20_000) normalForms.clear();
    out = normalizeString(value);
    normalForms.set(value, out);
  }
  return out;
}

const textTypes = new Set(['string', 'markdown', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid']);

/**
 * Token entries (R4 search.html#token): a Coding, each Coding of a CodeableConcept (its `text`
 * as an entry of its own, for `:text`), an Identifier (`type.text` for `:text`), a ContactPoint
 * (system and value), or a code/string/uri/id/boolean primitive (no system). Codes are kept as
 * written — tokens are case-sensitive — and only `text` is normalised.
 */
export function tokenEntries(param: string, value: unknown, type: string | null): TokenEntry[] {
  if (typeof value === 'string') return [{ kind: 'token', param, system: null, code: value }];
  if (typeof value === 'boolean') return [{ kind: 'token', param, system: null, code: String(value) }];
  if (value === null || typeof value !== 'object') return [];
  switch (type ?? guessTokenType(value)) {
    case 'Coding':
      return codingEntry(param, value);
    case 'CodeableConcept': {
      const cc = value as CodeableConcept;
      const out = (cc.coding ?? []).flatMap((c) => codingEntry(param, c));
      if (cc.text !== undefined)
        out.push({ kind: 'token', param, system: null, code: null, text: normalize(cc.text) });
      return out;
    }
    case 'Identifier': {
      const id = value as Identifier;
      if (id.value === undefined && id.system === undefined) return [];
      const entry: TokenEntry = { kind: 'token', param, system: id.system ?? null, code: id.value ?? null };
      if (id.type?.text !== undefined) entry.text = normalize(id.type.text);
      return [entry];
    }
    case 'ContactPoint': {
      const cp = value as ContactPoint;
      return cp.value === undefined
        ? []
        : [{ kind: 'token', param, system: cp.system ?? null, code: cp.value }];
    }
    default:
      return [];
  }
}

function codingEntry(param: string, c: Coding): TokenEntry[] {
  if (c.code === undefined && c.system === undefined && c.display === undefined) return [];
  const entry: TokenEntry = { kind: 'token', param, system: c.system ?? null, code: c.code ?? null };
  if (c.display !== undefined) entry.text = normalize(c.display);
  return [entry];
}

function guessTokenType(value: object): string | undefined {
  if ('coding' in value || 'text' in value) return 'CodeableConcept';
  if ('code' in value) return 'Coding';
  if ('value' in value) return 'Identifier';
  return undefined;
}

/**
 * String entries (R4 search.html#string): a string or markdown primitive, each part of a
 * HumanName (family, given, prefix, suffix, text) or an Address (line, city, district, state,
 * postalCode, country, text), each normalised for matching and kept as written for `:exact`.
 */
export function stringEntries(param: string, value: unknown, type: string | null): StringEntry[] {
  const parts: unknown[] = [];
  if (typeof value === 'string') parts.push(value);
  else if (value !== null && typeof value === 'object') {
    if (type === 'HumanName') {
      const n = value as HumanName;
      parts.push(n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? []), n.text);
    } else if (type === 'Address') {
      const a = value as Address;
      parts.push(...(a.line ?? []), a.city, a.district, a.state, a.postalCode, a.country, a.text);
    }
  }
  const out: StringEntry[] = [];
  for (const part of parts) {
    if (typeof part === 'string' && part.length > 0) {
      out.push({ kind: 'string', param, normalized: normalize(part), exact: part });
    }
  }
  return out;
}

/** Uri entries: the uri, url or canonical as written (R4 search.html#uri). */
export function uriEntries(param: string, value: unknown, type: string | null): UriEntry[] {
  if (typeof value !== 'string' || (type !== null && !textTypes.has(type))) return [];
  return [{ kind: 'uri', param, value }];
}

/**
 * Reference entries (R4 search.html#reference, references.html): a Reference (its literal
 * reference and its identifier), a canonical or uri element (url and `|version`), or an embedded
 * resource (Bundle.entry[0].resource).
 */
export function referenceEntries(param: string, value: unknown, type: string | null): ReferenceEntry[] {
  if (typeof value === 'string') {
    return [parseReference(param, value, type === 'canonical')];
  }
  if (value === null || typeof value !== 'object') return [];
  const resource = value as { resourceType?: unknown; id?: unknown };
  if (typeof resource.resourceType === 'string') {
    return typeof resource.id === 'string' ? [emptyReference(param, resource.resourceType, resource.id)] : [];
  }
  const ref = value as Reference;
  const entry =
    ref.reference !== undefined
      ? parseReference(param, ref.reference, false)
      : emptyReference(param, null, null);
  if (ref.identifier?.value !== undefined) {
    entry.identifierSystem = ref.identifier.system ?? null;
    entry.identifierValue = ref.identifier.value;
  }
  return ref.reference !== undefined || entry.identifierValue !== null ? [entry] : [];
}

function emptyReference(param: string, targetType: string | null, targetId: string | null): ReferenceEntry {
  return {
    kind: 'reference',
    param,
    targetType,
    targetId,
    url: null,
    version: null,
    identifierSystem: null,
    identifierValue: null,
  };
}

const relativePattern = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const absoluteTailPattern = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/**
 * `Type/id` and `Type/id/_history/n` (the version dropped) give type and id; an absolute URL is
 * kept as written, with type and id too when it ends in `/Type/id`; `#contained`, `urn:uuid:`
 * and anything else are a url only. A canonical's `|version` goes to `version`.
 */
export function parseReference(param: string, reference: string, canonical: boolean): ReferenceEntry {
  const entry = emptyReference(param, null, null);
  let url = reference;
  if (canonical || /^[a-z][a-z0-9+.-]*:[^|]*\|/i.test(reference)) {
    const bar = reference.lastIndexOf('|');
    if (bar >= 0) {
      url = reference.slice(0, bar);
      entry.version = reference.slice(bar + 1) || null;
    }
  }
  const relative = relativePattern.exec(url);
  if (relative && resourceTypes().has(relative[1] ?? '')) {
    entry.targetType = relative[1] ?? null;
    entry.targetId = relative[2] ?? null;
    return entry;
  }
  entry.url = url;
  if (/^https?:\/\//.test(url)) {
    const tail = absoluteTailPattern.exec(url);
    if (tail && resourceTypes().has(tail[1] ?? '')) {
      entry.targetType = tail[1] ?? null;
      entry.targetId = tail[2] ?? null;
    }
  }
  return entry;
}
