import { notSupported } from '../../errors.js';
import { normalizeString } from '../../search/normalize.js';
import type { Filter, FilterValue, HasFilter, SearchQuery, SortKey } from '../../search/types.js';
import { maxInstant, minInstant } from './index-writer.js';

/** What compiling needs to know about the database: the pid of a (type, parameter) pair. */
export interface CompileContext {
  pid(type: string, code: string): number | undefined;
}

/** SQL with its positional parameters. */
export interface Sql {
  text: string;
  params: unknown[];
}

const sql = (text: string, ...params: unknown[]): Sql => ({ text, params });
const join = (parts: Sql[], separator: string): Sql => ({
  text: parts.map((p) => `(${p.text})`).join(separator),
  params: parts.flatMap((p) => p.params),
});
const never: Sql = sql('0');
const always: Sql = sql('1');

/** The index table of each parameter type. */
const tableOf: Partial<Record<Filter['type'], string>> = {
  token: 'idx_token',
  string: 'idx_string',
  date: 'idx_date',
  number: 'idx_number',
  quantity: 'idx_quantity',
  reference: 'idx_reference',
  uri: 'idx_uri',
};

/** Upper bound for a prefix range on a TEXT column (U+10FFFF sorts after every other character). */
const prefixEnd = (prefix: string): string => `${prefix}\u{10FFFF}`;

/** Date comparison of an entry [low, high] against a search value [vlow, vhigh] (R4 search.html#prefix). */
function rangePredicate(prefix: string, low: string, high: string, vlow: number, vhigh: number): Sql {
  switch (prefix) {
    case 'eq':
      return sql(`${low} >= ? AND ${high} <= ?`, vlow, vhigh);
    case 'ne':
      return sql(`${low} < ? OR ${high} > ?`, vlow, vhigh);
    case 'gt':
      return sql(`${high} > ?`, vhigh);
    case 'lt':
      return sql(`${low} < ?`, vlow);
    case 'ge':
      return sql(`${high} > ? OR (${low} >= ? AND ${high} <= ?)`, vhigh, vlow, vhigh);
    case 'le':
      return sql(`${low} < ? OR (${low} >= ? AND ${high} <= ?)`, vlow, vlow, vhigh);
    case 'sa':
      return sql(`${low} > ?`, vhigh);
    case 'eb':
      return sql(`${high} < ?`, vlow);
    default: // ap: the parser widened the value; any overlap matches
      return sql(`${low} <= ? AND ${high} >= ?`, vhigh, vlow);
  }
}

/** Number and quantity comparison of a stored value against a search value with its precision. */
function valuePredicate(prefix: string, column: string, value: number, low: number, high: number): Sql {
  switch (prefix) {
    case 'eq':
      return sql(`${column} >= ? AND ${column} < ?`, low, high);
    case 'ne':
      return sql(`${column} < ? OR ${column} >= ?`, low, high);
    case 'gt':
    case 'sa':
      return sql(`${column} > ?`, value);
    case 'lt':
    case 'eb':
      return sql(`${column} < ?`, value);
    case 'ge':
      return sql(`${column} >= ?`, value);
    case 'le':
      return sql(`${column} <= ?`, value);
    default:
      return sql(`${column} >= ? AND ${column} <= ?`, low, high);
  }
}

function clamp(ms: number): number {
  return Math.max(minInstant, Math.min(maxInstant, ms));
}

/**
 * Compiles SearchQuery filters into SQL over resource_current (alias given) and the index tables.
 * Every predicate is a lookup on an index of (pid, value): no resource body is ever read.
 */
export class SearchCompiler {
  private aliasCount = 0;

  constructor(private readonly ctx: CompileContext) {}

  /** The predicate for all filters of a query on one resource type, against alias `r`. */
  filters(type: string, filters: (Filter | HasFilter)[], r: string): Sql {
    if (filters.length === 0) return always;
    return join(
      filters.map((f) => ('sourceType' in f ? this.has(type, f, r) : this.filter(type, f, r))),
      ' AND ',
    );
  }

  private filter(type: string, f: Filter, r: string): Sql {
    if (f.param === '_id') return this.idFilter(f, r);
    if (f.param === '_lastUpdated') return this.lastUpdatedFilter(f, r);
    const table = tableOf[f.type];
    if (!table) throw notSupported(`Search by ${f.type} parameters is not supported yet`, f.param);
    const pid = this.ctx.pid(type, f.param);
    if (f.modifier === 'missing') {
      const missing = f.values.some((v) => v.kind === 'missing' && v.missing);
      if (pid === undefined) return missing ? always : never;
      return sql(
        `${missing ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} WHERE rid = ${r}.rid AND pid = ?)`,
        pid,
      );
    }
    const values = join(
      f.values.map((v) => this.value(f, v)),
      ' OR ',
    );
    if (f.modifier === 'not') {
      // R4 search.html#modifiers: :not also matches resources that have no value at all
      if (pid === undefined) return always;
      return sql(
        `${r}.rid NOT IN (SELECT rid FROM ${table} WHERE pid = ? AND (${values.text}))`,
        pid,
        ...values.params,
      );
    }
    if (pid === undefined) return never;
    return sql(
      `${r}.rid IN (SELECT rid FROM ${table} WHERE pid = ? AND (${values.text}))`,
      pid,
      ...values.params,
    );
  }

  private idFilter(f: Filter, r: string): Sql {
    const ids = f.values.flatMap((v) => (v.kind === 'token' && v.code !== undefined ? [v.code] : []));
    if (ids.length === 0) return never;
    const list = ids.map(() => '?').join(', ');
    return sql(`${r}.id ${f.modifier === 'not' ? 'NOT ' : ''}IN (${list})`, ...ids);
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

  private value(f: Filter, v: FilterValue): Sql {
    switch (v.kind) {
      case 'token':
        return this.token(f, v);
      case 'string': {
        const value = normalizeString(v.value);
        if (f.modifier === 'exact') return sql('exact = ?', v.value);
        if (f.modifier === 'contains') return sql('instr(normalized, ?) > 0', value);
        return sql('normalized >= ? AND normalized < ?', value, prefixEnd(value));
      }
      case 'date':
        return rangePredicate(v.prefix, 'low', 'high', clamp(v.low), clamp(v.high));
      case 'number':
        return valuePredicate(v.prefix, 'value', v.value, v.low, v.high);
      case 'quantity': {
        const unit: Sql[] = [valuePredicate(v.prefix, 'value', v.value, v.low, v.high)];
        if (v.code !== undefined) unit.push(sql('code = ?', v.code));
        if (v.system !== undefined) unit.push(sql('system = ?', v.system));
        return join(unit, ' AND ');
      }
      case 'reference':
        return this.reference(f, v);
      case 'uri':
        if (f.modifier === 'below') return sql('value >= ? AND value < ?', v.value, prefixEnd(v.value));
        if (f.modifier === 'above') return sql('instr(?, value) = 1', v.value);
        return sql('value = ?', v.value);
      default:
        throw notSupported(`This kind of value is not supported for ${f.param} yet`, f.param);
    }
  }

  private token(f: Filter, v: Extract<FilterValue, { kind: 'token' }>): Sql {
    if (f.modifier === 'text') return sql('instr(text, ?) > 0', normalizeString(v.text ?? v.code ?? ''));
    if (f.modifier !== undefined && f.modifier !== 'not') {
      throw notSupported(`The :${f.modifier} modifier is not supported yet`, `${f.param}:${f.modifier}`);
    }
    const parts: Sql[] = [];
    if (v.code !== undefined) parts.push(sql('code = ?', v.code));
    if (v.system === null) parts.push(sql('system IS NULL'));
    else if (v.system !== undefined) parts.push(sql('system = ?', v.system));
    return parts.length ? join(parts, ' AND ') : always;
  }

  private reference(f: Filter, v: Extract<FilterValue, { kind: 'reference' }>): Sql {
    if (f.modifier === 'identifier') {
      const parts = [sql('identifier_value = ?', v.identifierValue ?? '')];
      if (v.identifierSystem !== undefined) parts.push(sql('identifier_system = ?', v.identifierSystem));
      return join(parts, ' AND ');
    }
    if (f.chain) return this.chain(f.chain.targetTypes, f.chain.query);
    if (v.url !== undefined) {
      const parts = [sql('url = ?', v.url)];
      if (v.version !== undefined) parts.push(sql('version = ?', v.version));
      return join(parts, ' AND ');
    }
    const parts: Sql[] = [sql('target_id = ?', v.targetId ?? '')];
    const targetType = v.targetType ?? f.targetType;
    if (targetType !== undefined) parts.push(sql('target_type = ?', targetType));
    return join(parts, ' AND ');
  }

  /** `subject:Patient.name=Lee`: references whose target matches the chained filter. */
  private chain(targetTypes: string[], inner: Filter): Sql {
    return join(
      targetTypes.map((targetType) => {
        const c = `c${++this.aliasCount}`;
        const predicate = this.filter(targetType, inner, c);
        return sql(
          `target_type = ? AND target_id IN (SELECT ${c}.id FROM resource_current ${c} WHERE ${c}.type = ? AND ${c}.deleted = 0 AND (${predicate.text}))`,
          targetType,
          targetType,
          ...predicate.params,
        );
      }),
      ' OR ',
    );
  }

  /** `_has:Observation:subject:code=X`: resources that a matching Observation refers to by subject. */
  private has(type: string, h: HasFilter, r: string): Sql {
    const pid = this.ctx.pid(h.sourceType, h.referenceParam);
    if (pid === undefined) return never;
    const s = `s${++this.aliasCount}`;
    const inner = this.filters(h.sourceType, [h.filter], s);
    return sql(
      `${r}.id IN (SELECT ref.target_id FROM idx_reference ref JOIN resource_current ${s} ON ${s}.rid = ref.rid
        WHERE ref.pid = ? AND ref.target_type = ? AND (${inner.text}))`,
      pid,
      type,
      ...inner.params,
    );
  }

  /** The SQL expression a sort key orders by, for alias `r` (NULL when the resource has no value). */
  sortExpression(type: string, key: SortKey, kind: Filter['type'], r: string): Sql {
    if (key.param === '_id') return sql(`${r}.id`);
    if (key.param === '_lastUpdated') return sql(`${r}.last_updated_ms`);
    const pid = this.ctx.pid(type, key.param);
    if (pid === undefined) return sql('NULL');
    const agg = key.descending ? 'MAX' : 'MIN';
    switch (kind) {
      case 'date':
        return sql(
          `(SELECT ${agg}(${key.descending ? 'high' : 'low'}) FROM idx_date WHERE rid = ${r}.rid AND pid = ?)`,
          pid,
        );
      case 'string':
        return sql(`(SELECT ${agg}(normalized) FROM idx_string WHERE rid = ${r}.rid AND pid = ?)`, pid);
      case 'token':
        return sql(`(SELECT ${agg}(code) FROM idx_token WHERE rid = ${r}.rid AND pid = ?)`, pid);
      case 'number':
        return sql(`(SELECT ${agg}(value) FROM idx_number WHERE rid = ${r}.rid AND pid = ?)`, pid);
      case 'quantity':
        return sql(`(SELECT ${agg}(value) FROM idx_quantity WHERE rid = ${r}.rid AND pid = ?)`, pid);
      case 'reference':
        return sql(`(SELECT ${agg}(target_id) FROM idx_reference WHERE rid = ${r}.rid AND pid = ?)`, pid);
      case 'uri':
        return sql(`(SELECT ${agg}(value) FROM idx_uri WHERE rid = ${r}.rid AND pid = ?)`, pid);
      default:
        throw notSupported(`Sorting by ${key.param} is not supported`, '_sort');
    }
  }
}

export type { SearchQuery };
