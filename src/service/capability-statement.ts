import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4.js';
import { restResourceTypes } from '../fhir/element-tables.js';

export interface ServerFacts {
  baseUrl: string;
  version: string;
  /** When this server instance started (CapabilityStatement.date). */
  started: Date;
}

/**
 * R4 capabilitystatement.html: what this server really implements, and no more. Built once at
 * start; each feature adds its interactions here when it lands.
 */
export function capabilityStatement(facts: ServerFacts): CapabilityStatement {
  const resource = (type: string): CapabilityStatementRestResource => ({
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: [
      { code: 'read' },
      { code: 'vread' },
      { code: 'update' },
      { code: 'patch' },
      { code: 'delete' },
      { code: 'history-instance' },
      { code: 'history-type' },
      { code: 'create' },
    ],
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: false,
    conditionalRead: 'full-support',
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
  });
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
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        resource: restResourceTypes().map(resource),
        interaction: [{ code: 'history-system' }],
      },
    ],
  };
}
