import type { TextEntry } from './types.js';

/** Narrative XHTML as plain words: tags and entities dropped. */
function narrativeText(div: string): string {
  return div
    .replace(/<[^>]*>/g, ' ')
    .replace(/&[a-zA-Z]+;|&#[0-9]+;|&#x[0-9a-fA-F]+;/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Every string value of a resource (not keys, not the narrative markup), for `_content`. */
function strings(node: unknown, out: string[]): void {
  if (typeof node === 'string') out.push(node);
  else if (Array.isArray(node)) for (const item of node) strings(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'div' || key === 'reference' || key === 'url' || key === 'system') continue;
      strings(value, out);
    }
  }
}

/**
 * The full-text entries of a resource (R4 search.html#text): `_text` is its narrative,
 * `_content` every string it holds (codes, names, displays, notes and the narrative's words).
 */
export function textEntries(resource: object): TextEntry[] {
  const entries: TextEntry[] = [];
  const div = (resource as { text?: { div?: unknown } }).text?.div;
  const narrative = typeof div === 'string' ? narrativeText(div) : '';
  if (narrative) entries.push({ kind: 'text', param: '_text', value: narrative });
  const all: string[] = [];
  strings(resource, all);
  if (narrative) all.push(narrative);
  const content = all.join(' ').trim();
  if (content) entries.push({ kind: 'text', param: '_content', value: content });
  return entries;
}
