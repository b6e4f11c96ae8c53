import type { CapabilityStatementRestSecurity } from 'fhir/r4.js';
import type { AuthEndpoints } from './tokens.js';

/**
 * What Ferry tells clients about its authorization server: the SMART configuration document
 * (SMART App Launch 2.x conformance, `.well-known/smart-configuration`) and the security part of
 * the CapabilityStatement. Ferry serves backend (client_credentials) clients only.
 */
export function smartConfiguration(endpoints: AuthEndpoints): Record<string, unknown> {
  return {
    issuer: endpoints.issuer,
    jwks_uri: endpoints.jwksUrl,
    token_endpoint: endpoints.tokenUrl,
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    grant_types_supported: ['client_credentials'],
    scopes_supported: [
      'system/*.rs',
      'system/*.cruds',
      'system/*.read',
      'system/*.write',
      'system/*.*',
      'user/*.rs',
      'user/*.cruds',
      'patient/*.rs',
      'patient/*.cruds',
      'system/AuditEvent.rs',
    ],
    response_types_supported: ['token'],
    capabilities: [
      'client-confidential-asymmetric',
      'client-confidential-symmetric',
      'permission-v1',
      'permission-v2',
      'permission-patient',
      'permission-user',
    ],
    code_challenge_methods_supported: [],
  };
}

/** CapabilityStatement.rest.security: SMART-on-FHIR with the token endpoint (oauth-uris extension). */
export function capabilitySecurity(endpoints: AuthEndpoints): CapabilityStatementRestSecurity {
  return {
    cors: false,
    service: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
        ],
        text: 'OAuth2 bearer tokens (SMART Backend Services: client_credentials)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [{ url: 'token', valueUri: endpoints.tokenUrl }],
      },
    ],
    description:
      'Every request but metadata and .well-known needs an access token from the token endpoint. ' +
      'Scopes v1 and v2; reading AuditEvent needs a scope that names it.',
  };
}
