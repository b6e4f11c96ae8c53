import type { AuditEvent } from 'fhir/r4.js';
import type { ResourceStore } from '../store/store.js';

/**
 * The audit trail as NDJSON for a SIEM: one stored AuditEvent per line, exactly as stored (chain
 * link included, so a consumer can check the chain too), in chain order.
 */
export async function exportAudit(
  store: ResourceStore,
  options: { since?: Date },
  write: (line: string) => Promise<void> | void,
): Promise<number> {
  const since = options.since?.getTime();
  let written = 0;
  for await (const record of store.auditChain()) {
    const json = record.version?.json;
    if (json === undefined || record.stray) continue;
    if (since !== undefined) {
      const recorded = Date.parse((JSON.parse(json) as AuditEvent).recorded);
      if (!(recorded >= since)) continue;
    }
    await write(`${json}\n`);
    written++;
  }
  return written;
}
