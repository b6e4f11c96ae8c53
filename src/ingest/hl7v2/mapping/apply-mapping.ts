import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4.js';
import { Hl7Error, type ErrorLocation } from '../hl7-error.js';
import type { Hl7Message, Hl7Segment } from '../message.js';
import { applyRows, compact, setPath, type RowEnv } from './apply-rows.js';
import { offsetOf } from './date-time.js';
import { dedupeIdentifiers, identify, identityCriteria, type Identity } from './identity.js';
import { messageMapFor } from './load-mappings.js';
import { isGroup, type Catalog, type GroupSpec, type MessageMap, type ResourceSpec } from './model.js';
import { SegmentSource } from './source-value.js';

/**
 * applyMapping(catalog, message) → a transaction Bundle of conditional writes, one per resource
 * the message map says the message makes. Pure: no store, no clock; the same message always
 * makes the same Bundle (fullUrls are derived from the sender, MSH-10 and the resource's place).
 */

export interface MapOptions {
  /** IANA zone for date/times that carry no offset, when MSH-7 carries none either. */
  timezone: string;
  /** Use this message map (by file name, e.g. ORU_R01) instead of the one MSH-9 selects. */
  mapName?: string;
}

/** Where one Bundle entry came from, to point an ERR segment at the field a FHIR error is about. */
export interface EntrySource {
  key: string;
  resourceType: string;
  location: ErrorLocation;
  /** Top-level FHIR element → where its value came from. */
  elements: Map<string, ErrorLocation>;
}

export interface MappedMessage {
  map: MessageMap;
  /** `MSH-3.1^MSH-4.1`. */
  sender: string;
  controlId: string;
  bundle: Bundle;
  /** One per Bundle entry, in the same order. */
  sources: EntrySource[];
}

/** The message's type has no message map: AR (200 unsupported message type / 201 event). */
export class UnsupportedMessageError extends Hl7Error {
  constructor(type: string) {
    super(200, `no mapping to FHIR is configured for ${type}`, { segment: 'MSH', sequence: 1, field: 9 });
    this.name = 'UnsupportedMessageError';
  }
}

interface Instance {
  spec: ResourceSpec;
  segment: Hl7Segment;
  scope: readonly Hl7Segment[];
  group: number | undefined;
  resource: Record<string, unknown>;
  fullUrl: string;
  identity: Identity;
  elements: Map<string, ErrorLocation>;
}

/** A deterministic urn:uuid from a text (SHA-256, shaped as a version-4-like UUID). */
export function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Segments of the patient and visit level: they end a group (e.g. the next patient's PID). */
const groupEnds = new Set(['MSH', 'PID', 'PD1', 'PV1', 'PV2', 'NK1', 'MRG', 'EVN']);

/**
 * Splits the message into occurrences of a group (see GroupSpec). Segments the group does not
 * name (PRT, SFT, a sender's Z-segments…) stay inside it and are simply not mapped.
 */
function groupsOf(message: Hl7Message, spec: GroupSpec): Hl7Segment[][] {
  const out: Hl7Segment[][] = [];
  let current: Hl7Segment[] | undefined;
  for (const s of message.all) {
    if (spec.start.includes(s.name)) {
      if (!current || current.some((c) => c.name === s.name)) {
        current = [s];
        out.push(current);
      } else current.push(s);
    } else if (groupEnds.has(s.name) && !spec.members.includes(s.name)) current = undefined;
    else current?.push(s);
  }
  return out;
}

/** The segments that immediately follow `segment` and are named `name` (e.g. NTE after OBX). */
function following(message: Hl7Message, segment: Hl7Segment, name: string): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  for (let i = segment.sequence; i < message.all.length; i++) {
    const s = message.all[i];
    if (s?.name !== name) break;
    out.push(s);
  }
  return out;
}

/** Makes the transaction Bundle for a message; throws Hl7Error (with a location) when it cannot. */
export function applyMapping(catalog: Catalog, message: Hl7Message, options: MapOptions): MappedMessage {
  const { code, trigger } = message.type;
  const map = options.mapName ? catalog.messages.get(options.mapName) : messageMapFor(catalog, code, trigger);
  if (!map) {
    if (options.mapName) throw new Hl7Error(207, `no message map named ${options.mapName}`);
    throw new UnsupportedMessageError(trigger ? `${code}^${trigger}` : code);
  }
  const application = message.get('MSH-3.1') ?? '';
  const facility = message.get('MSH-4.1') ?? '';
  const sender = `${application}^${facility}`;
  const controlId = message.controlId;
  const zone = { timezone: options.timezone, ...withOffset(offsetOf(message.get('MSH-7') ?? undefined)) };

  const instances: Instance[] = [];
  const build = (spec: ResourceSpec, scope: readonly Hl7Segment[], group: number | undefined): void => {
    const candidates = scope.filter((s) => s.name === spec.segment);
    if (candidates.length === 0 && spec.required)
      throw new Hl7Error(100, `the ${map.structure} message needs a ${spec.segment} segment`, {
        segment: spec.segment,
      });
    for (const [n, segment] of (spec.each ? candidates : candidates.slice(0, 1)).entries()) {
      const segmentMap = catalog.segments.get(spec.map);
      if (!segmentMap) throw new Hl7Error(207, `no segment map ${spec.map}`);
      const elements = new Map<string, ErrorLocation>();
      const source = new SegmentSource(segment);
      const env: RowEnv = { catalog, zone, segment: source, elements };
      const resource: Record<string, unknown> = { resourceType: segmentMap.resource };
      applyRows(segmentMap.rows, source, resource, env);
      for (const also of spec.also ?? []) {
        const other = scope.find((s) => s.name === also.segment);
        const alsoMap = catalog.segments.get(also.map);
        if (other && alsoMap) {
          const otherSource = new SegmentSource(other);
          applyRows(alsoMap.rows, otherSource, resource, { ...env, segment: otherSource });
        }
      }
      if (spec.rows) applyRows(spec.rows, source, resource, env);
      if (spec.following) {
        for (const next of following(message, segment, spec.following.segment)) {
          const nextSource = new SegmentSource(next);
          applyRows(spec.following.rows, nextSource, resource, { ...env, segment: nextSource });
        }
      }
      const place = `${group ?? 0}/${spec.key}/${n}`;
      dedupeIdentifiers(resource);
      const identity = identify({
        spec: spec.identity,
        resource,
        read: (path) => readIn(message, segment, scope, path),
        senderAuthority: facility || application || 'unknown',
        messageKey: {
          system: `urn:ferry:hl7v2:message:${encodeURIComponent(sender)}`,
          value: `${controlId}/${place}`,
        },
      });
      instances.push({
        spec,
        segment,
        scope,
        group,
        resource,
        fullUrl: `urn:uuid:${uuidFrom(`${sender}|${controlId}|${place}`)}`,
        identity,
        elements,
      });
    }
  };
  for (const spec of map.resources) {
    if (!isGroup(spec)) build(spec, message.all, undefined);
    else
      groupsOf(message, spec).forEach((segments, g) => {
        for (const inner of spec.resources) build(inner, segments, g + 1);
      });
  }

  // References between the resources of the message: the same group first, then the message.
  for (const instance of instances) {
    for (const [to, target] of Object.entries(instance.spec.refs ?? {})) {
      const all = target.endsWith('*');
      const key = all ? target.slice(0, -1) : target;
      const inGroup = instances.filter((i) => i.spec.key === key && i.group === instance.group);
      const found =
        inGroup.length > 0 ? inGroup : instances.filter((i) => i.spec.key === key && i.group === undefined);
      for (const other of all ? found : found.slice(0, 1))
        setPath(instance.resource, to, { reference: other.fullUrl });
    }
  }

  const entries: BundleEntry[] = [];
  const sources: EntrySource[] = [];
  for (const instance of instances) {
    const resource = compact(instance.resource) as FhirResource;
    const type = resource.resourceType;
    const criteria = identityCriteria(instance.identity);
    entries.push(
      instance.spec.write === 'create'
        ? {
            fullUrl: instance.fullUrl,
            resource,
            request: { method: 'POST', url: type, ifNoneExist: criteria },
          }
        : { fullUrl: instance.fullUrl, resource, request: { method: 'PUT', url: `${type}?${criteria}` } },
    );
    sources.push({
      key: instance.spec.key,
      resourceType: type,
      location: { segment: instance.segment.name, sequence: instance.segment.sequence },
      elements: instance.elements,
    });
  }
  return {
    map,
    sender,
    controlId,
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    sources,
  };
}

function withOffset(offset: string | undefined): { messageOffset?: string } {
  return offset ? { messageOffset: offset } : {};
}

/** A value for an identity key: the resource's own segment, its group, then the message. */
function readIn(
  message: Hl7Message,
  segment: Hl7Segment,
  scope: readonly Hl7Segment[],
  path: string,
): string | undefined {
  const m = /^([A-Z][A-Z0-9]{2})-(.+)$/.exec(path);
  if (!m) return undefined;
  const [, name = '', rest = ''] = m;
  const holder =
    segment.name === name ? segment : (scope.find((s) => s.name === name) ?? message.segment(name));
  const v = holder?.get(rest);
  return v === null || v === undefined || v === '' ? undefined : v;
}
