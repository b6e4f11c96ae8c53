import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestSecurity,
} from 'fhir/r4.js';
import { restResourceTypes } from '../fhir/element-tables.js';
import { searchParameters } from '../search/parameters.js';
import type { SearchParamType } from '../search/types.js';

/** Parameter types the search engine answers; special (`near`) is refused with 400. */
export const searchableTypes: ReadonlySet<SearchParamType> = new Set([
  'number',
  'date',
  'string',
  'token',
  'reference',
  'quantity',
  'uri',
  'composite',
]);

export interface ServerFacts {
  baseUrl: string;
  version: string;
  /** When this server instance started (CapabilityStatement.date). */
  started: Date;
  /** Profiles Ferry can check, by the type they constrain (CapabilityStatement.rest.resource.supportedProfile). */
  profiles?: Readonly<Record<string, readonly string[]>>;
  /** How clients authorize (CapabilityStatement.rest.security). */
  security?: CapabilityStatementRestSecurity;
}

/**
 * R4 capabilitystatement.html: what this server really implements, and no more. Built once at
 * start; each feature adds its interactions here when it lands.
 */
export function capabilityStatement(facts: ServerFacts): CapabilityStatement {
  const resource = (type: string): CapabilityStatementRestResource => {
    const params = [...searchParameters(type).values()].filter((p) => searchableTypes.has(p.type));
    const references = params.filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`);
    return {
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      ...(facts.profiles?.[type]?.length ? { supportedProfile: [...facts.profiles[type]] } : {}),
      interaction: [
        { code: 'read' },
        { code: 'vread' },
        { code: 'update' },
        { code: 'patch' },
        { code: 'delete' },
        { code: 'history-instance' },
        { code: 'history-type' },
        { code: 'create' },
        { code: 'search-type' },
      ],
      searchParam: params.map((p) => ({
        name: p.code,
        definition: p.url,
        type: p.type as 'string',
      })),
      searchInclude: references.length > 0 ? ['*', ...references] : [],
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'full-support',
      conditionalUpdate: true,
      conditionalDelete: 'multiple',
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
      ],
    };
  };
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: facts.started.toISOString(),
    publisher: 'Ferry',
    kind: 'instance',
    software: { name: 'Ferry', version: facts.version },
    implementation: { description: 'Ferry FHIR R4 gateway', url: facts.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        ...(facts.security ? { security: facts.security } : {}),
        resource: restResourceTypes().map(resource),
        interaction: [
          { code: 'transaction' },
          { code: 'batch' },
          { code: 'history-system' },
          { code: 'search-system' },
        ],
        searchParam: [
          { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
          {
            name: '_lastUpdated',
            type: 'date',
            definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated',
          },
        ],
      },
    ],
  };
}
