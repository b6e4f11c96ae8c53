import type { Logger } from '../log.js';
import type { ResourceStore } from '../store/store.js';

/** What every service function needs; passed in, never imported globally. */
export interface ServiceContext {
  store: ResourceStore;
  /** Public base of the FHIR endpoint, e.g. http://localhost:8080/fhir (no trailing slash). */
  baseUrl: string;
  log: Logger;
  now(): Date;
}
