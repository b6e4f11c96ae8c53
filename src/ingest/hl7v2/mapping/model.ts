/**
 * The shapes of the mapping files in `mappings/hl7v2/`. Rows read like the HL7 V2-to-FHIR IG's
 * mapping spreadsheets: which HL7 value (`from`), under which condition (`when`), goes to which
 * FHIR element (`to`), through which data-type mapper (`type`) or vocabulary map (`vocabulary`),
 * or which constant is assigned (`constant`).
 */

/** One mapping row of a segment or data-type map. */
export interface Row {
  /** A field (`3`, `PID-3`), component (`3.4`) or sub-component (`3.4.1`) of the current value. */
  from?: string;
  /** Condition on the current value: `2 = NM`, `5.3 in [":", "/"]`, `29 absent`, joined by `and`. */
  when?: string;
  /** FHIR element path: `name[]` appends one element per repetition, `coding[0].code` nests. */
  to: string;
  /** Data-type mapper: a primitive (ST, NM, DTM…) or a data-type map file (CX, XPN…). */
  type?: string;
  /** Vocabulary map (a file in `vocabulary/`) applied to the code. */
  vocabulary?: string;
  /** A value assigned when the row applies (and `from`, when given, has a value). */
  constant?: unknown;
  /** Extra arguments of the mapper, e.g. `units: 6` for a reference range. */
  args?: Record<string, string>;
}

/** How one segment (or a data type) maps onto one FHIR resource (or data type). */
export interface SegmentMap {
  name: string;
  segment: string;
  resource: string;
  rows: Row[];
}

export interface DatatypeMap {
  name: string;
  datatype: string;
  rows: Row[];
}

/** How a resource made from a message is found again: its identity for a conditional write. */
export interface IdentitySpec {
  /** Use the first identifier whose type code is one of these (in this order)… */
  prefer?: string[];
  /** …or else one made of these values (first present of `A|B` alternatives), joined by `/`. */
  key?: { system: string; values: string[] };
  /** Where the identifier comes from in the message, for the ERR segment when it is missing. */
  from?: string;
  /** When no identifier can be found: `message` scopes the resource to this message; else AE. */
  fallback?: 'message';
}

/** One resource a message makes: from one segment (or each one), through a segment map. */
export interface ResourceSpec {
  key: string;
  segment: string;
  map: string;
  /** One resource per occurrence in the scope (else the first occurrence only). */
  each?: boolean;
  /** When the segment is absent, the message is rejected (AE 100). */
  required?: boolean;
  /** `update` (default): conditional update; `create`: conditional create, never overwrites. */
  write?: 'update' | 'create';
  /** Further segment maps applied onto the same resource (e.g. ORC onto ServiceRequest). */
  also?: { segment: string; map: string }[];
  /** Segments that follow each occurrence (e.g. NTE after OBX) mapped onto it by these rows. */
  following?: { segment: string; rows: Row[] };
  /** Rows applied after the segment map, with the segment as source (e.g. a category constant). */
  rows?: Row[];
  identity: IdentitySpec;
  /** References to other resources of the message: `subject: patient`, `result[]: observation*`. */
  refs?: Record<string, string>;
}

/** A repeating group of segments (e.g. ORU's ORDER_OBSERVATION), mapped once per occurrence. */
export interface GroupSpec {
  group: string;
  /** A group starts at one of these segments (when the current group already has it, or none). */
  start: string[];
  /** Segments that belong to the group once it started. */
  members: string[];
  resources: ResourceSpec[];
}

/** One message structure: which events use it and what resources it makes. */
export interface MessageMap {
  name: string;
  structure: string;
  /** MSH-9 `code^trigger` values this map handles. */
  events: string[];
  resources: (ResourceSpec | GroupSpec)[];
  /** A merge (A40): the patient whose identifier is in this field becomes inactive, replaced-by. */
  merge?: { from: string; into: string };
}

/** A vocabulary map: source code → target code (with display and system when given). */
export interface VocabularyEntry {
  target: string;
  display?: string;
  system?: string;
}

/** Everything in `mappings/hl7v2/`, loaded and checked. */
export interface Catalog {
  messages: Map<string, MessageMap>;
  segments: Map<string, SegmentMap>;
  datatypes: Map<string, DatatypeMap>;
  vocabularies: Map<string, Map<string, VocabularyEntry>>;
}

export const isGroup = (spec: ResourceSpec | GroupSpec): spec is GroupSpec => 'group' in spec;
