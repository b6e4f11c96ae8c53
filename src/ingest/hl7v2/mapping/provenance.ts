import type { Binary, BundleEntry, Provenance } from 'fhir/r4.js';
import type { Hl7Message } from '../message.js';
import { convertDtm } from './date-time.js';
import { uuidFrom, type MappedMessage } from './apply-mapping.js';

/**
 * The source of what a message made (CONTRACT: every stored resource made from a source keeps a
 * Provenance pointing at it): the raw message as a Binary, and a Provenance that targets every
 * resource of the transaction, with the Binary as its source entity and the sending application
 * and facility as its agent. Both have ids derived from the sender and MSH-10, and `recorded` is
 * MSH-7, so the same message again writes the same content: nothing new.
 */

export const hl7MediaType = 'x-application/hl7-v2+er7';

/** Adds the Binary and the Provenance entries to a mapped message's transaction. */
export function addProvenance(
  mapped: MappedMessage,
  message: Hl7Message,
  receivedAt: Date,
  timezone: string,
): void {
  const id = `hl7v2-${uuidFrom(`${mapped.sender}|${mapped.controlId}`)}`;
  const entries = mapped.bundle.entry ?? [];
  const targets = entries.map((e) => ({ reference: e.fullUrl ?? '' }));
  const binary: Binary = {
    resourceType: 'Binary',
    id,
    contentType: hl7MediaType,
    data: Buffer.from(message.text, 'utf8').toString('base64'),
  };
  let recorded: string;
  try {
    const msh7 = message.get('MSH-7.1');
    recorded = msh7 ? convertDtm(msh7, 'instant', { timezone }) : receivedAt.toISOString();
  } catch {
    recorded = receivedAt.toISOString();
  }
  const [application, facility] = mapped.sender.split('^');
  const provenance: Provenance = {
    resourceType: 'Provenance',
    id,
    target: targets,
    recorded,
    activity: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
          code: 'UPDATE',
          display: 'revise',
        },
      ],
      text: `HL7 v2 ${message.get('MSH-9') ?? ''} ${mapped.controlId}`.trim(),
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'author',
            },
          ],
        },
        who: { display: [application, facility].filter((p) => p).join(' at ') || 'unknown sender' },
      },
    ],
    entity: [{ role: 'source', what: { reference: `Binary/${id}` } }],
  };
  const more: BundleEntry[] = [
    { resource: binary, request: { method: 'PUT', url: `Binary/${id}` } },
    { resource: provenance, request: { method: 'PUT', url: `Provenance/${id}` } },
  ];
  entries.push(...more);
  mapped.bundle.entry = entries;
  for (const e of more)
    mapped.sources.push({
      key: e.resource?.resourceType === 'Binary' ? 'message' : 'provenance',
      resourceType: e.resource?.resourceType ?? '',
      location: { segment: 'MSH', sequence: 1 },
      elements: new Map(),
    });
}
