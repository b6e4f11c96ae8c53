/**
 * The embedded store's tables. Every version of every resource lives in `resource_version`
 * (its `seq` is the global write order used by history and export); `resource_current` points
 * at each resource's newest version so a read is two primary-key lookups. A version's `patient`
 * is the patient its data is about, kept when it was written so that a read's audit record need
 * not parse the JSON: `Patient/id`, '' for none, NULL when not kept (then found from the body).
 */
export const schemaVersion = 1;

/**
 * Date index rows spanning more than this (32 days) are "long" and also kept in the partial
 * index idx_date_long. Every other row overlapping [from, to] starts within [from - longSpan, to],
 * which bounds a range scan on (pid, low): see SearchCompiler.dateRangeScan.
 */
export const longSpan = 2_764_800_000;

/** Indexes whose columns grew since the first stores were made: name, table, columns, partial WHERE. */
const coveringIndexes: [string, string, string[], string?][] = [
  ['idx_string_value', 'idx_string', ['pid', 'normalized', 'rid']],
  ['idx_string_rid', 'idx_string', ['rid', 'pid', 'normalized']],
  ['idx_date_low', 'idx_date', ['pid', 'low', 'high', 'rid']],
  ['idx_date_high', 'idx_date', ['pid', 'high', 'rid']],
  ['idx_date_rid', 'idx_date', ['rid', 'pid', 'low', 'high']],
  ['idx_date_long', 'idx_date', ['pid', 'low', 'high', 'rid'], `high - low > ${longSpan}`],
];

/**
 * Search indexes keyed by value, whose rows land at random places: a bulk load (a restore) drops
 * them and has schemaSql build each once, sorted, at its end — many times faster than growing
 * them row by row once they outgrow the page cache. Should the load be cut short, the next open
 * builds them (schemaSql runs at every open). The rid indexes grow at their end and stay: every
 * write of a resource looks its rows up by rid.
 */
export const deferredIndexes = [
  'idx_token_code',
  'idx_token_system',
  'idx_string_value',
  'idx_date_low',
  'idx_date_high',
  'idx_date_long',
  'idx_number_value',
  'idx_quantity_code',
  'idx_quantity_canonical',
  'idx_reference_inbound',
  'idx_reference_url',
  'idx_reference_identifier',
  'idx_uri_value',
];

/** What an upgrade may ask of the database it checks. */
export interface SchemaProbe {
  /** The column names of a table. */
  columns(table: string): string[];
  /** The column names of an index, in order (none when it does not exist). */
  indexColumns(index: string): string[];
}

/**
 * Changes to a store written by an earlier Ferry, applied at open after schemaSql when `needed`:
 * each is idempotent and keeps every existing answer right.
 */
export const upgrades: { needed: (db: SchemaProbe) => boolean; sql: string }[] = [
  {
    // stores made before max_span: measure it once from the rows already indexed
    needed: (db) => !db.columns('search_param').includes('max_span'),
    sql: `ALTER TABLE search_param ADD COLUMN max_span INTEGER NOT NULL DEFAULT 0;
      UPDATE search_param SET max_span = m.span
        FROM (SELECT pid, MAX(high - low) AS span FROM idx_date WHERE high - low <= ${longSpan} GROUP BY pid) m
        WHERE m.pid = search_param.pid;`,
  },
  ...coveringIndexes.map(([index, table, columns, where]) => ({
    // indexes that came to carry more columns (covering): rebuilt once
    needed: (db: SchemaProbe) => db.indexColumns(index).join(',') !== columns.join(','),
    sql: `DROP INDEX IF EXISTS ${index};
      CREATE INDEX ${index} ON ${table} (${columns.join(', ')})${where ? ` WHERE ${where}` : ''};`,
  })),
  {
    // stores made before versions kept their patient: their versions' patients come from the JSON
    needed: (db) => !db.columns('resource_version').includes('patient'),
    sql: 'ALTER TABLE resource_version ADD COLUMN patient TEXT;',
  },
  {
    // one reference index serves searches by target, compartments and reverse lookups alike
    needed: (db) => db.indexColumns('idx_reference_inbound').length !== 4,
    sql: `DROP INDEX IF EXISTS idx_reference_target;
      DROP INDEX IF EXISTS idx_reference_inbound;
      CREATE INDEX idx_reference_inbound ON idx_reference (target_id, target_type, pid, rid);`,
  },
];

export const schemaSql = `
CREATE TABLE IF NOT EXISTS resource_version (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  body TEXT,
  patient TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_version_key ON resource_version (type, id, version);
CREATE INDEX IF NOT EXISTS resource_version_type_seq ON resource_version (type, seq);
CREATE INDEX IF NOT EXISTS resource_version_updated ON resource_version (last_updated_ms);

CREATE TABLE IF NOT EXISTS resource_current (
  rid INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  last_updated_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_current_key ON resource_current (type, id);
CREATE INDEX IF NOT EXISTS resource_current_type_updated ON resource_current (type, last_updated_ms);
CREATE INDEX IF NOT EXISTS resource_current_type ON resource_current (type, deleted);

-- Search index: one row per index entry of each current, non-deleted resource, keyed by its rid.
-- pid names a (resource type, search parameter) pair, so one index serves each parameter.
-- A composite parameter's combinations are stored as their components (parameter "code#i"),
-- the components of one combination sharing a grp number.
-- max_span: the longest (high - low) among the parameter's date rows that are not long, so a
-- range search scans only rows starting within [from - max_span, to]; it only ever grows.
CREATE TABLE IF NOT EXISTS search_param (
  pid INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  code TEXT NOT NULL,
  max_span INTEGER NOT NULL DEFAULT 0,
  UNIQUE (type, code)
);
CREATE TABLE IF NOT EXISTS idx_token (rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, system TEXT, code TEXT, text TEXT);
CREATE INDEX IF NOT EXISTS idx_token_code ON idx_token (pid, code, rid);
CREATE INDEX IF NOT EXISTS idx_token_system ON idx_token (pid, system);
CREATE INDEX IF NOT EXISTS idx_token_rid ON idx_token (rid, pid);
CREATE TABLE IF NOT EXISTS idx_string (rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, normalized TEXT NOT NULL, exact TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_string_value ON idx_string (pid, normalized, rid);
CREATE INDEX IF NOT EXISTS idx_string_rid ON idx_string (rid, pid, normalized);
CREATE TABLE IF NOT EXISTS idx_date (rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, low INTEGER NOT NULL, high INTEGER NOT NULL);
-- date and string indexes carry the columns a search reads (high, rid…), so a range scan or a
-- per-candidate check never visits the table rows
CREATE INDEX IF NOT EXISTS idx_date_low ON idx_date (pid, low, high, rid);
CREATE INDEX IF NOT EXISTS idx_date_high ON idx_date (pid, high, rid);
CREATE INDEX IF NOT EXISTS idx_date_rid ON idx_date (rid, pid, low, high);
CREATE INDEX IF NOT EXISTS idx_date_long ON idx_date (pid, low, high, rid) WHERE high - low > ${longSpan};
CREATE TABLE IF NOT EXISTS idx_number (rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idx_number_value ON idx_number (pid, value);
CREATE INDEX IF NOT EXISTS idx_number_rid ON idx_number (rid, pid);
CREATE TABLE IF NOT EXISTS idx_quantity (
  rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
  system TEXT, code TEXT, unit TEXT, canonical_value REAL, canonical_low REAL, canonical_high REAL, canonical_code TEXT
);
CREATE INDEX IF NOT EXISTS idx_quantity_code ON idx_quantity (pid, code, value);
CREATE INDEX IF NOT EXISTS idx_quantity_canonical ON idx_quantity (pid, canonical_code, canonical_value);
CREATE INDEX IF NOT EXISTS idx_quantity_rid ON idx_quantity (rid, pid);
CREATE TABLE IF NOT EXISTS idx_reference (
  rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, target_type TEXT, target_id TEXT, url TEXT, version TEXT,
  identifier_system TEXT, identifier_value TEXT
);
-- (target_id, target_type, pid, rid): a search by reference, a compartment, _revinclude and
-- _has all start from the target, and an equality on all but rid hands rows over in rid order.
CREATE INDEX IF NOT EXISTS idx_reference_inbound ON idx_reference (target_id, target_type, pid, rid);
CREATE INDEX IF NOT EXISTS idx_reference_url ON idx_reference (pid, url) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_reference_identifier ON idx_reference (pid, identifier_value) WHERE identifier_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_reference_rid ON idx_reference (rid, pid);
-- Full text (_text, _content): one row per resource, rowid = rid.
CREATE VIRTUAL TABLE IF NOT EXISTS fts_resource USING fts5(
  narrative, content, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
-- An AuditEvent's token and string entries (action, outcome, type, subtype, site, address…) and
-- its references that name only an identifier (the client, the source) are mostly the same for
-- thousands of events. Each distinct set of them is stored once, as idx_token, idx_string and
-- idx_reference rows whose rid is the set's facet (a negative number, never a resource's rid);
-- idx_facet names the set of each event. (AuditEvents indexed before facets keep their own rows.)
CREATE TABLE IF NOT EXISTS idx_facet_set (key TEXT PRIMARY KEY, facet INTEGER NOT NULL UNIQUE) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_facet (rid INTEGER PRIMARY KEY, facet INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_facet_member ON idx_facet (facet, rid);
CREATE TABLE IF NOT EXISTS idx_uri (rid INTEGER NOT NULL, pid INTEGER NOT NULL, grp INTEGER, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_uri_value ON idx_uri (pid, value, rid);
CREATE INDEX IF NOT EXISTS idx_uri_rid ON idx_uri (rid, pid);

CREATE TABLE IF NOT EXISTS record (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (namespace, key)
) WITHOUT ROWID;

-- The audit trail's chain in append order: each AuditEvent's sequence and the SHA-256 of its
-- stored JSON (which carries its own sequence and its predecessor's hash).
CREATE TABLE IF NOT EXISTS audit_chain (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;
