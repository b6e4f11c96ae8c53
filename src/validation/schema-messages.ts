import type { Issue } from '../errors.js';
import { pointerToExpression } from './expression.js';

/** The part of an Ajv error object the generated validators produce that we read. */
export interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

const primitiveNames: Record<string, string> = {
  date: 'date (YYYY, YYYY-MM or YYYY-MM-DD)',
  dateTime: 'dateTime (YYYY-MM-DD, or with a time: YYYY-MM-DDThh:mm:ss+zz:zz)',
  instant: 'instant (YYYY-MM-DDThh:mm:ss.sss+zz:zz, time zone required)',
  time: 'time (hh:mm:ss)',
  id: 'id (1-64 characters: letters, digits, "-" and ".")',
  code: 'code (no leading, trailing or double whitespace)',
  uri: 'uri (no whitespace)',
  url: 'url (no whitespace)',
  canonical: 'canonical (no whitespace)',
  oid: 'oid (urn:oid:…)',
  uuid: 'uuid (urn:uuid:…)',
  base64Binary: 'base64Binary',
  string: 'string (must not be empty)',
  markdown: 'markdown (must not be empty)',
};

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Reads the value an error points at, for a message the sender can act on. */
export function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

/** One Ajv error → one OperationOutcome issue whose `expression` names the element. */
export function issueForSchemaError(error: SchemaError, root: string, resource?: unknown): Issue {
  const at = pointerToExpression(error.instancePath, root);
  const value = resource === undefined ? undefined : valueAt(resource, error.instancePath);
  const shown = value === undefined ? '' : ` ${describe(value)}`;
  const issue = (code: Issue['code'], diagnostics: string, expression = at): Issue => ({
    severity: 'error',
    code,
    diagnostics,
    expression: [expression],
  });
  const primitive = /#\/definitions\/([a-zA-Z0-9]+)\/(pattern|fhirCalendar)$/.exec(error.schemaPath)?.[1];
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(error.params.additionalProperty);
      return issue('structure', `Unknown element '${name}'`, `${at}.${name}`);
    }
    case 'fhirMandatory':
    case 'required': {
      const name = String(error.params.missingProperty);
      return issue('required', `Missing required element '${name}'`, `${at}.${name}`);
    }
    case 'enum':
      return issue(
        'code-invalid',
        `Value${shown} is not one of: ${(error.params.allowedValues as unknown[]).map(String).join(', ')}`,
      );
    case 'const':
      return issue('value', `Value${shown} must be ${describe(error.params.allowedValue)}`);
    case 'type':
      return issue(
        'structure',
        `Value${shown} has the wrong JSON type: expected ${String(error.params.type)}`,
      );
    case 'pattern':
      return issue(
        'value',
        primitive && primitiveNames[primitive]
          ? `Value${shown} is not a valid ${primitiveNames[primitive]}`
          : `Value${shown} does not have the format this element requires`,
      );
    case 'fhirCalendar':
      return issue('value', `Value${shown} is not a real calendar date`);
    case 'fhirReference':
      return issue('value', `Reference${shown} ${error.message ?? 'is not valid'}`);
    case 'fhirChoice': {
      const names = String(error.params.names);
      return issue('structure', `Only one of ${names} may be present`, `${at}.${names}`);
    }
    case 'minimum':
    case 'maximum':
      return issue('value', `Value${shown} ${error.message ?? 'is out of range'} (32-bit integer range)`);
    default:
      return issue('invalid', `Value${shown} ${error.message ?? 'is invalid'}`);
  }
}
