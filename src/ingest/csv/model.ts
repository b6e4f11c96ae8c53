import type { VocabularyEntry } from '../hl7v2/mapping/model.js';

/**
 * The shapes of the mapping files in `mappings/csv/`: how a file is read, which columns it must
 * have, and how each row becomes one or more FHIR resources that reference each other. Rows read
 * like the HL7 v2 maps: which column (`from`), under which condition (`when`), goes to which FHIR
 * element (`to`), converted how (`type`, `format`, `transform`, `vocabulary`), or which constant.
 */

/** Text clean-ups applied to a value before it is converted, in order. */
export type Transform = 'trim' | 'upper' | 'lower' | 'title' | 'collapse' | 'digits';

export const transforms: readonly Transform[] = ['trim', 'upper', 'lower', 'title', 'collapse', 'digits'];

/** How a column's text becomes a FHIR value. */
export type ValueType =
  'string' | 'code' | 'integer' | 'decimal' | 'boolean' | 'date' | 'dateTime' | 'instant' | 'time' | 'unit';

export const valueTypes: readonly ValueType[] = [
  'string',
  'code',
  'integer',
  'decimal',
  'boolean',
  'date',
  'dateTime',
  'instant',
  'time',
  'unit',
];

/** How the file is read (RFC 4180 by default). */
export interface ReadOptions {
  delimiter: string;
  quote: string;
  /** `utf-8` (a BOM is dropped) or `latin1` (ISO-8859-1). */
  encoding: 'utf-8' | 'latin1';
  /** IANA zone for date/times without an offset. */
  timezone: string;
  /** Numbers are written `3,5` (a decimal comma; `.` then groups thousands). */
  decimalComma: boolean;
  /** Texts that mean "no value" besides the empty string (e.g. `NULL`, `N/A`). */
  empty: string[];
  /** Spaces around every cell are dropped (default); `false` keeps them for per-column `trim`. */
  trim: boolean;
}

export interface ColumnSpec {
  /** The header text in the file (the column's key when absent). */
  header: string;
  /** The header check refuses a file without this column; a row with it empty is rejected. */
  required: boolean;
  /** Applied to every value of the column before any row uses it. */
  transform: Transform[];
}

export interface CsvRow {
  /** A column key (see `columns`). Absent for a constant that always applies. */
  from?: string;
  /** `col present`, `col absent`, `col = X`, `col != X`, `col in [A, B]`, joined by `and`. */
  when?: string;
  /** FHIR element path: `name[0].family`, `identifier[]`, `valueQuantity.value`. */
  to: string;
  type: ValueType;
  /** Formats of a date/time column, tried in order (`DD/MM/YYYY`, `YYYYMMDDHHmm`, `%d.%m.%Y`). */
  format?: string[];
  transform: Transform[];
  /** A vocabulary map (a CSV in `mappings/csv/vocabulary/`) applied to the value. */
  vocabulary?: string;
  /** Assigned when the row applies (and `from`, when given, has a value). */
  constant?: unknown;
  /** Used when `from` is empty. */
  default?: string;
}

/** How a resource is found again so that ingesting a row again upserts it. */
export interface IdentitySpec {
  system: string;
  /** Column keys whose values, joined by `/`, are the identifier's value. */
  value: string[];
  /**
   * When the key columns are empty: `row` identifies the resource by file and row number (the
   * same file again finds it), otherwise the row is rejected.
   */
  fallback?: 'row';
}

export interface ResourceSpec {
  key: string;
  resourceType: string;
  /** `update` (default): upsert; `create`: create when unknown, else leave the stored one alone. */
  write: 'update' | 'create';
  /** Make this resource only when the condition holds for the row. */
  when?: string;
  identity: IdentitySpec;
  rows: CsvRow[];
  /** References to the row's other resources: `subject: patient`. */
  refs: Record<string, string>;
}

export interface CsvMapping {
  name: string;
  description: string;
  read: ReadOptions;
  /** Column key → its header and checks; in file-header order is not required. */
  columns: Map<string, ColumnSpec>;
  resources: ResourceSpec[];
  /** The file this mapping was loaded from, for messages. */
  file: string;
}

export interface CsvCatalog {
  mappings: Map<string, CsvMapping>;
  vocabularies: Map<string, Map<string, VocabularyEntry>>;
}
