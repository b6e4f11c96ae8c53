import type { Parameters, ParametersParameter, Resource } from 'fhir/r4.js';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { badRequest, invalid } from '../errors.js';

/**
 * FHIRPath Patch (R4 fhirpatch.html): a Parameters resource whose `operation` parameters add,
 * insert, delete, replace or move elements located by FHIRPath expressions. Operations apply in
 * order to a copy of the resource; any failure rejects the whole patch (422) naming the
 * operation.
 */

type Json = Record<string, unknown>;

/** A node as fhirpath.js returns it with `resolveInternalTypes: false`. */
interface PathNode {
  data: unknown;
  /** Model path of the node's type: a type name ('HumanName') or a backbone path ('Patient.contact'). */
  path: string;
  propName: string | null;
  index: number | null;
  parentResNode?: PathNode | null;
}

interface Operation {
  type: 'add' | 'insert' | 'delete' | 'replace' | 'move';
  path: string;
  name?: string;
  value?: unknown;
  /** The value[x] type suffix (e.g. 'Quantity'), used to name choice elements. */
  valueType?: string;
  index?: number;
  source?: number;
  destination?: number;
}

const operationTypes = new Set(['add', 'insert', 'delete', 'replace', 'move']);

/** True when `body` looks like a FHIRPath Patch (a Parameters resource). */
export function isFhirPathPatch(body: unknown): body is Parameters {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { resourceType?: unknown }).resourceType === 'Parameters'
  );
}

/** The value[x] of a parameter: its value, and its type suffix. */
function valueOf(part: ParametersParameter): { value: unknown; type?: string } | undefined {
  for (const [key, value] of Object.entries(part)) {
    if (key.startsWith('value') && key.length > 5) return { value, type: key.slice(5) };
  }
  if (part.resource) return { value: part.resource, type: part.resource.resourceType };
  if (part.part) {
    // an anonymous (backbone) value given as parts: each part is an element of it
    const value: Json = {};
    for (const child of part.part) {
      const childValue = valueOf(child);
      if (childValue === undefined) continue;
      const existing = value[child.name];
      if (existing === undefined) value[child.name] = childValue.value;
      else
        value[child.name] = Array.isArray(existing)
          ? [...(existing as unknown[]), childValue.value]
          : [existing, childValue.value];
    }
    return { value };
  }
  return undefined;
}

function parseOperation(parameter: ParametersParameter, n: number): Operation {
  const where = `Parameters.parameter[${n}]`;
  if (parameter.name !== 'operation')
    throw badRequest(`${where}: a FHIRPath Patch parameter must be named 'operation'`, `${where}.name`);
  const parts = new Map<string, ParametersParameter>();
  for (const part of parameter.part ?? []) parts.set(part.name, part);
  const type = parts.get('type')?.valueCode;
  if (type === undefined || !operationTypes.has(type)) {
    throw badRequest(`${where}: type must be one of add, insert, delete, replace, move`, `${where}.part`);
  }
  const path = parts.get('path')?.valueString;
  if (path === undefined || path.trim() === '')
    throw badRequest(`${where}: ${type} needs a path`, `${where}.part`);
  const op: Operation = { type: type as Operation['type'], path };
  const integer = (name: string): number | undefined => {
    const part = parts.get(name);
    if (part === undefined) return undefined;
    const value = part.valueInteger;
    if (value === undefined || !Number.isInteger(value) || value < 0)
      throw badRequest(`${where}: ${name} must be a non-negative valueInteger`, `${where}.part`);
    return value;
  };
  if (type === 'add') {
    op.name = parts.get('name')?.valueString;
    if (!op.name) throw badRequest(`${where}: add needs a name`, `${where}.part`);
  }
  if (type === 'add' || type === 'insert' || type === 'replace') {
    const valuePart = parts.get('value');
    const value = valuePart && valueOf(valuePart);
    if (value === undefined) throw badRequest(`${where}: ${type} needs a value`, `${where}.part`);
    op.value = value.value;
    op.valueType = value.type;
  }
  if (type === 'insert') {
    op.index = integer('index');
    if (op.index === undefined) throw badRequest(`${where}: insert needs an index`, `${where}.part`);
  }
  if (type === 'move') {
    op.source = integer('source');
    op.destination = integer('destination');
    if (op.source === undefined || op.destination === undefined)
      throw badRequest(`${where}: move needs a source and a destination`, `${where}.part`);
  }
  return op;
}

/** 422 for an operation that cannot be applied to this resource. */
function failed(n: number, op: Operation, text: string): Error {
  return invalid([
    {
      severity: 'error',
      code: 'processing',
      diagnostics: `FHIRPath Patch operation ${n} (${op.type} at '${op.path}'): ${text}`,
      expression: [`Parameters.parameter[${n}]`],
    },
  ]);
}

function evaluate(resource: Resource, path: string, n: number, op: Operation): PathNode[] {
  try {
    return fhirpath.evaluate(resource, path, undefined, r4, { resolveInternalTypes: false }) as PathNode[];
  } catch (error) {
    throw failed(
      n,
      op,
      `the path does not evaluate: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** The JSON key a node sits under in its parent (choice elements carry their type: valueQuantity). */
function keyOf(node: PathNode, parent: Json): string | undefined {
  const name = node.propName;
  if (name === null) return undefined;
  if (name in parent) return name;
  return Object.keys(parent).find(
    (k) =>
      k.startsWith(name) &&
      /^[A-Z]/.test(k.slice(name.length)) &&
      r4.choiceTypePaths[`${node.parentResNode?.path ?? ''}.${name}`] !== undefined,
  );
}

/** Where a single node sits: its parent object, key and (for list items) index. */
function locate(
  node: PathNode,
  n: number,
  op: Operation,
): { parent: Json; key: string; index: number | null } {
  const parent = node.parentResNode?.data;
  if (parent === null || typeof parent !== 'object' || Array.isArray(parent))
    throw failed(n, op, 'the path names the resource itself, not an element of it');
  const key = keyOf(node, parent as Json);
  if (key === undefined) throw failed(n, op, 'the path does not name an element');
  return { parent: parent as Json, key, index: Array.isArray((parent as Json)[key]) ? node.index : null };
}

function single(nodes: PathNode[], n: number, op: Operation): PathNode {
  const [node, extra] = nodes;
  if (node === undefined) throw failed(n, op, 'the path matches nothing');
  if (extra !== undefined)
    throw failed(n, op, `the path matches ${nodes.length} elements; it must match one`);
  return node;
}

/** Removes list item `index` of parent[key], keeping a primitive's `_key` extension list aligned. */
function removeItem(parent: Json, key: string, index: number | null): void {
  const list = parent[key];
  const shadow = parent[`_${key}`];
  if (index === null || !Array.isArray(list)) {
    Reflect.deleteProperty(parent, key);
    Reflect.deleteProperty(parent, `_${key}`);
    return;
  }
  list.splice(index, 1);
  if (Array.isArray(shadow)) shadow.splice(index, 1);
  if (list.length === 0) {
    Reflect.deleteProperty(parent, key);
    Reflect.deleteProperty(parent, `_${key}`);
  }
}

/** A list under a path: its items' parent and key, from the items or, when empty, from the path's parent. */
function listAt(
  resource: Resource,
  nodes: PathNode[],
  n: number,
  op: Operation,
): { parent: Json; key: string; list: unknown[] } {
  const first = nodes[0];
  if (first !== undefined) {
    const { parent, key, index } = locate(first, n, op);
    if (index === null) throw failed(n, op, 'the path does not name a list');
    for (const node of nodes) {
      if (node.parentResNode?.data !== parent)
        throw failed(n, op, 'the path matches items of more than one list');
    }
    return { parent, key, list: parent[key] as unknown[] };
  }
  // an empty list: find its container from the path without its last step
  const m = /^(.*)\.([A-Za-z][A-Za-z0-9]*)$/.exec(op.path.trim());
  if (!m?.[1] || !m[2]) throw failed(n, op, 'the path matches nothing');
  const container = single(evaluate(resource, m[1], n, op), n, op);
  if (container.data === null || typeof container.data !== 'object')
    throw failed(n, op, 'the path matches nothing');
  const parent = container.data as Json;
  const list: unknown[] = [];
  parent[m[2]] = list;
  return { parent, key: m[2], list };
}

function applyOperation(resource: Resource, op: Operation, n: number): void {
  const nodes = evaluate(resource, op.path, n, op);
  switch (op.type) {
    case 'add': {
      const target = single(nodes, n, op);
      if (target.data === null || typeof target.data !== 'object' || Array.isArray(target.data))
        throw failed(n, op, 'the path must name an element that can hold children');
      const parent = target.data as Json;
      const name = op.name ?? '';
      const modelPath = `${target.path}.${name}`;
      const key =
        r4.choiceTypePaths[modelPath] !== undefined && op.valueType
          ? `${name}${capitalize(op.valueType)}`
          : name;
      const repeating = r4.path2Repeating[modelPath] === true || Array.isArray(parent[key]);
      if (repeating) {
        const list = Array.isArray(parent[key]) ? (parent[key] as unknown[]) : [];
        list.push(op.value);
        parent[key] = list;
      } else {
        if (parent[key] !== undefined) throw failed(n, op, `'${name}' already has a value; use replace`);
        parent[key] = op.value;
      }
      return;
    }
    case 'insert': {
      const { list } = listAt(resource, nodes, n, op);
      const index = op.index ?? 0;
      if (index > list.length)
        throw failed(n, op, `index ${index} is past the end of the list (${list.length} items)`);
      list.splice(index, 0, op.value);
      return;
    }
    case 'delete': {
      // R4 fhirpatch.html: deleting an element that is not there is not an error
      if (nodes.length === 0) return;
      const { parent, key, index } = locate(single(nodes, n, op), n, op);
      removeItem(parent, key, index);
      return;
    }
    case 'replace': {
      const { parent, key, index } = locate(single(nodes, n, op), n, op);
      if (index !== null) {
        (parent[key] as unknown[])[index] = op.value;
        return;
      }
      const node = nodes[0] as PathNode;
      const name = node.propName ?? key;
      const isChoice = key !== name;
      Reflect.deleteProperty(parent, key);
      parent[isChoice && op.valueType ? `${name}${capitalize(op.valueType)}` : key] = op.value;
      return;
    }
    case 'move': {
      const { list } = listAt(resource, nodes, n, op);
      const { source = 0, destination = 0 } = op;
      if (source >= list.length || destination >= list.length)
        throw failed(n, op, `source ${source} and destination ${destination} must be below ${list.length}`);
      const [item] = list.splice(source, 1);
      list.splice(destination, 0, item);
      return;
    }
  }
}

/**
 * Applies a FHIRPath Patch to a copy of `resource`. A malformed Parameters is a 400 naming the
 * parameter; an operation that does not fit the resource is a 422.
 */
export function applyFhirPathPatch(resource: Resource, patch: Parameters): Resource {
  const parameters = patch.parameter ?? [];
  if (parameters.length === 0)
    throw badRequest('The FHIRPath Patch has no operations', 'Parameters.parameter');
  const operations = parameters.map(parseOperation);
  const copy = structuredClone(resource);
  operations.forEach((op, n) => {
    applyOperation(copy, op, n);
  });
  return copy;
}
