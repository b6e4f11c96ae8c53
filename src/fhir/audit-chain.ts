import { hash } from 'node:crypto';
import type { Extension } from 'fhir/r4.js';

/**
 * The audit trail's hash chain (tamper evidence): each AuditEvent carries its sequence number and
 * the SHA-256 of its predecessor's stored JSON, in an extension. A record that is edited, removed
 * or inserted breaks the chain at that point; the head's hash, kept outside, anchors the whole.
 */

export const chainExtensionUrl = 'http://ferry.example.org/fhir/StructureDefinition/audit-chain';

/** The predecessor of the first record. */
export const genesisHash = '0'.repeat(64);

export interface ChainLink {
  sequence: number;
  previous: string;
}

/** SHA-256 of a record's stored JSON, hex. */
export const recordHash = (json: string): string => hash('sha256', json, 'hex');

/** The AuditEvent with its link in the chain as the last extension (any old link replaced). */
export function withLink<T extends { extension?: Extension[] }>(resource: T, link: ChainLink): T {
  const others = (resource.extension ?? []).filter((e) => e.url !== chainExtensionUrl);
  return {
    ...resource,
    extension: [
      ...others,
      {
        url: chainExtensionUrl,
        extension: [
          { url: 'sequence', valueDecimal: link.sequence },
          { url: 'previous', valueString: link.previous },
        ],
      },
    ],
  };
}

/** The link a stored AuditEvent carries, or undefined when it has none (or a malformed one). */
export function readLink(resource: { extension?: Extension[] }): ChainLink | undefined {
  const chain = resource.extension?.find((e) => e.url === chainExtensionUrl);
  const sequence = chain?.extension?.find((e) => e.url === 'sequence')?.valueDecimal;
  const previous = chain?.extension?.find((e) => e.url === 'previous')?.valueString;
  if (sequence === undefined || !Number.isInteger(sequence) || previous === undefined) return undefined;
  return { sequence, previous };
}
