import { Hl7Error } from './hl7-error.js';

/**
 * A parsed value path, as in `PID-3[2].1.2` or `OBX[3]-5`: segment id, which occurrence of that
 * segment (1-based, default 1), field, repetition (1-based, default 1), component and
 * sub-component (1-based; absent means "the whole field / component").
 */
export interface Hl7Path {
  segment?: string;
  occurrence: number;
  field: number;
  repetition: number;
  component?: number;
  subcomponent?: number;
}

const pattern =
  /^(?:([A-Z][A-Z0-9]{2})(?:\[([1-9]\d*)\])?-)?(\d+)(?:\[([1-9]\d*)\])?(?:\.([1-9]\d*))?(?:\.([1-9]\d*))?$/;
const cache = new Map<string, Hl7Path>();

/** Parses `PID-3[2].1` (or `3[2].1` relative to a segment). Throws on a malformed path. */
export function parsePath(text: string): Hl7Path {
  const hit = cache.get(text);
  if (hit) return hit;
  const m = pattern.exec(text);
  if (!m) throw new Hl7Error(207, `'${text}' is not an HL7 path such as PID-3[2].1`);
  const path: Hl7Path = {
    occurrence: m[2] ? Number(m[2]) : 1,
    field: Number(m[3]),
    repetition: m[4] ? Number(m[4]) : 1,
  };
  if (m[1]) path.segment = m[1];
  if (m[5]) path.component = Number(m[5]);
  if (m[6]) path.subcomponent = Number(m[6]);
  if (cache.size < 10_000) cache.set(text, path);
  return path;
}
