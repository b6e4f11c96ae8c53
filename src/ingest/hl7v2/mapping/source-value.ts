import type { Hl7Encoding } from '../encoding.js';
import { unescapeValue } from '../escape.js';
import type { ErrorLocation } from '../hl7-error.js';
import type { Hl7Segment } from '../message.js';
import { parsePath } from '../path.js';

/**
 * What mapping rows read from: a segment (paths `3`, `3[2].4`, `3.4.1`), or one value of a
 * data type (a field repetition, whose paths are components `1` and sub-components `1.2`; or a
 * component, whose paths are its sub-components `1`). Texts are decoded; empty values and the
 * HL7 null `""` read as absent (a conditional update replaces the resource, so null clears).
 */
export interface Source {
  /** Where this value sits, for ERR-2. */
  readonly location: ErrorLocation;
  /** Decoded text at a path, or the value's own text for `''`. */
  text(path: string): string | undefined;
  /** The values at a path: every repetition of a field when `all`, else the first (or the one named). */
  values(path: string, all: boolean): Source[];
}

const present = (v: string | undefined): v is string => v !== undefined && v !== '' && v !== '""';

/** One value of a composite data type: a field repetition (`component` level) or a component. */
export class ValueSource implements Source {
  constructor(
    private readonly raw: string,
    /** `field`: a field repetition (components, then sub-components); `component`: sub-components. */
    private readonly level: 'field' | 'component',
    private readonly encoding: Readonly<Hl7Encoding>,
    readonly location: ErrorLocation,
  ) {}

  private parts(): string[] {
    return this.raw.split(this.level === 'field' ? this.encoding.component : this.encoding.subcomponent);
  }

  private rawAt(path: string): string | undefined {
    if (path === '') return this.parts()[0];
    const [a, b] = path.split('.').map(Number);
    const part = this.parts()[(a ?? 1) - 1];
    if (b === undefined || part === undefined) return part;
    return this.level === 'field' ? part.split(this.encoding.subcomponent)[b - 1] : undefined;
  }

  text(path: string): string | undefined {
    let raw = this.rawAt(path);
    // a component read whole keeps only its first sub-component's text
    if (raw !== undefined && this.level === 'field' && path !== '' && !path.includes('.'))
      raw = raw.split(this.encoding.subcomponent)[0];
    if (raw !== undefined && this.level === 'field' && path === '')
      raw = raw.split(this.encoding.subcomponent)[0];
    return present(raw) ? unescapeValue(raw, this.encoding) : undefined;
  }

  values(path: string): Source[] {
    if (path === '') return present(this.raw) ? [this] : [];
    const [a, b] = path.split('.').map(Number);
    const raw = this.rawAt(path);
    if (!present(raw)) return [];
    const location = { ...this.location };
    if (this.level === 'field') {
      location.component = a;
      if (b !== undefined) location.subcomponent = b;
      return [new ValueSource(raw, b === undefined ? 'component' : 'component', this.encoding, location)];
    }
    location.subcomponent = a;
    return [new ValueSource(raw, 'component', this.encoding, location)];
  }
}

/** A segment as a source: field paths relative to it (a leading `PID-` is allowed). */
export class SegmentSource implements Source {
  readonly location: ErrorLocation;

  constructor(readonly segment: Hl7Segment) {
    this.location = { segment: segment.name, sequence: segment.sequence };
  }

  private relative(path: string): string {
    return path.startsWith(`${this.segment.name}-`) ? path.slice(this.segment.name.length + 1) : path;
  }

  text(path: string): string | undefined {
    const value = this.segment.get(this.relative(path));
    if (value === null || value === undefined || value === '') return undefined;
    const p = parsePath(this.relative(path));
    // a whole field read as text means its first component (TS = DTM^precision, ID, ST…)
    if (p.component === undefined) {
      const first = this.segment.getRaw(`${p.field}[${p.repetition}].1`);
      const sub = first?.split(this.segment.encoding.subcomponent)[0];
      return present(sub) ? unescapeValue(sub, this.segment.encoding) : undefined;
    }
    return value;
  }

  values(path: string, all: boolean): Source[] {
    const p = parsePath(this.relative(path));
    const reps = this.segment.repetitions(p.field);
    const explicit = /\[\d+\]/.test(this.relative(path));
    const chosen =
      all && !explicit
        ? reps.map((r, i) => [r, i + 1] as const)
        : [[reps[p.repetition - 1], p.repetition] as const];
    const out: Source[] = [];
    for (const [rep, n] of chosen) {
      if (!present(rep)) continue;
      const location: ErrorLocation = { ...this.location, field: p.field, repetition: n };
      const field = new ValueSource(rep, 'field', this.segment.encoding, location);
      if (p.component === undefined) out.push(field);
      else
        out.push(
          ...field.values(
            p.subcomponent === undefined ? String(p.component) : `${p.component}.${p.subcomponent}`,
          ),
        );
    }
    return out;
  }
}
