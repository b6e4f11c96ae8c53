import { notSupported } from '../../errors.js';
import { normalizeString } from '../../search/normalize.js';
import type {
  CompartmentFilter,
  Filter,
  FilterValue,
  HasFilter,
  QueryFilter,
  SortKey,
} from '../../search/types.js';
import {
  always,
  clamp,
  faceted,
  facetedFilter,
  join,
  never,
  prefixEnd,
  rangePredicate,
  sql,
  tableOf,
  valuePredicate,
  type Sql,
} from './sql-predicates.js';
import { longSpan } from './schema.js';

export { join, sql, type Sql } from './sql-predicates.js';

type DateValue = Extract<FilterValue, { kind: 'date' }>;

/**
 * Date filters on one parameter, AND-ed, matched against one value of the resource: so
 * `date=ge2021-03-01&date=lt2021-04-01` is a range that one date must fall in (the usual
 * reading of R4 search.html#date, and what makes the pair one bounded index scan).
 */
export interface DateRange {
  dateRange: true;
  param: string;
  values: DateValue[];
}

export type Condition = QueryFilter | DateRange;

function isPlainDate(f: QueryFilter): f is Filter & { values: [DateValue] } {
  if ('compartment' in f || 'sourceType' in f) return false;
  const [value, more] = f.values;
  return (
    f.type === 'date' &&
    f.modifier === undefined &&
    f.chain === undefined &&
    !f.param.startsWith('_') &&
    value?.kind === 'date' &&
    value.prefix !== 'ne' &&
    more === undefined
  );
}

/** Single-valued date filters grouped by parameter into DateRanges; the rest unchanged. */
export function mergeDateRanges(filters: QueryFilter[]): Condition[] {
  const ranges = new Map<string, DateRange>();
  const out: Condition[] = [];
  for (const f of filters) {
    if (!isPlainDate(f)) {
      out.push(f);
      continue;
    }
    const range = ranges.get(f.param);
    if (range) {
      range.values.push(f.values[0]);
      continue;
    }
    const created: DateRange = { dateRange: true, param: f.param, values: [f.values[0]] };
    ranges.set(f.param, created);
    out.push(created);
  }
  return out;
}

/**
 * The instants a matching row must reach: `from` (its high end is at least this) and `to` (its
 * low end is at most this), from the prefixes' predicates in rangePredicate.
 */
export function rangeBounds(values: DateValue[]): { from?: number; to?: number } {
  let from: number | undefined;
  let to: number | undefined;
  const atLeast = (n: number): void => {
    from = from === undefined ? n : Math.max(from, n);
  };
  const atMost = (n: number): void => {
    to = to === undefined ? n : Math.min(to, n);
  };
  for (const v of values) {
    const low = clamp(v.low);
    const high = clamp(v.high);
    switch (v.prefix) {
      case 'eq':
      case 'ap':
        atLeast(low);
        atMost(high);
        break;
      case 'gt':
      case 'sa':
        atLeast(high);
        break;
      case 'ge':
        atLeast(low);
        break;
      case 'lt':
      case 'eb':
        atMost(low);
        break;
      case 'le':
        atMost(high);
        break;
    }
  }
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}

/** What compiling needs to know about the database: the pid of a (type, parameter) pair. */
export interface CompileContext {
  pid(type: string, code: string): number | undefined;
  /** The longest span of a date parameter's short rows (see schema.ts search_param.max_span). */
  maxSpan(pid: number): number;
  /** How many rows a SELECT yields, counting no further than `limit`. */
  count(query: Sql, limit: number): number;
}

/**
 * A chain or _has whose inner query matches at most this many resources is answered from the
 * list of their ids (driving by index); a larger one is checked per candidate instead (a
 * correlated lookup), so a search stops as soon as its page is full.
 */
const smallInner = 2000;

/**
 * `x.rid` matching resource `r` in an index table: its own rows, or where shared entries may
 * match (sql-predicates.ts facetedFilter) also the rows of its facet set (schema.ts idx_facet).
 */
function ownRows(shared: boolean, x: string, r: string): string {
  return shared
    ? `${x}.rid IN (${r}.rid, (SELECT f.facet FROM idx_facet f WHERE f.rid = ${r}.rid))`
    : `${x}.rid = ${r}.rid`;
}

/** How a query's candidate rows are produced: a join from one filter's index, or the type scan. */
export interface Plan {
  /** FROM clause producing alias `r` (resource_current), possibly driven by an index alias. */
  from: Sql;
  /** Conditions on the rows (the other filters, as correlated lookups). */
  where: Sql;
  /** True when several index rows of one resource can match (the caller must GROUP BY r.rid). */
  mayRepeat: boolean;
  /**
   * The rid to order and page by: the driving index's own rid column when there is one, so that
   * an equality on (pid, value, rid) hands rows over in rid order and LIMIT stops early.
   */
  ridColumn: string;
  /**
   * True when, with many candidates, walking the type in rid order beats sorting them: the
   * driver hands rows over out of rid order (a range, a prefix, several values, a chain's list).
   * False for an equality on a (pid, value, rid) index (already in rid order, a page stops after
   * `_count` rows), a compartment (its members are few) and the type walk itself.
   */
  walkable: boolean;
}

/**
 * Compiles SearchQuery filters to SQL over resource_current and the index tables. One filter
 * drives (a range or equality on an index whose leading columns are (pid, value)); the others
 * are correlated EXISTS lookups on (rid, pid). No resource body is ever read.
 */
export class SearchCompiler {
  private aliases = 0;
  /**
   * True once a condition was compiled as a per-candidate lookup through other resources (a
   * broad chain or _has): counting every match is then as costly as the search itself.
   */
  costly = false;
  /** Inner sizes already measured for this query (a filter may be asked about twice). */
  private readonly small = new WeakMap<object, boolean>();

  constructor(private readonly ctx: CompileContext) {}

  private alias(prefix: string): string {
    return `${prefix}${++this.aliases}`;
  }

  /** The rows of `type` matching all filters, as alias `r`. */
  plan(type: string, queryFilters: QueryFilter[], r = 'r', walk = false): Plan {
    const filters = mergeDateRanges(queryFilters);
    const driverIndex = walk ? -1 : this.pickDriver(filters);
    const rest = filters.filter((_, i) => i !== driverIndex);
    // With a _has filter and no driver, the (type, id) key should drive from its id list; the
    // unary + keeps SQLite from walking the whole type through (type, deleted) instead.
    // Full-text matches likewise should drive by rid from the FTS index.
    const hasHas = !walk && driverIndex < 0 && filters.some((f) => 'sourceType' in f && this.smallHas(f));
    const hasText =
      !walk &&
      driverIndex < 0 &&
      filters.some((f) => 'param' in f && (f.param === '_text' || f.param === '_content'));
    const deleted = hasHas || hasText ? `+${r}.deleted` : `${r}.deleted`;
    const where = join([sql(`${deleted} = 0`), ...rest.map((f) => this.condition(type, f, r))], ' AND ');
    const chosen = filters[driverIndex];
    if (chosen && 'dateRange' in chosen) {
      const d = this.alias('d');
      const pid = this.ctx.pid(type, chosen.param);
      const branches = pid === undefined ? never : this.dateRangeScan(chosen, d, pid);
      return {
        from: sql(
          `idx_date ${d} JOIN resource_current ${r} ON ${r}.rid = ${d}.rid AND (${branches.text})`,
          ...branches.params,
        ),
        where,
        mayRepeat: true,
        ridColumn: `${d}.rid`,
        walkable: true,
      };
    }
    if (chosen && 'compartment' in chosen) {
      const d = this.alias('d');
      const c = this.compartment(type, chosen, d);
      return {
        from: sql(
          `idx_reference ${d} JOIN resource_current ${r} ON ${r}.rid = ${d}.rid AND ${c.text}`,
          ...c.params,
        ),
        where,
        mayRepeat: true,
        ridColumn: `${d}.rid`,
        walkable: false,
      };
    }
    const driver = chosen as Filter | undefined;
    if (driver?.type === 'composite') {
      const value = driver.values[0];
      const joined =
        value?.kind === 'composite' ? this.componentJoin(type, driver.param, value.components, r) : undefined;
      // a component never indexed: nothing can match
      return joined
        ? { from: joined, where, mayRepeat: true, ridColumn: `${r}.rid`, walkable: true }
        : {
            from: sql(`resource_current ${r}`),
            where: never,
            mayRepeat: false,
            ridColumn: `${r}.rid`,
            walkable: false,
          };
    }
    if (driver) {
      const table = this.tableFor(driver);
      const d = this.alias('d');
      const pid = this.ctx.pid(type, driver.param);
      // each value its own branch with the pid beside it, so every branch can use the index
      const branches =
        pid === undefined
          ? never
          : join(
              this.branches(driver, d).map((b) => join([sql(`${d}.pid = ?`, pid), b], ' AND ')),
              ' OR ',
            );
      if (facetedFilter(type, driver)) {
        // the rows found are those of facet sets (each shared by many resources) or, indexed
        // before facets, of a resource itself
        const f = this.alias('f');
        return {
          from: sql(
            `${table} ${d} LEFT JOIN idx_facet ${f} ON ${f}.facet = ${d}.rid ` +
              `JOIN resource_current ${r} ON ${r}.rid = COALESCE(${f}.rid, ${d}.rid) AND (${branches.text})`,
            ...branches.params,
          ),
          where,
          mayRepeat: true,
          ridColumn: `${r}.rid`,
          walkable: true,
        };
      }
      return {
        from: sql(
          `${table} ${d} JOIN resource_current ${r} ON ${r}.rid = ${d}.rid AND (${branches.text})`,
          ...branches.params,
        ),
        where,
        mayRepeat: true,
        ridColumn: `${d}.rid`,
        walkable: !this.ridOrderedDriver(driver),
      };
    }
    return {
      from: sql(`resource_current ${r}`),
      where: join([sql(`${hasText && !hasHas ? '+' : ''}${r}.type = ?`, type), where], ' AND '),
      mayRepeat: false,
      ridColumn: `${r}.rid`,
      walkable: false,
    };
  }

  /** One equality on an index whose columns end in rid: its rows come in rid order. */
  private ridOrderedDriver(f: Filter): boolean {
    const [value, more] = f.values;
    if (more !== undefined || f.chain !== undefined || f.modifier !== undefined || value === undefined)
      return false;
    if (f.type === 'token') return value.kind === 'token' && value.code !== undefined;
    if (f.type === 'reference')
      return value.kind === 'reference' && value.url === undefined && value.targetId !== undefined;
    return f.type === 'uri';
  }

  /** `SELECT <column> FROM …` of the rows matching, for use inside IN (…). */
  private matching(type: string, filters: QueryFilter[], column: 'id' | 'rid'): Sql {
    const r = this.alias('m');
    const p = this.plan(type, filters, r);
    return sql(
      `SELECT ${r}.${column} FROM ${p.from.text} WHERE ${p.where.text}`,
      ...p.from.params,
      ...p.where.params,
    );
  }

  /**
   * The filter whose index produces the fewest candidates, by the shape of its predicate:
   * equality on a token, reference or uri first, then string prefixes, then ranges.
   */
  private pickDriver(filters: Condition[]): number {
    const rank = (f: Condition): number => {
      if ('dateRange' in f) return 3;
      if ('compartment' in f) return 6;
      if ('sourceType' in f) return 0;
      if (f.type === 'composite') return f.values.length === 1 && f.modifier === undefined ? 5 : 0;
      if (!this.drivable(f)) return 0;
      if (f.chain) return this.smallChain(f) ? 2 : 0;
      switch (f.type) {
        case 'token':
        case 'reference':
        case 'uri':
          return 5;
        case 'string':
          return 4;
        default:
          return 3;
      }
    };
    let best = -1;
    let bestRank = 0;
    filters.forEach((f, i) => {
      const r = rank(f);
      if (r > bestRank) {
        best = i;
        bestRank = r;
      }
    });
    return best;
  }

  /** A filter can drive when it is a positive match on an index table. */
  private drivable(f: Filter): boolean {
    return (
      tableOf[f.type] !== undefined &&
      f.param !== '_id' &&
      f.param !== '_lastUpdated' &&
      f.modifier !== 'missing' &&
      f.modifier !== 'not' &&
      f.modifier !== 'contains' &&
      f.modifier !== 'text' &&
      f.modifier !== 'above'
    );
  }

  /** Every filter as one condition on alias `r` (date filters on one parameter as a range). */
  conditions(type: string, filters: QueryFilter[], r: string): Sql {
    return join(
      mergeDateRanges(filters).map((f) => this.condition(type, f, r)),
      ' AND ',
    );
  }

  /**
   * The rows of a DateRange on alias `d`: the short rows by a scan of (pid, low) bounded by the
   * parameter's max_span, the long ones from idx_date_long, when both ends are known; otherwise
   * one half-open scan.
   */
  private dateRangeScan(range: DateRange, d: string, pid: number): Sql {
    const all = join(
      range.values.map((v) => rangePredicate(v.prefix, `${d}.low`, `${d}.high`, clamp(v.low), clamp(v.high))),
      ' AND ',
    );
    const { from, to } = rangeBounds(range.values);
    if (from === undefined || to === undefined) return join([sql(`${d}.pid = ?`, pid), all], ' AND ');
    return join(
      [
        join(
          [sql(`${d}.pid = ? AND ${d}.low >= ? AND ${d}.low <= ?`, pid, from - longSpan, to), all],
          ' AND ',
        ),
        // the literal must match idx_date_long's WHERE for SQLite to use that partial index
        join(
          [sql(`${d}.pid = ? AND ${d}.high - ${d}.low > ${longSpan} AND ${d}.low <= ?`, pid, to), all],
          ' AND ',
        ),
      ],
      ' OR ',
    );
  }

  /** A filter as a condition on alias `r`. */
  condition(type: string, f: Condition, r: string): Sql {
    if ('dateRange' in f) {
      const pid = this.ctx.pid(type, f.param);
      if (pid === undefined) return never;
      const x = this.alias('x');
      const all = join(
        f.values.map((v) => rangePredicate(v.prefix, `${x}.low`, `${x}.high`, clamp(v.low), clamp(v.high))),
        ' AND ',
      );
      return sql(
        `EXISTS (SELECT 1 FROM idx_date ${x} INDEXED BY idx_date_rid WHERE ${x}.rid = ${r}.rid AND ${x}.pid = ? AND (${all.text}))`,
        pid,
        ...all.params,
      );
    }
    if ('compartment' in f) {
      const x = this.alias('x');
      const c = this.compartment(type, f, x);
      return sql(
        `EXISTS (SELECT 1 FROM idx_reference ${x} INDEXED BY idx_reference_rid WHERE ${x}.rid = ${r}.rid AND ${c.text})`,
        ...c.params,
      );
    }
    if ('sourceType' in f) return this.has(type, f, r);
    if (f.type === 'composite') return this.composite(type, f, r);
    if (f.param === '_text' || f.param === '_content') return this.fullText(f, r);
    if (f.param === '_id') return this.idFilter(f, r);
    if (f.param === '_lastUpdated') return this.lastUpdatedFilter(f, r);
    if (f.chain && f.modifier !== 'missing') return this.chainCondition(type, f, r);
    const table = this.tableFor(f);
    const pid = this.ctx.pid(type, f.param);
    const x = this.alias('x');
    if (f.modifier === 'missing') {
      const missing = f.values.some((v) => v.kind === 'missing' && v.missing);
      if (pid === undefined) return missing ? always : never;
      return sql(
        `${missing ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} ${x} INDEXED BY ${table}_rid WHERE ${ownRows(facetedFilter(type, f), x, r)} AND ${x}.pid = ?)`,
        pid,
      );
    }
    if (pid === undefined) return f.modifier === 'not' ? always : never;
    const values = this.values(f, x);
    // R4 search.html#modifiers: :not also matches resources that have no value at all
    return sql(
      `${f.modifier === 'not' ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} ${x} INDEXED BY ${table}_rid ` +
        `WHERE ${ownRows(facetedFilter(type, f), x, r)} AND ${x}.pid = ? AND (${values.text}))`,
      pid,
      ...values.params,
    );
  }

  /** The index table of a filter; 400 for what the engine does not answer yet. */
  private tableFor(f: Filter): string {
    const table = tableOf[f.type];
    if (!table) throw notSupported(`Search by ${f.type} parameters is not supported yet`, f.param);
    const unsupported =
      f.type === 'uri' ? ['in', 'not-in', 'of-type'] : ['in', 'not-in', 'above', 'below', 'of-type'];
    if (f.modifier !== undefined && unsupported.includes(f.modifier)) {
      throw notSupported(
        `The :${f.modifier} modifier is not supported yet on ${f.param}`,
        `${f.param}:${f.modifier}`,
      );
    }
    return table;
  }

  /** One predicate per value (per target type for a chain), to be OR-ed. */
  private branches(f: Filter, x: string): Sql[] {
    if (f.chain) return this.chainBranches(f.chain.targetTypes, f.chain.query, x);
    return f.values.map((v) => this.value(f, v, x));
  }

  private chainBranches(targetTypes: string[], query: Filter, x: string): Sql[] {
    return targetTypes.map((targetType) => {
      const ids = this.matching(targetType, [query], 'id');
      return sql(`${x}.target_type = ? AND ${x}.target_id IN (${ids.text})`, targetType, ...ids.params);
    });
  }

  private values(f: Filter, x: string): Sql {
    return join(
      f.values.map((v) => this.value(f, v, x)),
      ' OR ',
    );
  }

  private idFilter(f: Filter, r: string): Sql {
    const ids = f.values.flatMap((v) => (v.kind === 'token' && v.code !== undefined ? [v.code] : []));
    if (ids.length === 0) return never;
    return sql(`${r}.id ${f.modifier === 'not' ? 'NOT ' : ''}IN (${ids.map(() => '?').join(', ')})`, ...ids);
  }

  private lastUpdatedFilter(f: Filter, r: string): Sql {
    const column = `${r}.last_updated_ms`;
    return join(
      f.values.map((v) => {
        if (v.kind !== 'date') throw notSupported('_lastUpdated takes dates', '_lastUpdated');
        return rangePredicate(v.prefix, column, column, v.low, v.high);
      }),
      ' OR ',
    );
  }

  private value(f: Filter, v: FilterValue, x: string): Sql {
    switch (v.kind) {
      case 'token':
        return this.token(f, v, x);
      case 'string': {
        const value = normalizeString(v.value);
        if (f.modifier === 'exact') return sql(`${x}.exact = ?`, v.value);
        if (f.modifier === 'contains') return sql(`instr(${x}.normalized, ?) > 0`, value);
        return sql(`${x}.normalized >= ? AND ${x}.normalized < ?`, value, prefixEnd(value));
      }
      case 'date':
        return rangePredicate(v.prefix, `${x}.low`, `${x}.high`, clamp(v.low), clamp(v.high));
      case 'number':
        return valuePredicate(v.prefix, `${x}.value`, v.value, v.low, v.high);
      case 'quantity': {
        if (v.canonical) {
          // comparable across units: 5.4 mmol/L and 0.0054 mol/L meet in base units
          const c = v.canonical;
          return join(
            [
              valuePredicate(v.prefix, `${x}.canonical_value`, c.value, c.low, c.high),
              sql(`${x}.canonical_code = ?`, c.code),
            ],
            ' AND ',
          );
        }
        const parts: Sql[] = [valuePredicate(v.prefix, `${x}.value`, v.value, v.low, v.high)];
        if (v.code !== undefined) parts.push(sql(`${x}.code = ?`, v.code));
        if (v.system !== undefined) parts.push(sql(`${x}.system = ?`, v.system));
        return join(parts, ' AND ');
      }
      case 'reference':
        return this.reference(f, v, x);
      case 'uri':
        if (f.modifier === 'below')
          return sql(`${x}.value >= ? AND ${x}.value < ?`, v.value, prefixEnd(v.value));
        if (f.modifier === 'above') return sql(`instr(?, ${x}.value) = 1`, v.value);
        return sql(`${x}.value = ?`, v.value);
      default:
        throw notSupported(`This kind of value is not supported for ${f.param} yet`, f.param);
    }
  }

  private token(f: Filter, v: Extract<FilterValue, { kind: 'token' }>, x: string): Sql {
    if (f.modifier === 'text') return sql(`instr(${x}.text, ?) > 0`, normalizeString(v.text ?? v.code ?? ''));
    if (f.modifier !== undefined && f.modifier !== 'not') {
      throw notSupported(`The :${f.modifier} modifier is not supported yet`, `${f.param}:${f.modifier}`);
    }
    const parts: Sql[] = [];
    if (v.code !== undefined) parts.push(sql(`${x}.code = ?`, v.code));
    // with a code, the code index drives; the unary + keeps SQLite from choosing the system index
    const system = v.code !== undefined ? `+${x}.system` : `${x}.system`;
    if (v.system === null) parts.push(sql(`${system} IS NULL`));
    else if (v.system !== undefined) parts.push(sql(`${system} = ?`, v.system));
    return parts.length ? join(parts, ' AND ') : always;
  }

  private reference(f: Filter, v: Extract<FilterValue, { kind: 'reference' }>, x: string): Sql {
    if (f.modifier === 'identifier') {
      const parts = [sql(`${x}.identifier_value = ?`, v.identifierValue ?? '')];
      if (v.identifierSystem !== undefined) parts.push(sql(`${x}.identifier_system = ?`, v.identifierSystem));
      return join(parts, ' AND ');
    }
    if (f.chain) return join(this.chainBranches(f.chain.targetTypes, f.chain.query, x), ' OR ');
    if (v.url !== undefined) {
      const parts = [sql(`${x}.url = ?`, v.url)];
      if (v.version !== undefined) parts.push(sql(`${x}.version = ?`, v.version));
      return join(parts, ' AND ');
    }
    const parts: Sql[] = [sql(`${x}.target_id = ?`, v.targetId ?? '')];
    const targetType = v.targetType ?? f.targetType;
    if (targetType !== undefined) parts.push(sql(`${x}.target_type = ?`, targetType));
    return join(parts, ' AND ');
  }

  /**
   * The components of one composite combination as a join of their index rows, bound together by
   * rid and grp and driving `r`; undefined when a component was never indexed.
   */
  private componentJoin(type: string, param: string, components: FilterValue[], r: string): Sql | undefined {
    const rows: { table: string; pid: number; alias: string; predicate: Sql }[] = [];
    for (const [i, component] of components.entries()) {
      const kind = component.kind as Filter['type'];
      const table = tableOf[kind];
      const pid = this.ctx.pid(type, `${param}#${i}`);
      if (!table || pid === undefined) return undefined;
      const alias = this.alias('c');
      rows.push({
        table,
        pid,
        alias,
        predicate: this.value({ param, type: kind, values: [] }, component, alias),
      });
    }
    const [head, ...rest] = rows;
    if (!head) return undefined;
    const joins = rest.map((c) =>
      sql(
        `JOIN ${c.table} ${c.alias} ON ${c.alias}.rid = ${head.alias}.rid AND ${c.alias}.grp = ${head.alias}.grp ` +
          `AND ${c.alias}.pid = ? AND (${c.predicate.text})`,
        c.pid,
        ...c.predicate.params,
      ),
    );
    return sql(
      `${head.table} ${head.alias} ${joins.map((j) => j.text).join(' ')} ` +
        `JOIN resource_current ${r} ON ${r}.rid = ${head.alias}.rid AND ${head.alias}.pid = ? AND (${head.predicate.text})`,
      ...joins.flatMap((j) => j.params),
      head.pid,
      ...head.predicate.params,
    );
  }

  /**
   * `_text` / `_content` against the FTS5 table: every word of a value must occur (quoted, so
   * the client's text is never read as FTS syntax); commas OR the values.
   */
  private fullText(f: Filter, r: string): Sql {
    const column = f.param === '_text' ? 'narrative' : 'content';
    const match = f.values
      .map((v) => (v.kind === 'text' ? v.value : ''))
      .map((value) => {
        const words = value.match(/[\p{L}\p{N}]+/gu) ?? [];
        return `(${words.map((w) => `"${w}"`).join(' AND ')})`;
      })
      .join(' OR ');
    return sql(
      `${r}.rid IN (SELECT rowid FROM fts_resource WHERE fts_resource MATCH ?)`,
      `${column} : (${match})`,
    );
  }

  /** A composite filter as a condition: some combination of the resource matches every component. */
  private composite(type: string, f: Filter, r: string): Sql {
    return join(
      f.values.map((v) => {
        if (v.kind !== 'composite') throw notSupported(`${f.param} takes composite values`, f.param);
        const cr = this.alias('cr');
        const joined = this.componentJoin(type, f.param, v.components, cr);
        if (!joined) return never;
        return sql(`EXISTS (SELECT 1 FROM ${joined.text} WHERE ${cr}.rid = ${r}.rid)`, ...joined.params);
      }),
      ' OR ',
    );
  }

  /** References from any of the compartment's parameters to compartment/id, on alias `x`. */
  private compartment(type: string, f: CompartmentFilter, x: string): Sql {
    const pids = f.params.map((p) => this.ctx.pid(type, p)).filter((p): p is number => p !== undefined);
    if (pids.length === 0) return never;
    return sql(
      `${x}.pid IN (${pids.map(() => '?').join(', ')}) AND ${x}.target_id = ? AND ${x}.target_type = ?`,
      ...pids,
      f.id,
      f.compartment,
    );
  }

  /** True when every target type of a chain matches few enough resources to list their ids. */
  private smallChain(f: Filter): boolean {
    const known = this.small.get(f);
    if (known !== undefined) return known;
    const chain = f.chain;
    // a deeper chain's middle level is only cheap to count when its own inner list is small
    let small = chain !== undefined && (chain.query.chain === undefined || this.smallChain(chain.query));
    let total = 0;
    for (const targetType of small && chain ? chain.targetTypes : []) {
      total += this.ctx.count(this.matching(targetType, [chain?.query as Filter], 'id'), smallInner + 1);
      if (total > smallInner) {
        small = false;
        break;
      }
    }
    this.small.set(f, small);
    return small;
  }

  /** True when the resources a _has filter starts from are few enough to list. */
  private smallHas(h: HasFilter): boolean {
    const known = this.small.get(h);
    if (known !== undefined) return known;
    const small =
      this.ctx.count(this.matching(h.sourceType, [h.filter], 'rid'), smallInner + 1) <= smallInner;
    this.small.set(h, small);
    return small;
  }

  /**
   * A chain checked per candidate: some reference of the parameter points at a current resource
   * of a target type that matches the chained query (itself compiled on that resource).
   */
  private chainCondition(type: string, f: Filter, r: string): Sql {
    const chain = f.chain;
    const pid = this.ctx.pid(type, f.param);
    if (!chain || pid === undefined) return never;
    this.costly = true;
    const x = this.alias('x');
    const branches = chain.targetTypes.map((targetType) => {
      const t = this.alias('t');
      const inner = this.conditions(targetType, [chain.query], t);
      return sql(
        `${x}.target_type = ? AND EXISTS (SELECT 1 FROM resource_current ${t} WHERE ${t}.type = ? AND ${t}.id = ${x}.target_id ` +
          `AND ${t}.deleted = 0 AND (${inner.text}))`,
        targetType,
        targetType,
        ...inner.params,
      );
    });
    const any = join(branches, ' OR ');
    return sql(
      `EXISTS (SELECT 1 FROM idx_reference ${x} INDEXED BY idx_reference_rid WHERE ${x}.rid = ${r}.rid AND ${x}.pid = ? AND (${any.text}))`,
      pid,
      ...any.params,
    );
  }

  /**
   * `_has:Observation:subject:code=X`: resources that a matching Observation refers to by subject.
   * From the list of the sources' targets when the sources are few; otherwise checked per
   * candidate, through the references that point at it.
   */
  private has(type: string, h: HasFilter, r: string): Sql {
    const pid = this.ctx.pid(h.sourceType, h.referenceParam);
    if (pid === undefined) return never;
    if (!this.smallHas(h)) {
      this.costly = true;
      const ref = this.alias('ref');
      const src = this.alias('src');
      const inner = this.conditions(h.sourceType, [h.filter], src);
      return sql(
        `EXISTS (SELECT 1 FROM idx_reference ${ref} INDEXED BY idx_reference_inbound WHERE ${ref}.target_id = ${r}.id ` +
          `AND ${ref}.target_type = ? AND ${ref}.pid = ? AND EXISTS (SELECT 1 FROM resource_current ${src} ` +
          `WHERE ${src}.rid = ${ref}.rid AND ${src}.deleted = 0 AND (${inner.text})))`,
        type,
        pid,
        ...inner.params,
      );
    }
    const sources = this.matching(h.sourceType, [h.filter], 'rid');
    const ref = this.alias('ref');
    return sql(
      `${r}.id IN (SELECT ${ref}.target_id FROM idx_reference ${ref} WHERE ${ref}.pid = ? AND ${ref}.target_type = ? AND ${ref}.rid IN (${sources.text}))`,
      pid,
      type,
      ...sources.params,
    );
  }

  /** The value a sort key orders by for alias `r` (NULL when the resource has none). */
  sortExpression(type: string, key: SortKey, r: string): Sql {
    if (key.param === '_id') return sql(`${r}.id`);
    if (key.param === '_lastUpdated') return sql(`${r}.last_updated_ms`);
    const pid = this.ctx.pid(type, key.param);
    if (pid === undefined) return sql('NULL');
    const column = sortColumn(key);
    const table = tableOf[key.type ?? 'string'];
    if (!column || !table) throw notSupported(`Sorting by ${key.param} is not supported`, '_sort');
    const s = this.alias('s');
    return sql(
      `(SELECT ${key.descending ? 'MAX' : 'MIN'}(${s}.${column}) FROM ${table} ${s} INDEXED BY ${table}_rid ` +
        `WHERE ${ownRows(faceted(type, key.type ?? 'string'), s, r)} AND ${s}.pid = ?)`,
      pid,
    );
  }

  /** The index table and pid a sort key can be read from in order, when it has one. */
  sortIndex(type: string, key: SortKey): { table: string; column: string; pid: number } | undefined {
    const column = sortColumn(key);
    const table = tableOf[key.type ?? 'string'];
    const pid = this.ctx.pid(type, key.param);
    if (!column || !table || pid === undefined || key.param.startsWith('_')) return undefined;
    // a facet's rows stand for many resources: such a key is sorted on, not walked in order
    if (faceted(type, key.type ?? 'string')) return undefined;
    return { table, column, pid };
  }
}

/** The column a sort key orders by: the date's high end descending, its low end ascending. */
function sortColumn(key: SortKey): string | undefined {
  switch (key.type ?? 'string') {
    case 'date':
      return key.descending ? 'high' : 'low';
    case 'string':
      return 'normalized';
    case 'token':
      return 'code';
    case 'number':
    case 'quantity':
      return 'value';
    case 'reference':
      return 'target_id';
    case 'uri':
      return 'value';
    default:
      return undefined;
  }
}
