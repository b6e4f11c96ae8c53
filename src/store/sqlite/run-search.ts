import type Database from 'better-sqlite3';
import { badRequest } from '../../errors.js';
import type { IncludeSpec, SearchQuery } from '../../search/types.js';
import type { SearchPage, StoredVersion } from '../store.js';
import { SearchCompiler, type Sql } from './compile-search.js';
import type { IndexWriter } from './index-writer.js';

interface Row {
  rid: number;
  type: string;
  id: string;
  version: number;
  last_updated: string;
  deleted: number;
  body: string | null;
  [sortKey: `k${number}`]: unknown;
}

/** Most resources an _include / _revinclude may add to one page. */
const maxIncluded = 1000;
/** How many rounds `:iterate` follows. */
const maxIterations = 4;

const toVersion = (row: Row): StoredVersion => {
  const v: StoredVersion = {
    type: row.type,
    id: row.id,
    versionId: row.version,
    lastUpdated: row.last_updated,
    deleted: row.deleted === 1,
  };
  if (row.body !== null) v.json = row.body;
  return v;
};

function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor(cursor: string, keys: number): unknown[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === keys + 1 && typeof values[keys] === 'number')
      return values;
  } catch {
    // fall through
  }
  throw badRequest(
    '_cursor is not a paging cursor of this search; start again from the first page',
    '_cursor',
  );
}

/**
 * Keyset condition "after this row" for ORDER BY k1, k2, …, rid with NULLS LAST, so a page
 * boundary stays put while other clients write (R4 search.html#paging leaves the method open).
 */
function after(keys: { expr: Sql; descending: boolean }[], values: unknown[]): Sql {
  const rid = values[keys.length] as number;
  const ors: Sql[] = [];
  const equalSoFar: Sql[] = [];
  keys.forEach((k, i) => {
    const v = values[i];
    const e = k.expr;
    if (v === null) {
      equalSoFar.push({ text: `${e.text} IS NULL`, params: e.params });
      return; // nothing sorts after NULL on this key (NULLS LAST)
    }
    const beyond = k.descending ? '<' : '>';
    ors.push({
      text: [...equalSoFar.map((q) => q.text), `(${e.text} ${beyond} ? OR ${e.text} IS NULL)`].join(' AND '),
      params: [...equalSoFar.flatMap((q) => q.params), ...e.params, v, ...e.params],
    });
    equalSoFar.push({ text: `${e.text} = ?`, params: [...e.params, v] });
  });
  ors.push({
    text: [...equalSoFar.map((q) => q.text), 'r.rid > ?'].join(' AND '),
    params: [...equalSoFar.flatMap((q) => q.params), rid],
  });
  return { text: ors.map((o) => `(${o.text})`).join(' OR '), params: ors.flatMap((o) => o.params) };
}

/** Runs a SearchQuery on the embedded store: one indexed query per page, plus includes. */
export function runSearch(db: Database.Database, index: IndexWriter, query: SearchQuery): SearchPage {
  const compiler = new SearchCompiler({ pid: (type, code) => index.existingPid(type, code) });
  const perType = query.types.map((type) => {
    const f = compiler.filters(type, query.filters, 'r');
    return { text: `r.type = ? AND (${f.text})`, params: [type, ...f.params] };
  });
  const where: Sql = {
    text: `r.deleted = 0 AND (${perType.map((p) => `(${p.text})`).join(' OR ')})`,
    params: perType.flatMap((p) => p.params),
  };
  const keys = query.sort.map((key) => {
    const byType = query.types.map((type) => ({
      type,
      expr: compiler.sortExpression(type, key, key.type ?? 'string', 'r'),
    }));
    const only = byType[0];
    const expr: Sql =
      byType.length === 1 && only
        ? only.expr
        : {
            text: `CASE r.type ${byType.map((b) => `WHEN ? THEN ${b.expr.text}`).join(' ')} END`,
            params: byType.flatMap((b) => [b.type, ...b.expr.params]),
          };
    return { expr, descending: key.descending };
  });

  const page: SearchPage = { matches: [], included: [] };
  if (query.total !== 'none') {
    const counted = db
      .prepare(`SELECT COUNT(*) AS n FROM resource_current r WHERE ${where.text}`)
      .get(...where.params) as { n: number };
    page.total = counted.n;
  }
  if (query.count === 0) return page;

  const conditions: Sql[] = [where];
  if (query.cursor !== undefined) conditions.push(after(keys, decodeCursor(query.cursor, keys.length)));
  const select = keys.map((k, i) => ({ text: `${k.expr.text} AS k${i}`, params: k.expr.params }));
  const order = keys.map((k) => `${k.expr.text} ${k.descending ? 'DESC' : 'ASC'} NULLS LAST`);
  const text =
    `SELECT r.rid, v.type, v.id, v.version, v.last_updated, v.deleted, v.body${select.map((s) => `, ${s.text}`).join('')} ` +
    'FROM resource_current r JOIN resource_version v ON v.seq = r.seq ' +
    `WHERE ${conditions.map((c) => `(${c.text})`).join(' AND ')} ` +
    `ORDER BY ${[...order, 'r.rid ASC'].join(', ')} LIMIT ?`;
  const params = [
    ...select.flatMap((s) => s.params),
    ...conditions.flatMap((c) => c.params),
    ...keys.flatMap((k) => k.expr.params),
    query.count + 1,
  ];
  const rows = db.prepare<unknown[], Row>(text).all(...params);
  const pageRows = rows.slice(0, query.count);
  page.matches = pageRows.map(toVersion);
  const last = pageRows[pageRows.length - 1];
  if (rows.length > query.count && last) {
    page.next = encodeCursor([...keys.map((_, i) => last[`k${i}`] ?? null), last.rid]);
  }
  page.included = includes(db, index, query, pageRows);
  return page;
}

/** _include and _revinclude (R4 search.html#include), following `:iterate` a few rounds. */
function includes(
  db: Database.Database,
  index: IndexWriter,
  query: SearchQuery,
  rows: Row[],
): StoredVersion[] {
  if (rows.length === 0 || (query.include.length === 0 && query.revinclude.length === 0)) return [];
  const seen = new Set(rows.map((r) => r.rid));
  const out: StoredVersion[] = [];
  let frontier = rows;
  for (let round = 0; frontier.length > 0 && round <= maxIterations; round++) {
    const found: Row[] = [];
    const add = (row: Row): void => {
      if (seen.has(row.rid) || out.length + found.length >= maxIncluded) return;
      seen.add(row.rid);
      found.push(row);
    };
    const applies = (spec: IncludeSpec): boolean => round === 0 || spec.iterate;
    for (const spec of query.include.filter(applies)) {
      const sources = frontier.filter((r) => r.type === spec.sourceType);
      if (sources.length === 0) continue;
      for (const row of forward(db, index, spec, sources)) add(row);
    }
    for (const spec of query.revinclude.filter(applies)) {
      for (const row of reverse(db, index, spec, frontier)) add(row);
    }
    out.push(...found.map(toVersion));
    frontier = found;
  }
  return out;
}

const currentOf =
  'SELECT r.rid, v.type, v.id, v.version, v.last_updated, v.deleted, v.body FROM resource_current r ' +
  'JOIN resource_version v ON v.seq = r.seq WHERE r.deleted = 0';

function forward(db: Database.Database, index: IndexWriter, spec: IncludeSpec, sources: Row[]): Row[] {
  const pids =
    spec.param === '*'
      ? (
          db.prepare('SELECT pid FROM search_param WHERE type = ?').all(spec.sourceType) as { pid: number }[]
        ).map((p) => p.pid)
      : [index.existingPid(spec.sourceType, spec.param)].filter((p): p is number => p !== undefined);
  if (pids.length === 0) return [];
  const rids = sources.map((s) => s.rid);
  const targetFilter = spec.targetType !== undefined ? ' AND ref.target_type = ?' : '';
  return db
    .prepare<unknown[], Row>(
      `${currentOf} AND (r.type, r.id) IN (SELECT ref.target_type, ref.target_id FROM idx_reference ref
        WHERE ref.rid IN (${rids.map(() => '?').join(', ')}) AND ref.pid IN (${pids.map(() => '?').join(', ')})${targetFilter})
       LIMIT ${maxIncluded}`,
    )
    .all(...rids, ...pids, ...(spec.targetType !== undefined ? [spec.targetType] : []));
}

function reverse(db: Database.Database, index: IndexWriter, spec: IncludeSpec, targets: Row[]): Row[] {
  const pids =
    spec.param === '*'
      ? (
          db.prepare('SELECT pid FROM search_param WHERE type = ?').all(spec.sourceType) as { pid: number }[]
        ).map((p) => p.pid)
      : [index.existingPid(spec.sourceType, spec.param)].filter((p): p is number => p !== undefined);
  if (pids.length === 0) return [];
  const keys = targets.flatMap((t) => [t.type, t.id]);
  return db
    .prepare<unknown[], Row>(
      `${currentOf} AND r.type = ? AND r.rid IN (SELECT ref.rid FROM idx_reference ref
        WHERE ref.pid IN (${pids.map(() => '?').join(', ')})
          AND (ref.target_type, ref.target_id) IN (VALUES ${targets.map(() => '(?, ?)').join(', ')}))
       LIMIT ${maxIncluded}`,
    )
    .all(spec.sourceType, ...pids, ...keys);
}
