import { appendAudit, localEvent, type Auditor, type LocalFacts } from '../audit/access-audit.js';
import { ConfigError, loadConfig } from '../config.js';
import type { AuditAppend, ResourceStore } from '../store/store.js';

/** Prints one line and exits non-zero: the contract for every failure of the CLI. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`ferry: ${message}\n`);
  process.exit(code);
}

/** The configuration of the environment, for the commands that work on the store; one line on error. */
export function configFromEnv(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
}

/** The audit trail of a command that writes, unless FERRY_AUDIT=off. */
export function cliAuditor(store: ResourceStore): Auditor | undefined {
  const config = configFromEnv();
  return config.audit.enabled
    ? { store, source: { site: config.baseUrl, name: config.audit.source }, now: () => new Date() }
    : undefined;
}

/**
 * The AuditEvent of a command run here (see localEvent), for the write set of the change it
 * makes; none when FERRY_AUDIT=off.
 */
export function commandEvent(store: ResourceStore, command: string, facts: LocalFacts): AuditAppend[] {
  return localEvent(cliAuditor(store), command, facts);
}

/** Records what a command does, durably, before it goes on (nothing when FERRY_AUDIT=off). */
export async function recordCommand(store: ResourceStore, command: string, facts: LocalFacts): Promise<void> {
  await appendAudit(store, commandEvent(store, command, facts));
}
