/**
 * The typed vocabulary of search, shared by extraction (resource → index entries, on write),
 * parsing (query string → SearchQuery) and the stores (which compile a SearchQuery to their own
 * query language). Stores only ever see these shapes — never a query string or FHIRPath.
 * See R4 search.html.
 */

export type SearchParamType =
  'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

/** A search parameter as Ferry uses it, for one resource type. */
export interface SearchParamDef {
  /** The name in the query string, e.g. `code`, `subject`, `_lastUpdated`. */
  code: string;
  /** The resource type this definition applies to (one SearchParameter may have several bases). */
  base: string;
  type: SearchParamType;
  /** The FHIRPath expression restricted to this base type, e.g. `Observation.subject`. */
  expression: string;
  /** Reference targets (for reference parameters). */
  target?: string[];
  /** Components of a composite parameter: the definition URL of each component and its expression. */
  components?: { definition: string; expression: string }[];
  /** The canonical URL of the SearchParameter. */
  url: string;
}

/** Index entries a resource yields, one kind per parameter type. `param` is the parameter code. */
export type IndexEntry =
  | TokenEntry
  | StringEntry
  | DateEntry
  | NumberEntry
  | QuantityEntry
  | ReferenceEntry
  | UriEntry
  | CompositeEntry
  | TextEntry;

/** Coding, CodeableConcept, Identifier, ContactPoint, code, boolean, string used as token. */
export interface TokenEntry {
  kind: 'token';
  param: string;
  /** null when the value has no system (e.g. a plain `code` element). */
  system: string | null;
  code: string | null;
  /** Normalised display / CodeableConcept.text / Identifier.type.text, for `:text`. */
  text?: string;
}

export interface StringEntry {
  kind: 'string';
  param: string;
  /** Lower-cased, accents removed, whitespace collapsed (what default and :contains match). */
  normalized: string;
  /** The value as written (what :exact matches). */
  exact: string;
}

/** A date, dateTime, instant, Period or Timing as the instants it covers, by its precision. */
export interface DateEntry {
  kind: 'date';
  param: string;
  /** Epoch milliseconds of the first instant covered (-Infinity is stored as a minimum). */
  low: number;
  /** Epoch milliseconds of the last instant covered, inclusive. */
  high: number;
}

/** A number with the interval its precision implies (R4 search.html#number: 100 → [99.5, 100.5)). */
export interface NumberEntry {
  kind: 'number';
  param: string;
  value: number;
  low: number;
  high: number;
}

export interface QuantityEntry {
  kind: 'quantity';
  param: string;
  value: number;
  low: number;
  high: number;
  system: string | null;
  code: string | null;
  unit: string | null;
  /** UCUM canonical form (e.g. mmol/L → mol/m3 scaled), when the unit is UCUM and converts. */
  canonical?: { value: number; low: number; high: number; code: string };
}

export interface ReferenceEntry {
  kind: 'reference';
  param: string;
  /** For a literal reference: the target's type and id (relative or on this server's base). */
  targetType: string | null;
  targetId: string | null;
  /** An absolute URL or canonical (without `|version`) as written, when not on this server. */
  url: string | null;
  /** The `|version` of a canonical reference. */
  version: string | null;
  /** Reference.identifier, for `:identifier`. */
  identifierSystem: string | null;
  identifierValue: string | null;
}

export interface UriEntry {
  kind: 'uri';
  param: string;
  value: string;
}

/** Words for full-text search: `_text` (the narrative) and `_content` (every string in the resource). */
export interface TextEntry {
  kind: 'text';
  param: '_text' | '_content';
  value: string;
}

/** One combination of a composite parameter's components (e.g. code + value-quantity). */
export interface CompositeEntry {
  kind: 'composite';
  param: string;
  components: IndexEntry[];
}

/** Comparison prefixes (R4 search.html#prefix). */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export type Modifier =
  | 'missing'
  | 'exact'
  | 'contains'
  | 'text'
  | 'not'
  | 'above'
  | 'below'
  | 'in'
  | 'not-in'
  | 'of-type'
  | 'identifier'
  | 'type'; // `:[type]` on a reference: see Filter.targetType

/** One value of a filter; the OR-ed values of a parameter are a list of these. */
export type FilterValue =
  | {
      kind: 'token';
      system?: string | null;
      code?: string;
      /** for :of-type */ typeSystem?: string;
      typeCode?: string;
      text?: string;
    }
  | { kind: 'string'; value: string }
  | { kind: 'date'; prefix: Prefix; low: number; high: number }
  | { kind: 'number'; prefix: Prefix; value: number; low: number; high: number }
  | {
      kind: 'quantity';
      prefix: Prefix;
      value: number;
      low: number;
      high: number;
      system?: string;
      code?: string;
      /** The value in UCUM base units, when the unit is UCUM (filled before the store sees it). */
      canonical?: { value: number; low: number; high: number; code: string };
    }
  | {
      kind: 'reference';
      targetType?: string;
      targetId?: string;
      url?: string;
      version?: string;
      identifierSystem?: string;
      identifierValue?: string;
    }
  | { kind: 'uri'; value: string }
  | { kind: 'missing'; missing: boolean }
  | { kind: 'composite'; components: FilterValue[] }
  | { kind: 'text'; value: string };

/** One parameter of the query: its values are OR-ed; the filters of a query are AND-ed. */
export interface Filter {
  param: string;
  type: SearchParamType;
  modifier?: Modifier;
  /** For `subject:Patient=…` (the `:[type]` modifier) and chains. */
  targetType?: string;
  /** A chained search: `subject:Patient.name=Lee` → a nested query on the target type. */
  chain?: { targetTypes: string[]; query: Filter };
  values: FilterValue[];
}

/** `_has:Observation:subject:code=1234-5` (reverse chaining, nestable). */
export interface HasFilter {
  /** The type that refers to the searched resource. */
  sourceType: string;
  /** The reference parameter on sourceType pointing back at the searched resource. */
  referenceParam: string;
  filter: Filter | HasFilter;
}

/**
 * Membership of a compartment (R4 compartmentdefinition.html): resources whose reference
 * parameters `params` point at compartment/id, e.g. Observations whose subject or performer is
 * Patient/123. Used for compartment search and, later, patient-scoped access.
 */
export interface CompartmentFilter {
  compartment: string;
  id: string;
  params: string[];
}

/** Anything a query can be filtered by; the filters of a query are AND-ed. */
export type QueryFilter = Filter | HasFilter | CompartmentFilter;

export interface SortKey {
  param: string;
  descending: boolean;
  /** The parameter's type (the store orders dates, strings, numbers… each their own way). */
  type?: SearchParamType;
}

export interface IncludeSpec {
  /** `Observation:subject:Patient` → sourceType Observation, param subject, targetType Patient. */
  sourceType: string;
  /** A reference parameter code, or `*` for all of them. */
  param: string;
  targetType?: string;
  iterate: boolean;
}

/** A parsed search, ready for a store to run. */
export interface SearchQuery {
  /** The resource types searched: one for type-level, several (or all) for system-level. */
  types: string[];
  /** AND-ed filters. `_id` and `_lastUpdated` are filters too (param `_id`, `_lastUpdated`). */
  filters: QueryFilter[];
  sort: SortKey[];
  count: number;
  total: 'none' | 'estimate' | 'accurate';
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  /** Opaque keyset cursor from a previous page. */
  cursor?: string;
}
