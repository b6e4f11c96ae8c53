import { randomUUID } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { KeyRing } from './keys.js';
import type { Principal } from './principal.js';
import { splitScopes } from './scopes.js';

/**
 * Access tokens: the JWTs Ferry issues (signed with its KeyRing) and, when configured, those of
 * an outside authorization server (verified against its JWKS). Both become a Principal.
 */

/** Where Ferry's authorization server lives, derived from the public FHIR base. */
export interface AuthEndpoints {
  /** The `iss` of Ferry's tokens, e.g. https://host/auth. */
  issuer: string;
  tokenUrl: string;
  jwksUrl: string;
  /** The `aud` of Ferry's tokens: the FHIR base. */
  audience: string;
}

export function authEndpoints(baseUrl: string): AuthEndpoints {
  const root = baseUrl.replace(/\/fhir\/?$/, '');
  return {
    issuer: `${root}/auth`,
    tokenUrl: `${root}/auth/token`,
    jwksUrl: `${root}/auth/jwks`,
    audience: baseUrl,
  };
}

export interface TokenRequest {
  clientId: string;
  scopes: string[];
  patient?: string;
  ttlSeconds: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  jti: string;
}

/** Signs an access token with the ring's current key. */
export async function issueToken(
  ring: KeyRing,
  endpoints: AuthEndpoints,
  request: TokenRequest,
): Promise<IssuedToken> {
  const { kid, alg, privateKey } = ring.signingKey();
  const jti = randomUUID();
  const claims: JWTPayload & { scope: string; client_id: string; patient?: string } = {
    scope: request.scopes.join(' '),
    client_id: request.clientId,
  };
  if (request.patient !== undefined) claims.patient = request.patient;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(endpoints.issuer)
    .setAudience(endpoints.audience)
    .setSubject(request.clientId)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${request.ttlSeconds}s`)
    .setJti(jti)
    .sign(privateKey);
  return { token, expiresIn: request.ttlSeconds, jti };
}

/** Why a token was refused, in words for the `error_description` (never the token itself). */
export class InvalidTokenError extends Error {
  constructor(
    message: string,
    /** The OperationOutcome issue code that fits: expired, or security. */
    readonly issueCode: 'expired' | 'security' = 'security',
  ) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

/** An outside authorization server whose tokens are accepted too. */
export interface OutsideIssuer {
  issuer: string;
  jwksUri: string;
}

function principalOf(payload: JWTPayload): Principal {
  const claims = payload as JWTPayload & {
    scope?: unknown;
    scp?: unknown;
    client_id?: unknown;
    azp?: unknown;
    patient?: unknown;
    fhirUser?: unknown;
    purpose_of_use?: unknown;
  };
  const scopes = Array.isArray(claims.scp)
    ? claims.scp.filter((s): s is string => typeof s === 'string')
    : splitScopes(typeof claims.scope === 'string' ? claims.scope : undefined);
  const clientId = [claims.client_id, claims.azp, claims.sub].find((v): v is string => typeof v === 'string');
  if (clientId === undefined)
    throw new InvalidTokenError('the token names no client (client_id, azp or sub)');
  const principal: Principal = { clientId, scopes };
  if (typeof claims.patient === 'string') principal.patient = claims.patient.replace(/^Patient\//, '');
  if (typeof claims.fhirUser === 'string') principal.user = claims.fhirUser;
  else if (typeof claims.sub === 'string' && claims.sub !== clientId) principal.user = claims.sub;
  const purpose = claims.purpose_of_use;
  if (typeof purpose === 'string') principal.purposeOfUse = [purpose];
  else if (Array.isArray(purpose))
    principal.purposeOfUse = purpose.filter((p): p is string => typeof p === 'string');
  if (typeof payload.jti === 'string') principal.tokenId = payload.jti;
  return principal;
}

function describe(error: unknown): InvalidTokenError {
  if (error instanceof InvalidTokenError) return error;
  if (error instanceof errors.JWTExpired) return new InvalidTokenError('the token has expired', 'expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new InvalidTokenError('the token is not valid yet');
    return new InvalidTokenError(`the token's "${error.claim}" claim is not accepted here`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return new InvalidTokenError('the token signature does not verify');
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new InvalidTokenError('the token is signed with an algorithm not accepted here');
  if (error instanceof errors.JWKSNoMatchingKey)
    return new InvalidTokenError('the token is signed by a key not known here');
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return new InvalidTokenError('the token is not a well-formed signed JWT');
  if (error instanceof errors.JOSEError) return new InvalidTokenError('the token cannot be verified');
  return new InvalidTokenError('the token is not a well-formed signed JWT');
}

/**
 * Verifies access tokens. Keys are cached (imported once, per `kid`); tokens are not: each one
 * is checked for signature, issuer, audience and lifetime every time.
 */
export class TokenVerifier {
  private readonly outside?: { issuer: string; keys: JWTVerifyGetKey };
  private readonly ownKey: JWTVerifyGetKey;

  constructor(
    ring: KeyRing,
    private readonly endpoints: AuthEndpoints,
    outside?: OutsideIssuer,
  ) {
    this.ownKey = async (header) => {
      const key = await ring.verificationKey(header.kid);
      if (!key) throw new errors.JWKSNoMatchingKey();
      return key;
    };
    if (outside) {
      this.outside = {
        issuer: outside.issuer,
        keys: createRemoteJWKSet(new URL(outside.jwksUri), {
          cacheMaxAge: 10 * 60_000,
          cooldownDuration: 30_000,
        }),
      };
    }
  }

  async verify(token: string): Promise<Principal> {
    try {
      let issuer: unknown;
      try {
        issuer = decodeJwt(token).iss;
      } catch {
        throw new InvalidTokenError('the token is not a well-formed signed JWT');
      }
      if (issuer === this.endpoints.issuer) {
        const { payload } = await jwtVerify(token, this.ownKey, {
          issuer: this.endpoints.issuer,
          audience: this.endpoints.audience,
          algorithms: ['RS384'],
          requiredClaims: ['exp', 'jti'],
          clockTolerance: 5,
        });
        return principalOf(payload);
      }
      if (this.outside && issuer === this.outside.issuer) {
        const { payload } = await jwtVerify(token, this.outside.keys, {
          issuer: this.outside.issuer,
          algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256', 'PS384', 'EdDSA'],
          requiredClaims: ['exp'],
          clockTolerance: 5,
        });
        const aud = payload.aud;
        if (aud !== undefined && !(Array.isArray(aud) ? aud : [aud]).includes(this.endpoints.audience)) {
          throw new InvalidTokenError(`the token's audience is not ${this.endpoints.audience}`);
        }
        return principalOf(payload);
      }
      throw new InvalidTokenError('the token was not issued by an authorization server trusted here');
    } catch (error) {
      throw describe(error);
    }
  }
}
