import { FhirError } from '../../errors.js';
import { RecordExistsError, StoreConflictError, StoreUnavailableError } from '../store.js';

/** Translates a driver error into the port's vocabulary at the store's edge. */
export function translate(error: unknown): unknown {
  if (error instanceof StoreConflictError || error instanceof RecordExistsError || error instanceof FhirError)
    return error;
  const code = (error as { code?: string }).code ?? '';
  if (
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_LOCKED' ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_FULL'
  ) {
    return new StoreUnavailableError(`embedded store unavailable (${code})`, { cause: error });
  }
  return error;
}
