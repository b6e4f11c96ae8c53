/**
 * The embedded store's tables. Every version of every resource lives in `resource_version`
 * (its `seq` is the global write order used by history and export); `resource_current` points
 * at each resource's newest version so a read is two primary-key lookups.
 */
export const schemaVersion = 1;

export const schemaSql = `
CREATE TABLE IF NOT EXISTS resource_version (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  body TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_version_key ON resource_version (type, id, version);
CREATE INDEX IF NOT EXISTS resource_version_type_seq ON resource_version (type, seq);
CREATE INDEX IF NOT EXISTS resource_version_updated ON resource_version (last_updated_ms);

CREATE TABLE IF NOT EXISTS resource_current (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resource_current_type_updated ON resource_current (type, last_updated_ms);

CREATE TABLE IF NOT EXISTS record (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (namespace, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;
