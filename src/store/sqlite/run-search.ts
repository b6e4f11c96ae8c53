import type Database from 'better-sqlite3';
import { badRequest } from '../../errors.js';
import type { IncludeSpec, SearchQuery } from '../../search/types.js';
import type { SearchPage, StoredVersion } from '../store.js';
import {
  SearchCompiler,
  join,
  mergeDateRanges,
  rangeBounds,
  sql,
  type Plan,
  type Sql,
} from './compile-search.js';
import { always } from './sql-predicates.js';
import { longSpan } from './schema.js';
import type { IndexWriter } from './index-writer.js';
import { toVersion, type VersionColumns } from './rows.js';

interface Row extends VersionColumns {
  rid: number;
}

/** Most resources an _include / _revinclude may add to one page. */
const maxIncluded = 1000;
/** How many rounds `:iterate` follows. */
const maxIterations = 4;

/**
 * A page cursor: the sort values and rid of a row, and the side it pages to — after the row
 * (`next`, a plain array) or before it (`previous`, `{ "b": [...] }`).
 */
interface Cursor {
  values: unknown[];
  backward: boolean;
}

function encodeCursor(values: unknown[], backward = false): string {
  return Buffer.from(JSON.stringify(backward ? { b: values } : values)).toString('base64url');
}

function decodeCursor(cursor: string, keys: number): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    const backward = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
    const values = backward ? (parsed as { b?: unknown }).b : parsed;
    if (Array.isArray(values) && values.length === keys + 1 && typeof values[keys] === 'number')
      return { values, backward };
  } catch {
    // fall through
  }
  throw badRequest(
    '_cursor is not a paging cursor of this search; start again from the first page',
    '_cursor',
  );
}

/** The keys of the reverse order (for a page before a cursor): every direction flipped. */
const reversed = (keys: Key[]): Key[] => keys.map((k) => ({ ...k, descending: !k.descending }));

/**
 * Keyset condition "after this row" for ORDER BY k1, k2, …, rid with NULLS LAST, so a page
 * boundary stays put while other clients write (R4 search.html#paging leaves the method open).
 * `backward` reads the keys as the reverse order (directions already flipped by the caller)
 * with NULLS FIRST and rid descending: the rows before the cursor's row.
 */
function after(
  keys: { expr: Sql; descending: boolean }[],
  values: unknown[],
  ridColumn = 'r.rid',
  backward = false,
): Sql {
  const rid = values[keys.length] as number;
  const ors: Sql[] = [];
  const equalSoFar: Sql[] = [];
  const prefix = (): { text: string[]; params: unknown[] } => ({
    text: equalSoFar.map((q) => q.text),
    params: equalSoFar.flatMap((q) => q.params),
  });
  keys.forEach((k, i) => {
    const v = values[i];
    const e = k.expr;
    if (v === null) {
      if (backward) {
        // NULLS FIRST: every row with a value comes after a row without one
        const p = prefix();
        ors.push({
          text: [...p.text, `${e.text} IS NOT NULL`].join(' AND '),
          params: [...p.params, ...e.params],
        });
      }
      equalSoFar.push({ text: `${e.text} IS NULL`, params: e.params });
      return;
    }
    const beyond = k.descending ? '<' : '>';
    const p = prefix();
    ors.push(
      backward
        ? { text: [...p.text, `${e.text} ${beyond} ?`].join(' AND '), params: [...p.params, ...e.params, v] }
        : {
            text: [...p.text, `(${e.text} ${beyond} ? OR ${e.text} IS NULL)`].join(' AND '),
            params: [...p.params, ...e.params, v, ...e.params],
          },
    );
    equalSoFar.push({ text: `${e.text} = ?`, params: [...e.params, v] });
  });
  const p = prefix();
  ors.push({
    text: [...p.text, `${ridColumn} ${backward ? '<' : '>'} ?`].join(' AND '),
    params: [...p.params, rid],
  });
  return { text: ors.map((o) => `(${o.text})`).join(' OR '), params: ors.flatMap((o) => o.params) };
}

/** `_total=estimate` (the default) counts up to this many matches; beyond, the total is left out. */
const estimateLimit = 1000;

/** Above this many candidates, a sorted search walks the sort index instead of sorting them all. */
const sortInMemoryLimit = 2000;

interface Key {
  expr: Sql;
  descending: boolean;
}

const statementCaches = new WeakMap<Database.Database, Map<string, Database.Statement>>();
const maxStatements = 512;

/**
 * The database as searches use it, with prepared statements kept by SQL text: the same shapes
 * of query come back again and again (a conditional write's identifier search, once per entry),
 * and preparing costs more than running them. Searches only `get` and `all`, so a kept
 * statement is never busy when it is asked for again.
 */
function withStatementCache(db: Database.Database): Database.Database {
  let cache = statementCaches.get(db);
  if (!cache) {
    cache = new Map();
    statementCaches.set(db, cache);
  }
  const statements = cache;
  const prepare = (text: string): Database.Statement => {
    let statement = statements.get(text);
    if (!statement) {
      if (statements.size >= maxStatements) statements.delete(statements.keys().next().value ?? '');
      statement = db.prepare(text);
      statements.set(text, statement);
    }
    return statement;
  };
  return Object.create(db, { prepare: { value: prepare } }) as Database.Database;
}

/** Runs a SearchQuery on the embedded store: an index-driven page query, then includes. */
export function runSearch(raw: Database.Database, index: IndexWriter, query: SearchQuery): SearchPage {
  const db = withStatementCache(raw);
  if (query.types.length === 0)
    return { matches: [], included: [], ...(query.total === 'none' ? {} : { total: 0 }) };
  const compiler = new SearchCompiler({
    pid: (type, code) => index.existingPid(type, code),
    maxSpan: (pid) => index.maxSpan(pid),
    count: (inner, limit) =>
      (
        db.prepare(`SELECT COUNT(*) AS n FROM (${inner.text} LIMIT ${limit})`).get(...inner.params) as {
          n: number;
        }
      ).n,
  });
  const only = query.types.length === 1 ? query.types[0] : undefined;
  const plan: Plan =
    only !== undefined
      ? compiler.plan(only, query.filters)
      : {
          from: sql('resource_current r'),
          where: join(
            [
              sql('r.deleted = 0'),
              join(
                query.types.map((type) =>
                  join([sql('r.type = ?', type), compiler.conditions(type, query.filters, 'r')], ' AND '),
                ),
                ' OR ',
              ),
            ],
            ' AND ',
          ),
          mayRepeat: false,
          ridColumn: 'r.rid',
          walkable: false,
        };
  const keys: Key[] = query.sort.map((key) => {
    const byType = query.types.map((type) => ({ type, expr: compiler.sortExpression(type, key, 'r') }));
    const first = byType[0];
    const expr: Sql =
      byType.length === 1 && first
        ? first.expr
        : sql(
            `CASE r.type ${byType.map((b) => `WHEN ? THEN ${b.expr.text}`).join(' ')} END`,
            ...byType.flatMap((b) => [b.type, ...b.expr.params]),
          );
    return { expr, descending: key.descending };
  });

  const page: SearchPage = { matches: [], included: [] };
  // Candidates, counted once up to just past the in-memory sort limit: the estimate total and the
  // choice between sorting and walking both read it.
  let counted: number | undefined;
  const candidates = (): number => (counted ??= estimate(db, plan));
  if (query.total === 'estimate' && !compiler.costly) {
    // a bounded count: exact up to estimateLimit, no total beyond (Bundle.total is optional)
    const n = candidates();
    if (n <= estimateLimit) page.total = n;
  } else if (query.total === 'accurate') {
    const counted = db
      .prepare(
        `SELECT COUNT(${plan.mayRepeat ? 'DISTINCT r.rid' : '*'}) AS n FROM ${plan.from.text} WHERE ${plan.where.text}`,
      )
      .get(...plan.from.params, ...plan.where.params) as { n: number };
    page.total = counted.n;
  }
  if (query.count === 0) return page;
  const decoded = query.cursor === undefined ? undefined : decodeCursor(query.cursor, keys.length);
  const cursor = decoded?.values;
  const backward = decoded?.backward ?? false;
  // rows are read in walking order: the query's order, or its reverse for a page before the cursor
  const walking = backward ? reversed(keys) : keys;

  let rows: PageRow[];
  const firstKey = query.sort[0];
  const sortIndex = only !== undefined && firstKey ? compiler.sortIndex(only, firstKey) : undefined;
  if (
    sortIndex &&
    only !== undefined &&
    (compiler.costly || candidates() > sortInMemoryLimit) &&
    (cursor === undefined || cursor[0] !== null)
  ) {
    const bounds = walkBounds(index, query, sortIndex);
    rows = sortDriven(db, compiler, only, query, keys, sortIndex, cursor, bounds, backward);
    // then, forward, the resources that have no value for the sort key (NULLS LAST); backward
    // from a row with a value, none of them comes before it
    if (!backward && rows.length <= query.count) {
      rows.push(...generic(db, noValuePlan(plan, keys), keys, query.count + 1 - rows.length, undefined));
    }
  } else {
    rows =
      keys.length === 0 && only !== undefined && plan.walkable && candidates() > sortInMemoryLimit
        ? (walkType(db, compiler, only, query, cursor, backward) ??
          generic(db, plan, walking, query.count + 1, cursor, backward))
        : generic(db, plan, walking, query.count + 1, cursor, backward);
  }
  const more = rows.length > query.count;
  const pageRows = rows.slice(0, query.count);
  if (backward) pageRows.reverse();
  page.matches = bodies(
    db,
    pageRows.map((r) => r.rid),
  );
  const first = pageRows[0];
  const last = pageRows[pageRows.length - 1];
  // forward: a next page when more rows followed, a previous one when this page was not the first;
  // backward: the reverse
  if (last && (backward || more)) page.next = encodeCursor([...last.keys, last.rid]);
  if (first && (backward ? more : cursor !== undefined))
    page.previous = encodeCursor([...first.keys, first.rid], true);
  page.included = includes(
    db,
    index,
    query,
    page.matches,
    pageRows.map((r) => r.rid),
  );
  return page;
}

/** The bounds of a date range on the first sort key's own parameter, when it has both ends. */
function walkBounds(
  index: IndexWriter,
  query: SearchQuery,
  sortIndex: { table: string; pid: number },
): WalkBounds | undefined {
  const param = query.sort[0]?.param;
  if (sortIndex.table !== 'idx_date' || param === undefined) return undefined;
  for (const condition of mergeDateRanges(query.filters)) {
    if (!('dateRange' in condition) || condition.param !== param) continue;
    const { from, to } = rangeBounds(condition.values);
    if (from !== undefined && to !== undefined) return { from, to, span: index.maxSpan(sortIndex.pid) };
  }
  return undefined;
}

interface PageRow {
  rid: number;
  keys: unknown[];
}

/** How many resources an unsorted walk of a type reads at most before it gives up. */
const walkWindow = 20_000;

/**
 * Many candidates out of rid order would all be sorted for one page: walk the type in rid order
 * instead, every filter checked per resource, and stop once the page is full. The walk reads at
 * most walkWindow resources; when they hold too few matches (a sparse result in a large type)
 * it answers undefined and the caller sorts the candidates after all.
 */
function walkType(
  db: Database.Database,
  compiler: SearchCompiler,
  type: string,
  query: SearchQuery,
  cursor: unknown[] | undefined,
  backward = false,
): PageRow[] | undefined {
  const plan = compiler.plan(type, query.filters, 'r', true);
  const from = typeof cursor?.[0] === 'number' ? cursor[0] : backward ? Number.MAX_SAFE_INTEGER : 0;
  const side = backward ? 'rid < ? ORDER BY rid DESC' : 'rid > ? ORDER BY rid';
  const window: Plan = {
    ...plan,
    from: sql(
      `(SELECT * FROM resource_current INDEXED BY resource_current_type WHERE type = ? AND deleted = 0 AND ${side} ` +
        `LIMIT ${walkWindow}) r`,
      type,
      from,
    ),
  };
  const rows = generic(db, window, [], query.count + 1, undefined, backward);
  if (rows.length > query.count) return rows;
  const last = db
    .prepare<unknown[], { n: number }>(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM resource_current INDEXED BY resource_current_type WHERE type = ? AND deleted = 0 AND ${side} LIMIT ${walkWindow})`,
    )
    .get(type, from);
  // the window reached the end of the type: these are all the remaining matches
  return (last?.n ?? 0) < walkWindow ? rows : undefined;
}

/** The plan's resources that have no value for the first sort key. */
function noValuePlan(plan: Plan, keys: Key[]): Plan {
  const first = keys[0];
  return {
    ...plan,
    where: join(
      [plan.where, sql(`${first?.expr.text ?? '1'} IS NULL`, ...(first?.expr.params ?? []))],
      ' AND ',
    ),
  };
}

/** Matching resources counted up to just past the in-memory sort limit (each once). */
function estimate(db: Database.Database, plan: Plan): number {
  const row = db
    .prepare(
      `SELECT COUNT(*) AS n FROM (SELECT ${plan.mayRepeat ? 'DISTINCT ' : ''}r.rid FROM ${plan.from.text} WHERE ${plan.where.text} LIMIT ${sortInMemoryLimit + 1})`,
    )
    .get(...plan.from.params, ...plan.where.params) as { n: number };
  return row.n;
}

function readKeys(row: Record<string, unknown>, count: number): unknown[] {
  return Array.from({ length: count }, (_, i) => row[`k${i}`] ?? null);
}

/**
 * The plan's rows in key order (index order on rid when unsorted), from after the cursor; with
 * `backward`, `keys` are the reverse order and rows come NULLS FIRST, rid descending.
 */
function generic(
  db: Database.Database,
  plan: Plan,
  keys: Key[],
  limit: number,
  cursor: unknown[] | undefined,
  backward = false,
): PageRow[] {
  const conditions: Sql[] = [plan.where];
  if (cursor) conditions.push(after(keys, cursor, plan.ridColumn, backward));
  const where = join(conditions, ' AND ');
  const select = keys.map((k, i) => sql(`${k.expr.text} AS k${i}`, ...k.expr.params));
  const order = [
    ...keys.map((k, i) => `k${i} ${k.descending ? 'DESC' : 'ASC'} NULLS ${backward ? 'FIRST' : 'LAST'}`),
    `${plan.ridColumn} ${backward ? 'DESC' : 'ASC'}`,
  ];
  // No GROUP BY (it would sort every match): a resource met through several index rows comes
  // back in adjacent rows, which are merged here.
  const text =
    `SELECT ${plan.ridColumn} AS rid${select.map((s) => `, ${s.text}`).join('')} FROM ${plan.from.text} ` +
    `WHERE ${where.text} ORDER BY ${order.join(', ')} LIMIT ?`;
  const fetch = plan.mayRepeat ? limit * 2 + 10 : limit;
  const params = [...select.flatMap((s) => s.params), ...plan.from.params, ...where.params, fetch];
  const out: PageRow[] = [];
  let previous: number | undefined;
  for (const row of db.prepare<unknown[], Record<string, unknown>>(text).all(...params)) {
    const rid = row.rid as number;
    if (rid === previous) continue;
    previous = rid;
    out.push({ rid, keys: readKeys(row, keys.length) });
    if (out.length === limit) break;
  }
  return out;
}

/** A date range on the first sort key's parameter: the walk need only cover rows that can match. */
interface WalkBounds {
  from: number;
  to: number;
  /** The parameter's max_span: short rows within the range lie within these bounds widened by it. */
  span: number;
}

/** Orders page rows as ORDER BY k0…kn (each ASC or DESC, NULLS LAST), rid — or, backward, NULLS FIRST, rid descending. */
function compareRows(keys: Key[], backward = false): (a: PageRow, b: PageRow) => number {
  return (a, b) => {
    for (const [i, key] of keys.entries()) {
      const x = a.keys[i] as number | string | null;
      const y = b.keys[i] as number | string | null;
      if (x === y) continue;
      if (x === null) return backward ? -1 : 1;
      if (y === null) return backward ? 1 : -1;
      const order = x < y ? -1 : 1;
      return key.descending ? -order : order;
    }
    return backward ? b.rid - a.rid : a.rid - b.rid;
  };
}

/**
 * A large sorted result: walk the first sort key's index in order and keep the rows whose other
 * filters hold (each a lookup by rid), stopping once the page is full — instead of sorting every
 * candidate. A resource with several values is met once per value; only its extreme counts.
 * With a date range on the sort key, the walk covers only the range (short rows), and the long
 * rows (open Periods…) that overlap it are read from idx_date_long and merged in.
 */
function sortDriven(
  db: Database.Database,
  compiler: SearchCompiler,
  type: string,
  query: SearchQuery,
  keys: Key[],
  sortIndex: { table: string; column: string; pid: number },
  cursor: unknown[] | undefined,
  bounds?: WalkBounds,
  backward = false,
): PageRow[] {
  const first = keys[0];
  if (!first) return [];
  const { table, column, pid } = sortIndex;
  const forward: Key[] = [{ expr: sql(`s.${column}`), descending: first.descending }, ...keys.slice(1)];
  // a page before the cursor walks the same index the other way
  const driven = backward ? reversed(forward) : forward;
  const conditions: Sql[] = [
    sql(`r.deleted = 0`),
    sql(
      `s.${column} = (SELECT ${first.descending ? 'MAX' : 'MIN'}(${column}) FROM ${table} INDEXED BY ${table}_rid ` +
        'WHERE rid = s.rid AND pid = s.pid)',
    ),
    compiler.conditions(type, query.filters, 'r'),
  ];
  if (cursor) conditions.push(after(driven, cursor, 'r.rid', backward));
  const select = driven.map((k, i) => sql(`${k.expr.text} AS k${i}`, ...k.expr.params));
  const nulls = backward ? 'NULLS FIRST' : 'NULLS LAST';
  const order = [
    ...driven.map((k, i) => `k${i} ${k.descending ? 'DESC' : 'ASC'}${i > 0 ? ` ${nulls}` : ''}`),
    `r.rid ${backward ? 'DESC' : 'ASC'}`,
  ];
  const limit = query.count + 1;
  const walk = (source: string, range: Sql): Record<string, unknown>[] => {
    const where = join([range, ...conditions], ' AND ');
    const text =
      `SELECT r.rid AS rid${select.map((x) => `, ${x.text}`).join('')} FROM ${source} JOIN resource_current r ON r.rid = s.rid ` +
      `WHERE s.pid = ? AND ${where.text} ORDER BY ${order.join(', ')} LIMIT ?`;
    return db
      .prepare<unknown[], Record<string, unknown>>(text)
      .all(...select.flatMap((x) => x.params), pid, ...where.params, limit * 2);
  };
  let rows: Record<string, unknown>[];
  if (bounds && table === 'idx_date') {
    const short =
      column === 'high'
        ? sql('s.high >= ? AND s.high <= ?', bounds.from, bounds.to + bounds.span)
        : sql('s.low >= ? AND s.low <= ?', bounds.from - bounds.span, bounds.to);
    rows = [
      ...walk(`idx_date s INDEXED BY idx_date_${column}`, short),
      ...walk(
        'idx_date s INDEXED BY idx_date_long',
        sql(`s.high - s.low > ${longSpan} AND s.low <= ? AND s.high >= ?`, bounds.to, bounds.from),
      ),
    ];
  } else {
    rows = walk(`${table} s`, always);
  }
  const seen = new Set<number>();
  const out: PageRow[] = [];
  for (const row of rows) {
    const rid = row.rid as number;
    if (seen.has(rid)) continue;
    seen.add(rid);
    out.push({ rid, keys: readKeys(row, driven.length) });
  }
  return out.sort(compareRows(driven, backward)).slice(0, limit);
}

/** The current versions of the given rids, in that order. */
function bodies(db: Database.Database, rids: number[]): StoredVersion[] {
  if (rids.length === 0) return [];
  const rows = db
    .prepare<unknown[], Row>(
      'SELECT r.rid, v.type, v.id, v.version, v.last_updated, v.deleted, v.body, v.patient FROM resource_current r ' +
        `JOIN resource_version v ON v.seq = r.seq WHERE r.rid IN (${rids.map(() => '?').join(', ')})`,
    )
    .all(...rids);
  const byRid = new Map(rows.map((r) => [r.rid, r]));
  return rids.flatMap((rid) => {
    const row = byRid.get(rid);
    return row ? [toVersion(row)] : [];
  });
}

/** _include and _revinclude (R4 search.html#include), following `:iterate` a few rounds. */
function includes(
  db: Database.Database,
  index: IndexWriter,
  query: SearchQuery,
  matches: StoredVersion[],
  rids: number[],
): StoredVersion[] {
  if (matches.length === 0 || (query.include.length === 0 && query.revinclude.length === 0)) return [];
  const rows: Row[] = matches.map((m, k) => ({
    rid: rids[k] ?? -1,
    type: m.type,
    id: m.id,
    version: m.versionId,
    last_updated: m.lastUpdated,
    deleted: 0,
    body: null,
  }));
  const seen = new Set(rids);
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
  'SELECT r.rid, v.type, v.id, v.version, v.last_updated, v.deleted, v.body, v.patient FROM resource_current r ' +
  'JOIN resource_version v ON v.seq = r.seq WHERE r.deleted = 0';

/** The pids an include follows: its reference parameter, or every parameter of the type for `*`. */
function includePids(db: Database.Database, index: IndexWriter, spec: IncludeSpec): number[] {
  if (spec.param !== '*') {
    const pid = index.existingPid(spec.sourceType, spec.param);
    return pid === undefined ? [] : [pid];
  }
  const rows = db
    .prepare<[string], { pid: number }>('SELECT pid FROM search_param WHERE type = ?')
    .all(spec.sourceType);
  return rows.map((p) => p.pid);
}

function forward(db: Database.Database, index: IndexWriter, spec: IncludeSpec, sources: Row[]): Row[] {
  const pids = includePids(db, index, spec);
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
  const pids = includePids(db, index, spec);
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
