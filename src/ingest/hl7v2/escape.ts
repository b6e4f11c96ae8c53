import type { Hl7Encoding } from './encoding.js';

/**
 * HL7 escape sequences (HL7 v2.5.1 2.7): delimiters (`\F\ \S\ \T\ \R\ \E\`, v2.7 `\P\`),
 * `\.br\` as a line break, `\Xhh…\` as bytes read as UTF-8 (latin1 when they are not valid
 * UTF-8), and formatting commands (`\H\ \N\ \.sp\ \.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\`) and
 * character-set switches (`\C…\ \M…\`) dropped: Ferry keeps text, not layout. Anything else
 * between escape characters (e.g. a sender's own `\Z…\`), and an escape character with no
 * partner, is kept as written.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexText(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/** The text a leaf value (one sub-component) stands for. */
export function unescapeValue(value: string, encoding: Hl7Encoding): string {
  const esc = encoding.escape;
  let start = value.indexOf(esc);
  if (start < 0) return value;
  let out = '';
  let from = 0;
  while (start >= 0) {
    const end = value.indexOf(esc, start + 1);
    if (end < 0) break;
    const body = value.slice(start + 1, end);
    let text: string | undefined;
    switch (body) {
      case 'F':
        text = encoding.field;
        break;
      case 'S':
        text = encoding.component;
        break;
      case 'T':
        text = encoding.subcomponent;
        break;
      case 'R':
        text = encoding.repetition;
        break;
      case 'E':
        text = esc;
        break;
      case 'P':
        text = encoding.truncation ?? '#';
        break;
      case '.br':
        text = '\n';
        break;
      case 'H':
      case 'N':
      case '.fi':
      case '.nf':
        text = '';
        break;
      default:
        if (/^\.(sp|in|ti|sk|ce)[+-]?\d*$/.test(body) || /^[CM][0-9A-Fa-f]+$/.test(body)) text = '';
        else if (body.startsWith('X')) text = hexText(body.slice(1));
    }
    if (text === undefined) {
      // not an escape Ferry knows: keep the first escape character and look again from the second
      out += value.slice(from, end);
      from = end;
      start = end;
      continue;
    }
    out += value.slice(from, start) + text;
    from = end + 1;
    start = value.indexOf(esc, from);
  }
  return out + value.slice(from);
}

/** Escapes `text` so that it can stand as one leaf value (the ACK builder's use). */
export function escapeValue(text: string, encoding: Hl7Encoding): string {
  let out = '';
  for (const c of text) {
    if (c === encoding.escape) out += `${c}E${c}`;
    else if (c === encoding.field) out += `${encoding.escape}F${encoding.escape}`;
    else if (c === encoding.component) out += `${encoding.escape}S${encoding.escape}`;
    else if (c === encoding.subcomponent) out += `${encoding.escape}T${encoding.escape}`;
    else if (c === encoding.repetition) out += `${encoding.escape}R${encoding.escape}`;
    else if (c === encoding.truncation) out += `${encoding.escape}P${encoding.escape}`;
    else if (c === '\r' || c === '\n') out += `${encoding.escape}.br${encoding.escape}`;
    else out += c;
  }
  return out;
}
