import type { Source } from './source-value.js';

/**
 * Row conditions (the IG spreadsheets' "Condition (IF True)" column), written as
 * `2 = NM`, `2 != NM`, `2 in [ST, TX, FT]`, `5.3 not in [":", "/"]`, `29 present`, `29 absent`,
 * joined by `and`. Paths are relative to the row's source, like `from`.
 */
export type Condition = (source: Source) => boolean;

const cache = new Map<string, Condition>();

function values(list: string): string[] {
  return list
    .split(',')
    .map((v) => v.trim())
    .map((v) => (/^".*"$|^'.*'$/.test(v) ? v.slice(1, -1) : v));
}

function clause(text: string): Condition {
  const t = text.trim();
  let m = /^(\S+)\s+(present|absent)$/.exec(t);
  if (m) {
    const [, path = '', what] = m;
    return what === 'present' ? (s) => s.text(path) !== undefined : (s) => s.text(path) === undefined;
  }
  m = /^(\S+)\s+(not\s+in|in)\s+\[(.*)\]$/.exec(t);
  if (m) {
    const [, path = '', op = '', list = ''] = m;
    const set = new Set(values(list));
    const negate = op.startsWith('not');
    return (s) => set.has(s.text(path) ?? '') !== negate;
  }
  m = /^(\S+)\s*(!=|=)\s*(.+)$/.exec(t);
  if (m) {
    const [, path = '', op, raw = ''] = m;
    const [value = ''] = values(raw);
    return op === '=' ? (s) => (s.text(path) ?? '') === value : (s) => (s.text(path) ?? '') !== value;
  }
  throw new Error(`cannot read the condition '${t}'`);
}

/** Compiles a condition (cached); throws on a condition it cannot read. */
export function compileCondition(text: string): Condition {
  const hit = cache.get(text);
  if (hit) return hit;
  const parts = text.split(/\s+and\s+/).map(clause);
  const condition: Condition = (s) => parts.every((p) => p(s));
  cache.set(text, condition);
  return condition;
}
