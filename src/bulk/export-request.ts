import type { Parameters } from 'fhir/r4.js';
import type { Access } from '../auth/access.js';
import { badRequest, FhirError, notFound, outcome } from '../errors.js';
import { restResourceTypes } from '../fhir/element-tables.js';
import type { ServiceContext } from '../service/context.js';
import { parseFor } from '../service/search.js';
import { patientCompartmentTypes, type ExportSpec } from './export-run.js';

/**
 * A Bulk Data kick-off request (Bulk Data Access IG 2.0.0, export.html#query-parameters) read
 * into an ExportSpec: the parameters from the query string (GET) or a Parameters body (POST),
 * `Prefer` as a list, every problem answered precisely — a 400 under `handling=strict`, a note
 * in the manifest's error file otherwise.
 */

export interface KickOff {
  level: 'system' | 'patient' | 'group';
  groupId?: string;
  /** Name/value pairs from the query string or the Parameters body. */
  params: [string, string][];
  /** `patient` references from a POST body. */
  patients: string[];
  prefer: string | undefined;
  accept: string | undefined;
}

export const ndjsonFormats = ['application/fhir+ndjson', 'application/ndjson', 'ndjson'];
const known = new Set(['_outputFormat', '_since', '_type', '_typeFilter', '_elements', 'patient']);

/** `Prefer: respond-async, handling=lenient` as a set of lower-cased tokens. */
export function preferTokens(header: string | undefined): Set<string> {
  return new Set(
    (header ?? '')
      .split(/[,;]/)
      .map((t) =>
        t
          .trim()
          .toLowerCase()
          .replace(/\s*=\s*/, '='),
      )
      .filter((t) => t !== ''),
  );
}

/** The parameters of a POST kick-off body (a Parameters resource). */
export function kickOffParameters(body: unknown): { params: [string, string][]; patients: string[] } {
  const resource = body as Parameters | undefined;
  if (resource?.resourceType !== 'Parameters') {
    throw badRequest('A POST $export body must be a Parameters resource', 'Parameters');
  }
  const params: [string, string][] = [];
  const patients: string[] = [];
  for (const [i, p] of (resource.parameter ?? []).entries()) {
    const at = `Parameters.parameter[${i}]`;
    if (p.name === 'patient') {
      const ref = p.valueReference?.reference;
      const m = ref === undefined ? null : /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
      if (!m?.[1])
        throw badRequest('patient must be a valueReference to Patient/{id}', `${at}.valueReference`);
      patients.push(m[1]);
      continue;
    }
    const value =
      p.valueString ??
      p.valueInstant ??
      p.valueDateTime ??
      p.valueCode ??
      p.valueUri ??
      p.valueBoolean?.toString();
    if (value === undefined) throw badRequest(`parameter ${p.name} has no value this server can read`, at);
    params.push([p.name, value]);
  }
  return { params, patients };
}

const instant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Reads a kick-off into an ExportSpec and checks it against the token: read and search on every
 * exported type; a patient token exports its own compartment only.
 */
export async function readKickOff(ctx: ServiceContext, access: Access, k: KickOff): Promise<ExportSpec> {
  const prefer = preferTokens(k.prefer);
  if (!prefer.has('respond-async')) {
    throw badRequest('$export runs asynchronously: send "Prefer: respond-async"');
  }
  const strict = prefer.has('handling=strict');
  const notes: string[] = [];
  const problem = (text: string, expression?: string): void => {
    if (strict) throw badRequest(text, expression);
    notes.push(text);
  };
  if (
    k.accept !== undefined &&
    !/(^|,)\s*(application\/fhir\+json|application\/json|\*\/\*)\s*(;|,|$)/i.test(k.accept)
  ) {
    throw badRequest(`Accept must be application/fhir+json for $export, not "${k.accept.slice(0, 60)}"`);
  }
  const values = (name: string): string[] => k.params.filter(([n]) => n === name).map(([, v]) => v);
  for (const [name] of k.params) {
    if (!known.has(name))
      problem(`The parameter ${name.slice(0, 40)} is not supported by this server and was ignored`, name);
  }
  const format = values('_outputFormat');
  if (format.length > 1 || (format[0] !== undefined && !ndjsonFormats.includes(format[0]))) {
    throw badRequest(`_outputFormat must be one of ${ndjsonFormats.join(', ')}`, '_outputFormat');
  }
  const sinceValues = values('_since');
  if (sinceValues.length > 1) throw badRequest('_since may be given once', '_since');
  const since = sinceValues[0];
  if (since !== undefined && (!instant.test(since) || Number.isNaN(Date.parse(since)))) {
    throw badRequest(
      `_since "${since.slice(0, 40)}" is not a FHIR instant (e.g. 2024-05-01T00:00:00Z)`,
      '_since',
    );
  }
  if (since !== undefined && Date.parse(since) > ctx.now().getTime()) {
    problem('_since is in the future; nothing can have changed since then', '_since');
  }

  const allTypes = new Set(restResourceTypes());
  const named = values('_type')
    .flatMap((v) => v.split(','))
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const requested: string[] = [];
  for (const type of named) {
    if (!allTypes.has(type)) problem(`_type ${type.slice(0, 40)} is not a resource type`, '_type');
    else if (!requested.includes(type)) requested.push(type);
  }
  if (named.length > 0 && requested.length === 0)
    throw badRequest('_type names no resource type this server has', '_type');

  const elements = values('_elements')
    .flatMap((v) => v.split(','))
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const e of elements) {
    if (!/^[a-z][A-Za-z0-9]*(\[x\])?$/.test(e))
      problem(`_elements ${e.slice(0, 40)}: only top-level element names are supported`, '_elements');
  }
  const keptElements = elements.filter((e) => /^[a-z][A-Za-z0-9]*$/.test(e));

  // the patients whose compartments are exported
  let patients: string[] | undefined = k.patients.length > 0 ? k.patients : undefined;
  if (patients && k.level === 'system') {
    throw badRequest('patient applies to Patient and Group exports, not to the system level', 'patient');
  }
  if (k.level === 'group') patients = intersect(patients, await groupMembers(ctx, access, k.groupId ?? ''));
  let level = k.level;
  const tokenPatient = patientOnly(access);
  if (tokenPatient !== undefined) {
    // a patient token exports its own compartment, whatever else was asked
    patients = patients === undefined ? [tokenPatient] : patients.filter((p) => p === tokenPatient);
    if (level === 'system') level = 'patient';
  }

  // the exported types: every one must be readable and searchable with this token
  const candidates =
    requested.length > 0 ? requested : [...allTypes].filter((t) => t !== 'AuditEvent' && t !== 'Parameters');
  let types = level === 'system' ? candidates : patientCompartmentTypes(candidates);
  if (requested.length > 0 && types.length < requested.length) {
    const outside = requested.filter((t) => !types.includes(t));
    problem(
      `${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} not in the Patient compartment`,
      '_type',
    );
  }
  const allowed = (type: string): boolean => {
    for (const permission of ['r', 's'] as const) {
      let a;
      try {
        a = access.allowances(type, permission);
      } catch {
        return false;
      }
      if (a !== 'all' && !a.every((x) => x.params.length === 0 && x.patient !== undefined)) return false;
    }
    return true;
  };
  if (requested.length > 0) {
    const refused = types.filter((t) => !allowed(t));
    if (refused.length > 0) {
      throw new FhirError(
        403,
        outcome([
          {
            severity: 'error',
            code: 'forbidden',
            diagnostics: `The access token does not allow reading and searching ${refused.join(', ')} in full; $export needs both on every exported type`,
            expression: ['_type'],
          },
        ]),
      );
    }
  } else {
    types = types.filter(allowed);
    if (types.length === 0) {
      throw new FhirError(
        403,
        outcome([
          {
            severity: 'error',
            code: 'forbidden',
            diagnostics: 'The access token allows reading and searching no type in full',
          },
        ]),
      );
    }
  }

  const typeFilters: Record<string, [string, string][][]> = {};
  for (const filter of values('_typeFilter')) {
    const q = filter.indexOf('?');
    const type = q < 0 ? filter : filter.slice(0, q);
    if (q < 0 || !allTypes.has(type)) {
      problem(`_typeFilter "${filter.slice(0, 80)}" is not Type?query`, '_typeFilter');
      continue;
    }
    if (!types.includes(type)) {
      problem(`_typeFilter for ${type}, which is not exported, was ignored`, '_typeFilter');
      continue;
    }
    const query = [...new URLSearchParams(filter.slice(q + 1))];
    try {
      parseFor(ctx, type, query, true);
    } catch (error) {
      const why = error instanceof FhirError ? (error.outcome.issue[0]?.diagnostics ?? '') : String(error);
      problem(`_typeFilter "${filter.slice(0, 80)}": ${why}`, '_typeFilter');
      continue;
    }
    (typeFilters[type] ??= []).push(query);
  }

  const spec: ExportSpec = { level, types, typeFilters, notes };
  if (since !== undefined) spec.since = since;
  if (keptElements.length > 0) spec.elements = keptElements;
  if (patients !== undefined) spec.patients = patients;
  return spec;
}

/** The patient a token is limited to, when all it may read is that patient's compartment. */
function patientOnly(access: Access): string | undefined {
  if (access.unrestricted('Patient', 'r')) return undefined;
  return access.principal.patient;
}

function intersect(a: string[] | undefined, b: string[]): string[] {
  return a === undefined ? b : a.filter((p) => b.includes(p));
}

/** The Patient members of a Group (Group.member.entity), the Group read with the token's access. */
async function groupMembers(ctx: ServiceContext, access: Access, id: string): Promise<string[]> {
  access.allowances('Group', 'r');
  const current = await ctx.store.readCurrent('Group', id);
  if (!current || current.deleted || current.json === undefined) throw notFound(`Group/${id} is not known`);
  const group = JSON.parse(current.json) as {
    member?: { entity?: { reference?: string }; inactive?: boolean }[];
  };
  const members: string[] = [];
  for (const m of group.member ?? []) {
    if (m.inactive === true) continue;
    const id = /^(?:.*\/)?Patient\/([^/]+)$/.exec(m.entity?.reference ?? '')?.[1];
    if (id !== undefined && !members.includes(id)) members.push(id);
  }
  return members;
}
