import type { Hl7Encoding } from './encoding.js';
import { unescapeValue } from './escape.js';
import { Hl7Error } from './hl7-error.js';
import { parsePath, type Hl7Path } from './path.js';

/**
 * The value model handed to mappings. Values are addressed the way the standard writes them:
 * `PID-3[2].1` is the first component of the second repetition of PID-3; MSH fields are numbered
 * as the standard numbers them (MSH-1 is the field separator, MSH-2 the encoding characters).
 *
 * - `get` returns decoded text (escape sequences resolved), `undefined` for an absent or empty
 *   value, and `null` for the HL7 null `""` (the sender asks to clear the value).
 * - `getRaw` returns the text exactly as sent (escapes unresolved, delimiters inside kept), for
 *   checksums, provenance and anything the decoded text would lose.
 * - A path without a component (`PID-5`) means the whole field repetition, decoded as one text
 *   (its component delimiters stay in it); use `components()` for structured values.
 */
export class Hl7Segment {
  /**
   * @param name segment id, e.g. `PID` (Z-segments too)
   * @param sequence this segment's 1-based position in the message (ERR-2.2)
   * @param fields raw field texts indexed by field number (index 0 is the segment id)
   */
  constructor(
    readonly name: string,
    readonly sequence: number,
    private readonly fields: readonly string[],
    readonly encoding: Readonly<Hl7Encoding>,
  ) {}

  /** The highest field number present. */
  get fieldCount(): number {
    return this.fields.length - 1;
  }

  /** Raw text of a field number (all repetitions), `undefined` when absent or empty. */
  field(n: number): string | undefined {
    const v = this.fields[n];
    return v === undefined || v === '' ? undefined : v;
  }

  /** Raw repetitions of a field (`[]` when absent). MSH-1 and MSH-2 are never split. */
  repetitions(n: number): string[] {
    const v = this.field(n);
    if (v === undefined) return [];
    return this.isEncodingField(n) ? [v] : v.split(this.encoding.repetition);
  }

  /** Decoded components of one repetition (sub-components kept raw-joined, then decoded). */
  components(n: number, repetition = 1): string[] {
    const rep = this.repetitions(n)[repetition - 1];
    if (rep === undefined) return [];
    if (this.isEncodingField(n)) return [rep];
    return rep.split(this.encoding.component).map((c) => unescapeValue(c, this.encoding));
  }

  /** Raw value at a path relative to this segment (`3[2].1`), or `undefined`. */
  getRaw(path: string | Hl7Path): string | undefined {
    const p = typeof path === 'string' ? parsePath(path) : path;
    const rep = this.repetitions(p.field)[p.repetition - 1];
    if (rep === undefined || p.component === undefined || this.isEncodingField(p.field)) {
      return rep === '' ? undefined : rep;
    }
    const comp = rep.split(this.encoding.component)[p.component - 1];
    if (comp === undefined || p.subcomponent === undefined) return comp === '' ? undefined : comp;
    const sub = comp.split(this.encoding.subcomponent)[p.subcomponent - 1];
    return sub === '' ? undefined : sub;
  }

  /**
   * Decoded value at a path relative to this segment: `undefined` when absent or empty, `null`
   * for the HL7 null `""`. A whole field or component is decoded as one text, so delimiters
   * inside it stay as they are.
   */
  get(path: string | Hl7Path): string | null | undefined {
    const p = typeof path === 'string' ? parsePath(path) : path;
    const raw = this.getRaw(p);
    if (raw === undefined) return undefined;
    if (raw === '""') return null;
    return this.isEncodingField(p.field) ? raw : unescapeValue(raw, this.encoding);
  }

  private isEncodingField(n: number): boolean {
    return (n === 1 || n === 2) && (this.name === 'MSH' || this.name === 'FHS' || this.name === 'BHS');
  }
}

/** MSH-9 read apart: `ORU^R01^ORU_R01` → code, trigger, structure. */
export interface MessageType {
  code: string;
  trigger?: string;
  structure?: string;
}

/** One parsed HL7 v2 message: its segments in order, and accessors by path. */
export class Hl7Message {
  private readonly byName = new Map<string, Hl7Segment[]>();

  constructor(
    /** Every segment in order, MSH first; Z-segments included. */
    readonly all: readonly Hl7Segment[],
    readonly encoding: Readonly<Hl7Encoding>,
    /** The message text as decoded from its bytes, segments joined by CR. */
    readonly text: string,
  ) {
    for (const s of all) {
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
    }
  }

  /** The MSH segment. */
  get msh(): Hl7Segment {
    const first = this.all[0];
    if (!first) throw new Hl7Error(100, 'the message has no MSH segment');
    return first;
  }

  /** MSH-9 as code, trigger event and structure. */
  get type(): MessageType {
    const type: MessageType = { code: this.msh.get('9.1') ?? '' };
    const trigger = this.msh.get('9.2');
    const structure = this.msh.get('9.3');
    if (trigger) type.trigger = trigger;
    if (structure) type.structure = structure;
    return type;
  }

  /** MSH-10, the sender's message control id. */
  get controlId(): string {
    return this.msh.get('10') ?? '';
  }

  /** MSH-12.1, e.g. `2.5.1`. */
  get version(): string {
    return this.msh.get('12.1') ?? '';
  }

  /** Every segment with this id, in order (`[]` when none). */
  segments(name: string): readonly Hl7Segment[] {
    return this.byName.get(name) ?? [];
  }

  /** The n-th (1-based) segment with this id. */
  segment(name: string, occurrence = 1): Hl7Segment | undefined {
    return this.byName.get(name)?.[occurrence - 1];
  }

  /** Decoded value at a path such as `PID-3[2].1` or `OBX[2]-5`; see Hl7Segment.get. */
  get(path: string): string | null | undefined {
    const p = parsePath(path);
    return this.locate(p)?.get(p);
  }

  /** Raw (undecoded) value at a path. */
  getRaw(path: string): string | undefined {
    const p = parsePath(path);
    return this.locate(p)?.getRaw(p);
  }

  /**
   * Splits the message into groups in order: each group starts at a segment named `start` and
   * takes the following segments whose names are in `members`, e.g.
   * `groups('OBR', ['OBX', 'NTE'])` for ORU observation groups. Segments before the first start
   * or outside `members` end a group and are not returned.
   */
  groups(start: string, members: readonly string[]): Hl7Segment[][] {
    const out: Hl7Segment[][] = [];
    let current: Hl7Segment[] | undefined;
    for (const s of this.all) {
      if (s.name === start) {
        current = [s];
        out.push(current);
      } else if (current && members.includes(s.name)) current.push(s);
      else current = undefined;
    }
    return out;
  }

  private locate(p: Hl7Path): Hl7Segment | undefined {
    if (!p.segment) throw new Hl7Error(207, 'a message path needs a segment id, e.g. PID-3');
    return this.segment(p.segment, p.occurrence);
  }
}
