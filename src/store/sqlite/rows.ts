import type { StoredVersion } from '../store.js';

/** The columns of resource_version that make a StoredVersion. */
export interface VersionColumns {
  type: string;
  id: string;
  version: number;
  last_updated: string;
  deleted: number;
  body: string | null;
  /** The patient kept with the version (schema.ts), where a query selects it. */
  patient?: string | null;
}

/** A resource_version row as the port's StoredVersion. */
export function toVersion(row: VersionColumns): StoredVersion {
  const v: StoredVersion = {
    type: row.type,
    id: row.id,
    versionId: row.version,
    lastUpdated: row.last_updated,
    deleted: row.deleted === 1,
  };
  if (row.body !== null) v.json = row.body;
  if (typeof row.patient === 'string') v.patient = row.patient === '' ? null : row.patient;
  return v;
}
