import type { Access } from '../auth/access.js';
import type { AccessAudit } from '../audit/access-audit.js';
import type { Logger } from '../log.js';
import type { ResourceStore } from '../store/store.js';
import type { ValidationPolicy } from '../validation/validate.js';

/** What every service function needs; passed in, never imported globally. */
export interface ServiceContext {
  store: ResourceStore;
  /** Public base of the FHIR endpoint, e.g. http://localhost:8080/fhir (no trailing slash). */
  baseUrl: string;
  log: Logger;
  now(): Date;
  /** How writes are validated; the R4 rules at level `full` with no enforced profile when absent. */
  validation?: ValidationPolicy;
  /**
   * What the request's access token allows (SMART scopes, patient compartment); absent for
   * callers that act with the gateway's own authority (the CLI, ingest after its own check).
   */
  access?: Access;
  /**
   * The audit trail of the caller: every interaction records its AuditEvent here (a write's in
   * the write's own transaction). Absent for Ferry's own internal work (reindex, tests).
   */
  audit?: AccessAudit;
}
