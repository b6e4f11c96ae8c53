import type { AuditEvent } from 'fhir/r4.js';
import { genesisHash, readLink, recordHash } from '../fhir/audit-chain.js';
import type { ResourceStore } from '../store/store.js';

/** What `ferry audit verify` found. */
export interface ChainReport {
  /** Records walked in chain order. */
  records: number;
  /** The last intact record: anchor its hash somewhere else to detect a rewritten tail. */
  head?: { sequence: number; hash: string };
  /** The first break, when there is one. */
  broken?: { sequence?: number; id?: string; reason: string };
}

/**
 * Walks the audit trail in chain order and checks every link: each record's JSON hashes to what
 * was recorded when it was appended, names its own sequence, and names its predecessor's hash.
 * Then checks that no AuditEvent version exists outside the chain. Reports the first break.
 * The walk reads one snapshot, so events appended meanwhile by a running gateway are not counted.
 */
export async function verifyAuditChain(store: ResourceStore): Promise<ChainReport> {
  let expected = 1;
  let previous = genesisHash;
  let head: ChainReport['head'];
  const report = (broken: ChainReport['broken']): ChainReport => ({
    records: expected - 1,
    ...(head ? { head } : {}),
    ...(broken ? { broken } : {}),
  });
  for await (const record of store.auditChain()) {
    if (record.stray) {
      const version = record.version?.versionId ?? '?';
      return report({
        id: record.id,
        reason: `AuditEvent/${record.id} version ${version} is not in the chain (inserted, or an edit stored as a new version)`,
      });
    }
    const at = { sequence: record.sequence, id: record.id };
    if (record.sequence !== expected) {
      return report({ sequence: expected, reason: `record ${expected} is missing from the chain (removed)` });
    }
    const json = record.version?.json;
    if (json === undefined) return report({ ...at, reason: `AuditEvent/${record.id} is missing (removed)` });
    const link = readLink(JSON.parse(json) as AuditEvent);
    if (link?.sequence !== record.sequence) return report({ ...at, reason: 'its chain link was edited' });
    if (link.previous !== previous) {
      return report({
        sequence: record.sequence - 1,
        reason: `record ${record.sequence - 1} was edited: record ${record.sequence} names another hash for it`,
      });
    }
    const hash = recordHash(json);
    if (hash !== record.hash) return report({ ...at, reason: 'the record was edited after it was appended' });
    previous = hash;
    head = { sequence: record.sequence, hash };
    expected++;
  }
  return report(undefined);
}
