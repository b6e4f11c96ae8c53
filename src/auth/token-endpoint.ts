import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import { RecordExistsError, type ResourceStore } from '../store/store.js';
import { readClient, secretMatches, type RegisteredClient } from './clients.js';
import type { KeyRing } from './keys.js';
import { grantScopes, parseScope, splitScopes } from './scopes.js';
import { issueToken, type AuthEndpoints } from './tokens.js';

/**
 * The token endpoint (RFC 6749 §3.2) for the `client_credentials` grant, with the client
 * authentication of SMART Backend Services (`private_key_jwt`: a signed JWT assertion, RFC 7523)
 * or a client secret (`client_secret_basic` / `client_secret_post`), and the JWKS of Ferry's keys.
 */

type OAuthErrorCode =
  'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';

/** An RFC 6749 §5.2 error response. */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    message: string,
    /** Set when the client tried HTTP Basic, so the 401 can ask for it again. */
    readonly basic = false,
    /** The HTTP status, when not the one the code implies (413: a body too large). */
    private readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'OAuthError';
  }

  get status(): number {
    return this.httpStatus ?? (this.code === 'invalid_client' ? 401 : 400);
  }
}

export const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Client assertion algorithms SMART Backend Services names. */
const assertionAlgorithms = ['RS384', 'ES384'];
/** The longest an assertion may live (SMART: exp no more than five minutes in the future). */
const maxAssertionSeconds = 300;
const clockSkewSeconds = 5;

export interface TokenEvents {
  issued?(req: Request, client: RegisteredClient, scopes: string[], jti: string): Promise<void> | void;
  refused?(req: Request, clientId: string | undefined, error: OAuthError): Promise<void> | void;
}

export interface TokenEndpointOptions {
  store: ResourceStore;
  keys: KeyRing;
  endpoints: AuthEndpoints;
  /** Lifetime of issued access tokens, in seconds. */
  tokenTtlSeconds: number;
  now?: () => number;
  events?: TokenEvents;
}

function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  if (values.length > 1) throw new OAuthError('invalid_request', `the parameter "${name}" is repeated`);
  return values[0];
}

/** Verifies clients: assertions against their keys (with a single-use jti), secrets against their hash. */
class ClientAuthenticator {
  private readonly keySets = new Map<string, { source: string; get: JWTVerifyGetKey }>();

  constructor(private readonly options: TokenEndpointOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The client's keys: its registered JWKS, or its JWKS URL (cached, fetched again on an unknown kid). */
  private keysOf(client: RegisteredClient): JWTVerifyGetKey {
    const source = client.jwksUrl ?? JSON.stringify(client.jwks);
    const known = this.keySets.get(client.id);
    if (known?.source === source) return known.get;
    let get: JWTVerifyGetKey;
    if (client.jwksUrl) {
      get = createRemoteJWKSet(new URL(client.jwksUrl), {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: 30_000,
      });
    } else if (client.jwks) {
      get = createLocalJWKSet(client.jwks);
    } else {
      throw new OAuthError(
        'invalid_client',
        `client "${client.id}" is registered with a secret, not with keys`,
      );
    }
    this.keySets.set(client.id, { source, get });
    return get;
  }

  async byAssertion(form: URLSearchParams): Promise<RegisteredClient> {
    const type = single(form, 'client_assertion_type');
    const assertion = single(form, 'client_assertion');
    if (type !== assertionType) {
      throw new OAuthError('invalid_client', `client_assertion_type must be ${assertionType}`);
    }
    if (!assertion) throw new OAuthError('invalid_client', 'client_assertion is missing');
    let alg: string | undefined;
    let issuer: unknown;
    let subject: unknown;
    try {
      alg = decodeProtectedHeader(assertion).alg;
      ({ iss: issuer, sub: subject } = decodeJwt(assertion));
    } catch {
      throw new OAuthError('invalid_client', 'client_assertion is not a well-formed signed JWT');
    }
    if (alg === undefined || !assertionAlgorithms.includes(alg)) {
      throw new OAuthError(
        'invalid_client',
        `client_assertion is signed with "${String(alg)}"; use ${assertionAlgorithms.join(' or ')}`,
      );
    }
    if (typeof issuer !== 'string' || issuer !== subject) {
      throw new OAuthError(
        'invalid_client',
        'client_assertion must have iss and sub both equal to the client id',
      );
    }
    const bodyClient = single(form, 'client_id');
    if (bodyClient !== undefined && bodyClient !== issuer) {
      throw new OAuthError('invalid_client', 'client_id does not match the assertion');
    }
    const client = await readClient(this.options.store, issuer);
    if (!client) throw new OAuthError('invalid_client', `client "${issuer.slice(0, 128)}" is not registered`);
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, this.keysOf(client), {
        algorithms: assertionAlgorithms,
        issuer: client.id,
        subject: client.id,
        audience: this.options.endpoints.tokenUrl,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: clockSkewSeconds,
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw new OAuthError(
        'invalid_client',
        `client_assertion: ${assertionProblem(error, this.options.endpoints.tokenUrl)}`,
      );
    }
    const exp = payload.exp as number;
    if (exp * 1000 - this.now() > (maxAssertionSeconds + clockSkewSeconds) * 1000) {
      throw new OAuthError('invalid_client', 'client_assertion expires more than 5 minutes from now');
    }
    try {
      await this.options.store.write({
        versions: [],
        records: [
          {
            namespace: 'assertion-jti',
            key: `${client.id} ${String(payload.jti)}`,
            value: exp,
            ifAbsent: true,
            expiresAt: (exp + clockSkewSeconds) * 1000,
          },
        ],
      });
    } catch (error) {
      if (error instanceof RecordExistsError) {
        throw new OAuthError('invalid_client', 'client_assertion has been used before (its jti is spent)');
      }
      throw error;
    }
    return client;
  }

  async bySecret(id: string, secret: string, basic: boolean): Promise<RegisteredClient> {
    const client = await readClient(this.options.store, id);
    if (!client?.secret || !(await secretMatches(client.secret, secret))) {
      throw new OAuthError('invalid_client', 'unknown client or wrong secret', basic);
    }
    return client;
  }
}

function assertionProblem(error: unknown, tokenUrl: string): string {
  if (error instanceof errors.JWTExpired) return 'it has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return `its aud must be the token URL ${tokenUrl}`;
    return `its "${error.claim}" claim is not accepted (${error.reason})`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key of the client matches its kid';
  if (error instanceof errors.JWKSMultipleMatchingKeys)
    return 'several registered keys match; give the assertion a kid';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not accepted';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid)
    return "the client's JWKS URL could not be read";
  return 'it cannot be verified';
}

/** `Authorization: Basic` credentials, form-urldecoded as RFC 6749 §2.3.1 says. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0)
    throw new OAuthError('invalid_client', 'Basic credentials must be client_id:client_secret', true);
  const unescape = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      throw new OAuthError('invalid_client', 'Basic credentials are not form-urlencoded', true);
    }
  };
  return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
}

function sendError(res: Response, error: OAuthError): void {
  res.status(error.status);
  if (error.status === 401) {
    res.setHeader('WWW-Authenticate', error.basic ? 'Basic realm="ferry"' : 'Bearer realm="ferry"');
  }
  res.setHeader('Cache-Control', 'no-store');
  res.json({ error: error.code, error_description: error.message });
}

/** Why the form parser could not read a token request, by the status it gave (else a 400). */
const unreadableBody: Record<number, string> = {
  413: 'the request body is larger than 64 KB',
  415: 'the request body is in a charset or content encoding not supported',
};

/** The `/auth` router: `POST /auth/token` and `GET /auth/jwks`. */
export function tokenEndpoint(options: TokenEndpointOptions): Router {
  const router = express.Router();
  const clients = new ClientAuthenticator(options);
  const form = express.text({ type: () => true, limit: '64kb' });

  router.get('/jwks', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(options.keys.jwks());
  });

  router.post('/token', form, async (req: Request, res: Response) => {
    let clientId: string | undefined;
    try {
      if (!req.is('application/x-www-form-urlencoded')) {
        throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
      }
      const body = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      const grantType = single(body, 'grant_type');
      if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is missing');
      const basic = basicCredentials(req.headers.authorization);
      let client: RegisteredClient;
      if (body.has('client_assertion') || body.has('client_assertion_type')) {
        if (basic) throw new OAuthError('invalid_request', 'use one client authentication method, not two');
        clientId = single(body, 'client_id');
        client = await clients.byAssertion(body);
      } else if (basic) {
        clientId = basic.id;
        client = await clients.bySecret(basic.id, basic.secret, true);
      } else if (body.has('client_secret')) {
        clientId = single(body, 'client_id');
        if (clientId === undefined) throw new OAuthError('invalid_client', 'client_id is missing');
        client = await clients.bySecret(clientId, single(body, 'client_secret') ?? '', false);
      } else {
        throw new OAuthError(
          'invalid_client',
          'no client authentication: send a client_assertion (private_key_jwt) or a client secret',
        );
      }
      clientId = client.id;
      if (grantType !== 'client_credentials') {
        throw new OAuthError(
          'unsupported_grant_type',
          `grant_type "${grantType.slice(0, 60)}" is not supported; use client_credentials`,
        );
      }
      const requested = splitScopes(single(body, 'scope'));
      if (requested.length === 0) throw new OAuthError('invalid_scope', 'scope is missing');
      const bad = requested.find((s) => s.includes('/') && !s.startsWith('launch/') && !parseScope(s));
      if (bad !== undefined)
        throw new OAuthError('invalid_scope', `"${bad.slice(0, 100)}" is not a valid SMART scope`);
      // patient/ scopes need a patient: only a client bound to one can be granted them
      const granted = grantScopes(requested, client.scope).filter(
        (s) => client.patient !== undefined || !s.startsWith('patient/'),
      );
      if (granted.length === 0) {
        throw new OAuthError(
          'invalid_scope',
          `client "${client.id}" is not registered for any of the requested scopes`,
        );
      }
      const issued = await issueToken(options.keys, options.endpoints, {
        clientId: client.id,
        scopes: granted,
        ttlSeconds: options.tokenTtlSeconds,
        ...(client.patient !== undefined ? { patient: client.patient } : {}),
      });
      await options.events?.issued?.(req, client, granted, issued.jti);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.json({
        access_token: issued.token,
        token_type: 'bearer',
        expires_in: issued.expiresIn,
        scope: granted.join(' '),
        ...(client.patient !== undefined ? { patient: client.patient } : {}),
      });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      await options.events?.refused?.(req, clientId, error);
      sendError(res, error);
    }
  });
  // a body the form parser could not read: a token request refused like any other
  router.use(async (error: unknown, req: Request, res: Response, next: NextFunction) => {
    const failure = error as { status?: unknown; type?: unknown };
    if (req.path !== '/token' || typeof failure.status !== 'number' || typeof failure.type !== 'string') {
      next(error);
      return;
    }
    const reason = unreadableBody[failure.status];
    const refusal = reason
      ? new OAuthError('invalid_request', reason, false, failure.status)
      : new OAuthError('invalid_request', 'the request body could not be read');
    await options.events?.refused?.(req, undefined, refusal);
    sendError(res, refusal);
  });
  return router;
}
