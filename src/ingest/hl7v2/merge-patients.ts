import type { BundleEntry, Patient, PatientLink } from 'fhir/r4.js';
import { FhirError } from '../../errors.js';
import { conditionalTarget } from '../../service/conditional.js';
import type { ServiceContext } from '../../service/context.js';
import { Hl7Error } from './hl7-error.js';
import type { Hl7Message } from './message.js';
import { uuidFrom, type MappedMessage } from './mapping/apply-mapping.js';
import { applyRows, compact, type RowEnv } from './mapping/apply-rows.js';
import { offsetOf } from './mapping/date-time.js';
import { identify, identityCriteria, type Identity } from './mapping/identity.js';
import type { Catalog } from './mapping/model.js';
import { SegmentSource } from './mapping/source-value.js';

/**
 * A patient merge (ADT^A40): the patient MRG-1 names is retired into the one PID names. The old
 * Patient gets `active: false` and a `link` of type replaced-by to the surviving one, which gets a
 * `link` of type replaces back — in the message's own transaction, so the merge is stored whole
 * or not at all. The old Patient is read from the store first and written back with If-Match (a
 * concurrent change makes the transaction run again); when Ferry never had it, it is created
 * inactive with the MRG-1 identifiers, so later messages about the old number find the link.
 */

/** The old patient's identity and identifiers (MRG-1, through the CX map): pure. */
export function mergedIdentity(
  catalog: Catalog,
  message: Hl7Message,
  timezone: string,
): { identity: Identity; identifiers: unknown[] } {
  const mrg = message.segment('MRG');
  if (!mrg)
    throw new Hl7Error(100, 'a merge needs an MRG segment naming the patient merged away', {
      segment: 'MRG',
    });
  const source = new SegmentSource(mrg);
  const offset = offsetOf(message.get('MSH-7') ?? undefined);
  const zone = { timezone, ...(offset ? { messageOffset: offset } : {}) };
  const env: RowEnv = { catalog, zone, segment: source };
  const resource = applyRows([{ from: '1', to: 'identifier[]', type: 'CX' }], source, {}, env);
  const facility = message.get('MSH-4.1') ?? '';
  const application = message.get('MSH-3.1') ?? '';
  const identity = identify({
    spec: { from: 'MRG-1' },
    resource,
    read: () => undefined,
    senderAuthority: facility || application || 'unknown',
    messageKey: { system: '', value: '' },
  });
  return { identity, identifiers: (compact(resource.identifier) as unknown[] | undefined) ?? [] };
}

const criteriaOf = (identity: Identity): [string, string][] => [
  ['identifier', decodeURIComponent(identityCriteria(identity).slice('identifier='.length))],
];

/** Adds the old patient's write to a merge message's transaction (before its Provenance). */
export async function addMerge(
  ctx: ServiceContext,
  catalog: Catalog,
  message: Hl7Message,
  mapped: MappedMessage,
  timezone: string,
): Promise<void> {
  const merge = mapped.map.merge;
  if (!merge) return;
  const entries = mapped.bundle.entry ?? [];
  const intoAt = mapped.sources.findIndex((s) => s.key === merge.into);
  const into = entries[intoAt];
  if (!into?.fullUrl || into.resource?.resourceType !== 'Patient') return;
  const { identity, identifiers } = mergedIdentity(catalog, message, timezone);
  const survivor = into.resource;
  if (survivor.identifier?.some((i) => i.system === identity.system && i.value === identity.value)) return; // merged into itself: nothing to retire
  let id: string | undefined;
  try {
    id = await conditionalTarget(ctx, 'Patient', criteriaOf(identity));
  } catch (error) {
    if (!(error instanceof FhirError)) throw error;
    if (error.status === 412)
      throw new Hl7Error(205, `MRG-1 ${identity.value} matches more than one patient`, {
        segment: 'MRG',
        field: 1,
      });
    if (error.status !== 404) throw error;
  }
  const replacedBy: PatientLink = { other: { reference: into.fullUrl }, type: 'replaced-by' };
  let entry: BundleEntry;
  if (id !== undefined) {
    const current = await ctx.store.readCurrent('Patient', id);
    const old = JSON.parse(current?.json ?? '{}') as Patient;
    delete old.meta;
    old.active = false;
    old.link = [...(old.link ?? []).filter((l) => l.type !== 'replaced-by'), replacedBy];
    entry = {
      fullUrl: `urn:uuid:${uuidFrom(`${mapped.sender}|${mapped.controlId}|merged`)}`,
      resource: old,
      request: {
        method: 'PUT',
        url: `Patient/${id}`,
        ...(current ? { ifMatch: `W/"${current.versionId}"` } : {}),
      },
    };
  } else {
    entry = {
      fullUrl: `urn:uuid:${uuidFrom(`${mapped.sender}|${mapped.controlId}|merged`)}`,
      resource: {
        resourceType: 'Patient',
        identifier: identifiers,
        active: false,
        link: [replacedBy],
      } as Patient,
      request: { method: 'POST', url: 'Patient', ifNoneExist: identityCriteria(identity) },
    };
  }
  survivor.link = [
    ...(survivor.link ?? []).filter((l) => l.type !== 'replaces'),
    { other: { reference: entry.fullUrl ?? '' }, type: 'replaces' },
  ];
  entries.push(entry);
  mapped.bundle.entry = entries;
  mapped.sources.push({
    key: 'merged',
    resourceType: 'Patient',
    location: { segment: 'MRG', sequence: message.segment('MRG')?.sequence ?? 0, field: 1 },
    elements: new Map(),
  });
}
