import type { Interaction } from './audit-event.js';

/** The interaction a request attempts, and the resource it names, read from its method and path. */
export interface RequestedAccess {
  interaction: Interaction;
  /** `Type/id` or `Type/id/_history/n` when the path names a resource. */
  resource?: string;
  /** The patient, when the path is a Patient or a Patient compartment. */
  patient?: string;
}

const isType = (segment: string | undefined): segment is string =>
  segment !== undefined && /^[A-Z][A-Za-z]+$/.test(segment);

/**
 * What a request to the FHIR base attempted (R4 http.html), from the method and the path below
 * the base alone, so a request refused before any route ran (a 401, a 400 body) is audited as
 * the interaction it tried. `bundleType` is the type of a Bundle POSTed to the base, when known.
 */
export function describeRequest(method: string, path: string, bundleType?: string): RequestedAccess {
  const s = (path.split('?', 1)[0] ?? '')
    .split('/')
    .filter((p) => p !== '')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [a, b, c, d] = s;
  const instance = (type: string, id: string): RequestedAccess => ({
    interaction: 'read',
    resource: `${type}/${id}`,
    ...(type === 'Patient' ? { patient: `Patient/${id}` } : {}),
  });
  if (a === undefined)
    return {
      interaction: method === 'POST' ? (bundleType === 'batch' ? 'batch' : 'transaction') : 'search-system',
    };
  if (s.length === 1) {
    if (a === 'metadata') return { interaction: 'capabilities' };
    if (a === '_history') return { interaction: 'history-system' };
    if (a === '_search') return { interaction: 'search-system' };
    if (!isType(a)) return { interaction: 'operation' };
    const byMethod: Record<string, Interaction> = {
      POST: 'create',
      PUT: 'update',
      PATCH: 'patch',
      DELETE: 'delete',
    };
    return { interaction: byMethod[method] ?? 'search-type' };
  }
  if (!isType(a) || b === undefined) return { interaction: 'operation' };
  if (s.length === 2) {
    if (b === '_search') return { interaction: 'search-type' };
    if (b === '_history') return { interaction: 'history-type' };
    if (b.startsWith('$')) return { interaction: 'operation' };
    const byMethod: Record<string, Interaction> = { PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    return { ...instance(a, b), interaction: byMethod[method] ?? 'read' };
  }
  if (c === '_history') {
    if (d === undefined) return { ...instance(a, b), interaction: 'history-instance' };
    return { ...instance(a, b), interaction: 'vread', resource: `${a}/${b}/_history/${d}` };
  }
  if (c?.startsWith('$')) return { ...instance(a, b), interaction: 'operation' };
  if (s.length === 3 && isType(c) && a === 'Patient')
    return { interaction: 'search-type', patient: `Patient/${b}` };
  return { interaction: s.length === 3 && isType(c) ? 'search-type' : 'operation' };
}
