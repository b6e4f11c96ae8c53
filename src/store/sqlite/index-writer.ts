import type Database from 'better-sqlite3';
import type { IndexEntry } from '../../search/types.js';
import { longSpan } from './schema.js';
import { faceted, sharedEntry } from './sql-predicates.js';

const tables = [
  'idx_token',
  'idx_string',
  'idx_date',
  'idx_number',
  'idx_quantity',
  'idx_reference',
  'idx_uri',
];

/** SQLite has no infinities in INTEGER columns; open date ends are stored as these bounds. */
export const minInstant = -8640000000000000;
export const maxInstant = 8640000000000000;
const clampInstant = (ms: number): number => Math.max(minInstant, Math.min(maxInstant, ms));

/** Facet sets remembered by key; past this many the memory starts afresh (the table still has them). */
const facetCacheSize = 10_000;

/**
 * Keeps the search index tables in step with resource_current: a resource's rows are replaced on
 * every write of it, inside the same transaction, and removed when it is deleted.
 */
export class IndexWriter {
  private readonly pids = new Map<string, number>();
  /** Facet ids by key, as read or written in this process (reset after a rollback). */
  private readonly facets = new Map<string, number>();
  /** max_span per pid as last read or written in this process (reset after a rollback). */
  private readonly spans = new Map<number, number>();
  private readonly stmt;

  constructor(private readonly db: Database.Database) {
    this.stmt = {
      clear: tables.map((t) => db.prepare(`DELETE FROM ${t} WHERE rid = ?`)),
      insertParam: db.prepare('INSERT OR IGNORE INTO search_param (type, code, max_span) VALUES (?, ?, 0)'),
      selectSpan: db.prepare<[number], { max_span: number }>(
        'SELECT max_span FROM search_param WHERE pid = ?',
      ),
      widenSpan: db.prepare('UPDATE search_param SET max_span = ? WHERE pid = ? AND max_span < ?'),
      selectParam: db.prepare<[string, string], { pid: number }>(
        'SELECT pid FROM search_param WHERE type = ? AND code = ?',
      ),
      token: db.prepare(
        'INSERT INTO idx_token (rid, pid, grp, system, code, text) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      string: db.prepare('INSERT INTO idx_string (rid, pid, grp, normalized, exact) VALUES (?, ?, ?, ?, ?)'),
      date: db.prepare('INSERT INTO idx_date (rid, pid, grp, low, high) VALUES (?, ?, ?, ?, ?)'),
      number: db.prepare(
        'INSERT INTO idx_number (rid, pid, grp, value, low, high) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      quantity: db.prepare(
        `INSERT INTO idx_quantity (rid, pid, grp, value, low, high, system, code, unit,
           canonical_value, canonical_low, canonical_high, canonical_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      reference: db.prepare(
        `INSERT INTO idx_reference (rid, pid, grp, target_type, target_id, url, version, identifier_system, identifier_value)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      uri: db.prepare('INSERT INTO idx_uri (rid, pid, grp, value) VALUES (?, ?, ?, ?)'),
      clearText: db.prepare('DELETE FROM fts_resource WHERE rowid = ?'),
      clearFacet: db.prepare('DELETE FROM idx_facet WHERE rid = ?'),
      member: db.prepare('INSERT INTO idx_facet (rid, facet) VALUES (?, ?)'),
      selectFacet: db.prepare<[string], { facet: number }>('SELECT facet FROM idx_facet_set WHERE key = ?'),
      nextFacet: db.prepare<[], { facet: number }>(
        'SELECT COALESCE(MIN(facet), 0) - 1 AS facet FROM idx_facet_set',
      ),
      insertFacet: db.prepare('INSERT INTO idx_facet_set (key, facet) VALUES (?, ?)'),
      text: db.prepare('INSERT INTO fts_resource (rowid, narrative, content) VALUES (?, ?, ?)'),
    };
  }

  /** The pid of a (type, parameter) pair, created on first use. Only call inside a transaction. */
  pid(type: string, code: string): number {
    const key = `${type}\u0000${code}`;
    let pid = this.pids.get(key);
    if (pid === undefined) {
      this.stmt.insertParam.run(type, code);
      pid = this.stmt.selectParam.get(type, code)?.pid;
      if (pid === undefined) throw new Error(`search_param ${type}.${code} could not be created`);
      this.pids.set(key, pid);
    }
    return pid;
  }

  /** The pid of a pair if it was ever indexed; undefined means no resource has an entry for it. */
  existingPid(type: string, code: string): number | undefined {
    const key = `${type}\u0000${code}`;
    const cached = this.pids.get(key);
    if (cached !== undefined) return cached;
    const pid = this.stmt.selectParam.get(type, code)?.pid;
    if (pid !== undefined) this.pids.set(key, pid);
    return pid;
  }

  /** Replaces the index rows of one resource (none for a deleted one). */
  replace(rid: number, type: string, entries: IndexEntry[] | undefined, hadRows = true): void {
    if (hadRows) {
      for (const clear of this.stmt.clear) clear.run(rid);
      this.stmt.clearText.run(rid);
      if (faceted(type, 'token')) this.stmt.clearFacet.run(rid); // the facet set it was in
    }
    const shared: IndexEntry[] = [];
    let group = 0;
    let narrative: string | null = null;
    let content: string | null = null;
    for (const e of entries ?? []) {
      if (e.kind === 'text') {
        if (e.param === '_text') narrative = e.value;
        else content = e.value;
      } else if (e.kind === 'composite') {
        group++;
        e.components.forEach((component, i) => {
          if (component.kind !== 'text')
            this.insert(rid, type, { ...component, param: `${e.param}#${i}` }, group);
        });
      } else if (e.param === '_lastUpdated') {
        // searched and sorted on resource_current.last_updated_ms: a date row would go unread
      } else if (sharedEntry(type, e)) {
        shared.push(e);
      } else {
        this.insert(rid, type, e, null);
      }
    }
    if (narrative !== null || content !== null) this.stmt.text.run(rid, narrative, content);
    if (shared.length > 0) this.stmt.member.run(rid, this.facet(type, shared));
  }

  /**
   * The facet of a set of shared entries (sql-predicates.ts sharedEntry): found by its key, else stored now. The key is
   * the entries as extracted (in the same order for the same elements; a set written in another
   * order is stored twice, which costs a few rows and changes no answer).
   */
  private facet(type: string, entries: IndexEntry[]): number {
    const key = JSON.stringify(entries);
    const cached = this.facets.get(key);
    if (cached !== undefined) return cached;
    let facet = this.stmt.selectFacet.get(key)?.facet;
    if (facet === undefined) {
      facet = (this.stmt.nextFacet.get() as { facet: number }).facet;
      this.stmt.insertFacet.run(key, facet);
      for (const e of entries) this.insert(facet, type, e, null);
    }
    if (this.facets.size >= facetCacheSize) this.facets.clear();
    this.facets.set(key, facet);
    return facet;
  }

  /** Forgets cached pids, spans and facets (a rolled-back transaction may have dropped new ones). */
  resetCache(): void {
    this.pids.clear();
    this.spans.clear();
    this.facets.clear();
  }

  /**
   * The longest span of a parameter's short date rows, read from the database (another process
   * writing the same store may have widened it).
   */
  maxSpan(pid: number): number {
    return this.stmt.selectSpan.get(pid)?.max_span ?? longSpan;
  }

  /** Records a short date row's span; only the first row that exceeds the known maximum writes. */
  private widenSpan(pid: number, span: number): void {
    if (span > longSpan) return;
    let known = this.spans.get(pid);
    if (known === undefined) {
      known = this.maxSpan(pid);
      this.spans.set(pid, known);
    }
    if (span <= known) return;
    this.stmt.widenSpan.run(span, pid, span);
    this.spans.set(pid, span);
  }

  private insert(rid: number, type: string, e: IndexEntry, grp: number | null): void {
    const s = this.stmt;
    const pid = this.pid(type, e.param);
    switch (e.kind) {
      case 'token':
        s.token.run(rid, pid, grp, e.system, e.code, e.text ?? null);
        return;
      case 'string':
        s.string.run(rid, pid, grp, e.normalized, e.exact);
        return;
      case 'date': {
        const low = clampInstant(e.low);
        const high = clampInstant(e.high);
        this.widenSpan(pid, high - low);
        s.date.run(rid, pid, grp, low, high);
        return;
      }
      case 'number':
        s.number.run(rid, pid, grp, e.value, e.low, e.high);
        return;
      case 'quantity':
        s.quantity.run(
          rid,
          pid,
          grp,
          e.value,
          e.low,
          e.high,
          e.system,
          e.code,
          e.unit,
          e.canonical?.value ?? null,
          e.canonical?.low ?? null,
          e.canonical?.high ?? null,
          e.canonical?.code ?? null,
        );
        return;
      case 'reference':
        s.reference.run(
          rid,
          pid,
          grp,
          e.targetType,
          e.targetId,
          e.url,
          e.version,
          e.identifierSystem,
          e.identifierValue,
        );
        return;
      case 'uri':
        s.uri.run(rid, pid, grp, e.value);
        return;
      case 'composite':
      case 'text':
        return; // stored by replace(): as components, and in the full-text table
    }
  }
}
