import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startServer, type RunningServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const tokenUrl = 'http://localhost/auth/token';
const outsideIssuer = 'https://idp.example.org';

interface TestKey {
  kid: string;
  alg: 'RS384' | 'ES384';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function testKey(alg: 'RS384' | 'ES384'): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** A signed client assertion as SMART Backend Services describes it; `change` adjusts claims or header. */
async function assertion(
  key: TestKey,
  client: string,
  change: { claims?: Record<string, unknown>; header?: Record<string, unknown>; lifetime?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    jti: randomUUID(),
    iss: client,
    sub: client,
    aud: tokenUrl,
    exp: now + (change.lifetime ?? 240),
    ...change.claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...change.header })
    .sign(key.privateKey);
}

/** A JWT with `alg: none` (RFC 7519 §6): header and claims, no signature. */
function unsecured(claims: Record<string, unknown>): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/** Serves JWKS documents from a local HTTP server, like an outside party would. */
async function jwksServer(): Promise<{ url: string; set(path: string, keys: JWK[]): void; close(): void }> {
  const documents = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const body = documents.get(req.url ?? '');
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(body ?? '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set: (path, keys) => documents.set(path, JSON.stringify({ keys })),
    close: () => server.close(),
  };
}

describe('SMART on FHIR authorization', function () {
  this.timeout(120000);
  let server: RunningServer;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let rsKey: TestKey;
  let esKey: TestKey;
  let outsideKey: TestKey;
  let dir: string;
  let secret: string;
  let portalSecret: string;

  const ferry = async (...args: string[]): Promise<string> =>
    (await promisify(execFile)(process.execPath, [bin, ...args], { env: server.env })).stdout;

  const requestToken = (
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> =>
    fetch(`${server.origin}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });

  const assertionForm = (jwt: string, scope = 'system/Observation.rs'): Record<string, string> => ({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt,
  });

  const get = (path: string, token?: string): Promise<Response> =>
    fetch(`${server.base}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  before(async () => {
    [rsKey, esKey, outsideKey] = await Promise.all([testKey('RS384'), testKey('ES384'), testKey('RS384')]);
    jwks = await jwksServer();
    jwks.set('/outside', [outsideKey.publicJwk]);
    jwks.set('/remote-client', [esKey.publicJwk]);
    server = await startServer({
      FERRY_AUTH_ISSUER: outsideIssuer,
      FERRY_AUTH_JWKS_URI: `${jwks.url}/outside`,
    });
    dir = mkdtempSync(join(tmpdir(), 'ferry-smart-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [rsKey.publicJwk, esKey.publicJwk] }));
    await ferry(
      'clients',
      'add',
      'backend',
      '--scope',
      'system/*.rs system/Observation.c',
      '--jwks-file',
      join(dir, 'jwks.json'),
    );
    await ferry(
      'clients',
      'add',
      'remote',
      '--scope',
      'system/Observation.rs',
      '--jwks-url',
      `${jwks.url}/remote-client`,
    );
    const added = await ferry(
      'clients',
      'add',
      'lab',
      '--scope',
      'system/Observation.cu system/Patient.cu',
      '--secret',
    );
    secret = /client secret[^:]*: (\S+)/.exec(added)?.[1] ?? '';
    const portalAdded = await ferry(
      'clients',
      'add',
      'portal',
      '--scope',
      'patient/*.rs',
      '--secret',
      '--patient',
      'p1',
    );
    portalSecret = /client secret[^:]*: (\S+)/.exec(portalAdded)?.[1] ?? '';

    const category = (code: string) => [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] },
    ];
    const put = async (resource: { resourceType: string; id: string }): Promise<void> => {
      const res = await server.fhir(`/${resource.resourceType}/${resource.id}`, {
        method: 'PUT',
        json: resource,
      });
      assert.ok(res.status === 201 || res.status === 200, await res.text());
    };
    await put({ resourceType: 'Patient', id: 'p1', active: true } as { resourceType: string; id: string });
    await put({ resourceType: 'Patient', id: 'p2', active: true } as { resourceType: string; id: string });
    const obs = (id: string, patient: string, cat: string, extra: object = {}) => ({
      resourceType: 'Observation',
      id,
      status: 'final',
      category: category(cat),
      code: { text: 'potassium' },
      subject: { reference: `Patient/${patient}` },
      ...extra,
    });
    await put(obs('o2', 'p2', 'laboratory'));
    await put(obs('o1', 'p1', 'laboratory', { hasMember: [{ reference: 'Observation/o2' }] }));
    await put(obs('o3', 'p1', 'vital-signs'));
  });

  after(async () => {
    await server.stop();
    jwks.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('discovery', () => {
    it('publishes the SMART configuration under the FHIR base and at the host root', async () => {
      for (const path of ['/fhir/.well-known/smart-configuration', '/.well-known/smart-configuration']) {
        const res = await fetch(`${server.origin}${path}`);
        assert.equal(res.status, 200);
        const config = (await res.json()) as Record<string, unknown>;
        assert.equal(config.token_endpoint, tokenUrl);
        assert.deepEqual(config.grant_types_supported, ['client_credentials']);
        assert.deepEqual(config.token_endpoint_auth_signing_alg_values_supported, ['RS384', 'ES384']);
        assert.ok((config.token_endpoint_auth_methods_supported as string[]).includes('private_key_jwt'));
        assert.ok((config.token_endpoint_auth_methods_supported as string[]).includes('client_secret_basic'));
        for (const c of [
          'client-confidential-asymmetric',
          'client-confidential-symmetric',
          'permission-v1',
          'permission-v2',
        ]) {
          assert.ok((config.capabilities as string[]).includes(c), c);
        }
        assert.equal(typeof config.jwks_uri, 'string');
      }
    });

    it('keeps metadata public and names the token endpoint in its security section', async () => {
      const res = await get('/metadata');
      assert.equal(res.status, 200);
      const statement = (await res.json()) as {
        rest: {
          security: {
            service: { coding: { code: string }[] }[];
            extension: { extension: { url: string; valueUri: string }[] }[];
          };
        }[];
      };
      const security = statement.rest[0]?.security;
      assert.equal(security?.service[0]?.coding[0]?.code, 'SMART-on-FHIR');
      assert.equal(security.extension[0]?.extension[0]?.valueUri, tokenUrl);
    });

    it('publishes its signing keys, public parts only', async () => {
      const body = (await (await fetch(`${server.origin}/auth/jwks`)).json()) as { keys: JWK[] };
      assert.ok(body.keys.length >= 1);
      for (const key of body.keys) {
        assert.equal(key.d, undefined);
        assert.equal(key.alg, 'RS384');
      }
    });
  });

  describe('the token endpoint', () => {
    it('issues a token for an RS384 assertion, taking the client id from it', async () => {
      const res = await requestToken(assertionForm(await assertion(rsKey, 'backend')));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.token_type, 'bearer');
      assert.equal(body.scope, 'system/Observation.rs');
      assert.equal(typeof body.expires_in, 'number');
      const read = await get('/Observation/o1', body.access_token as string);
      assert.equal(read.status, 200);
    });

    it('issues a token for an ES384 assertion with the client id in the body too', async () => {
      const res = await requestToken({
        ...assertionForm(await assertion(esKey, 'backend')),
        client_id: 'backend',
      });
      assert.equal(res.status, 200);
    });

    it('finds the key of a client registered with a JWKS URL', async () => {
      const res = await requestToken(assertionForm(await assertion(esKey, 'remote')));
      assert.equal(res.status, 200, await res.clone().text());
    });

    it('accepts a client secret sent with HTTP Basic and in the body', async () => {
      const basic = Buffer.from(`lab:${secret}`).toString('base64');
      const viaHeader = await requestToken(
        { grant_type: 'client_credentials', scope: 'system/Observation.cu' },
        { authorization: `Basic ${basic}` },
      );
      assert.equal(viaHeader.status, 200);
      const viaBody = await requestToken({
        grant_type: 'client_credentials',
        scope: 'system/Patient.c',
        client_id: 'lab',
        client_secret: secret,
      });
      assert.equal(viaBody.status, 200);
      assert.equal(((await viaBody.json()) as { scope: string }).scope, 'system/Patient.c');
    });

    it('narrows the scope to what the client is registered for and refuses an escalation', async () => {
      const narrowed = await requestToken(
        assertionForm(await assertion(rsKey, 'backend'), 'system/Observation.cruds system/Patient.rs'),
      );
      assert.equal(
        ((await narrowed.json()) as { scope: string }).scope,
        'system/Observation.rs system/Observation.c system/Patient.rs',
      );
      const escalated = await requestToken(
        assertionForm(await assertion(rsKey, 'backend'), 'system/Patient.d'),
      );
      assert.equal(escalated.status, 400);
      assert.equal(((await escalated.json()) as { error: string }).error, 'invalid_scope');
    });

    it('gives a client bound to a patient that patient as launch context', async () => {
      const res = await requestToken({
        grant_type: 'client_credentials',
        scope: 'patient/Observation.rs system/Patient.rs',
        client_id: 'portal',
        client_secret: portalSecret,
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { scope: string; patient: string; access_token: string };
      assert.equal(body.patient, 'p1');
      assert.equal(body.scope, 'patient/Observation.rs');
      assert.equal((await get('/Observation/o1', body.access_token)).status, 200);
      assert.equal((await get('/Observation/o2', body.access_token)).status, 404);
    });

    const refusals: [string, () => Promise<Record<string, string>>, string][] = [
      [
        'a replayed jti',
        async () => assertionForm(await assertion(rsKey, 'backend', { claims: { jti: 'once' } })),
        'used before',
      ],
      [
        'an assertion living longer than 5 minutes',
        async () => assertionForm(await assertion(rsKey, 'backend', { lifetime: 600 })),
        '5 minutes',
      ],
      [
        'an expired assertion',
        async () => assertionForm(await assertion(rsKey, 'backend', { lifetime: -60 })),
        'expired',
      ],
      [
        'the wrong audience',
        async () =>
          assertionForm(await assertion(rsKey, 'backend', { claims: { aud: 'https://elsewhere' } })),
        'aud',
      ],
      [
        'an unknown kid',
        async () => assertionForm(await assertion(await testKey('RS384'), 'backend')),
        'kid',
      ],
      [
        'a key the client did not register, under a registered kid',
        async () =>
          assertionForm(await assertion({ ...(await testKey('RS384')), kid: rsKey.kid }, 'backend')),
        'signature',
      ],
      [
        'an unregistered client',
        async () => assertionForm(await assertion(rsKey, 'stranger')),
        'not registered',
      ],
      [
        'an HS256 assertion',
        async () =>
          assertionForm(
            await new SignJWT({ jti: randomUUID() })
              .setProtectedHeader({ alg: 'HS256' })
              .setIssuer('backend')
              .setSubject('backend')
              .setAudience(tokenUrl)
              .setExpirationTime('2m')
              .sign(new TextEncoder().encode('a shared secret that is long enough')),
          ),
        'HS256',
      ],
      [
        'an alg none assertion',
        () =>
          Promise.resolve(
            assertionForm(
              unsecured({
                iss: 'backend',
                sub: 'backend',
                aud: tokenUrl,
                jti: randomUUID(),
                exp: Math.floor(Date.now() / 1000) + 60,
              }),
            ),
          ),
        'none',
      ],
      [
        'iss differing from sub',
        async () => assertionForm(await assertion(rsKey, 'backend', { claims: { sub: 'remote' } })),
        'iss and sub',
      ],
      [
        'a wrong client secret',
        () =>
          Promise.resolve({
            grant_type: 'client_credentials',
            scope: 'system/Observation.c',
            client_id: 'lab',
            client_secret: 'nope',
          }),
        'secret',
      ],
    ];
    for (const [what, form, reason] of refusals) {
      it(`refuses ${what} with invalid_client`, async () => {
        const body = await form();
        if (what === 'a replayed jti') assert.equal((await requestToken(body)).status, 200);
        const res = await requestToken(body);
        assert.equal(res.status, 401);
        const error = (await res.json()) as { error: string; error_description: string };
        assert.equal(error.error, 'invalid_client');
        assert.match(error.error_description, new RegExp(reason));
      });
    }

    it('refuses other grant types and requests that are not forms', async () => {
      const grant = await requestToken({
        ...assertionForm(await assertion(rsKey, 'backend')),
        grant_type: 'password',
      });
      assert.equal(((await grant.json()) as { error: string }).error, 'unsupported_grant_type');
      const json = await fetch(`${server.origin}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(((await json.json()) as { error: string }).error, 'invalid_request');
    });
  });

  describe('the resource server', () => {
    const challenge = async (res: Response): Promise<string> => {
      assert.equal(res.status, 401);
      const header = res.headers.get('www-authenticate') ?? '';
      assert.match(header, /^Bearer realm="ferry", error="invalid_token"/);
      const outcome = (await res.json()) as { resourceType: string };
      assert.equal(outcome.resourceType, 'OperationOutcome');
      return header;
    };
    const outside = (claims: Record<string, unknown>, key = outsideKey) =>
      new SignJWT({
        scope: 'system/*.rs',
        client_id: 'idp-client',
        iss: outsideIssuer,
        aud: 'http://localhost/fhir',
        iat: Math.floor(Date.now() / 1000),
        ...claims,
      })
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .sign(key.privateKey);
    const hour = () => Math.floor(Date.now() / 1000) + 3600;

    it('refuses a request without a token, for every path but metadata and .well-known', async () => {
      for (const path of ['/Observation/o1', '/Observation', '/_history', '/Patient/p1/Observation']) {
        await challenge(await get(path));
      }
      const ingest = await fetch(`${server.origin}/ingest/hl7v2`, { method: 'POST', body: 'MSH|' });
      assert.equal(ingest.status, 401);
    });

    it('refuses malformed, forged, expired, not yet valid and misaddressed tokens', async () => {
      await challenge(await get('/Observation/o1', 'not-a-jwt'));
      const [head, body] = server.token.split('.');
      await challenge(await get('/Observation/o1', `${head}.${body}.${'A'.repeat(342)}`));
      const forgedBody = Buffer.from(
        JSON.stringify({
          ...JSON.parse(Buffer.from(body ?? '', 'base64url').toString()),
          scope: 'system/*.cruds system/AuditEvent.cruds',
        }),
      ).toString('base64url');
      await challenge(await get('/Observation/o1', `${head}.${forgedBody}.${server.token.split('.')[2]}`));
      assert.match(
        await challenge(await get('/Observation/o1', await outside({ exp: hour() - 7200 }))),
        /expired/,
      );
      assert.match(
        await challenge(await get('/Observation/o1', await outside({ exp: hour(), nbf: hour() }))),
        /not valid yet/,
      );
      assert.match(
        await challenge(
          await get('/Observation/o1', await outside({ exp: hour(), aud: 'https://other/fhir' })),
        ),
        /audience/,
      );
      const stranger = await testKey('RS384');
      assert.match(
        await challenge(await get('/Observation/o1', await outside({ exp: hour() }, stranger))),
        /key not known/,
      );
      const own = await new SignJWT({ scope: 'system/*.cruds', client_id: 'x' })
        .setProtectedHeader({ alg: 'RS384', kid: 'made-up' })
        .setIssuer('http://localhost/auth')
        .setAudience('http://localhost/fhir')
        .setExpirationTime('1h')
        .setJti('j')
        .sign(stranger.privateKey);
      await challenge(await get('/Observation/o1', own));
      await challenge(
        await get(
          '/Observation/o1',
          unsecured({
            iss: 'http://localhost/auth',
            aud: 'http://localhost/fhir',
            scope: 'system/*.cruds',
            exp: hour(),
          }),
        ),
      );
    });

    it('accepts a valid token of the configured outside authorization server', async () => {
      const res = await get('/Observation/o1', await outside({ exp: hour() }));
      assert.equal(res.status, 200);
    });

    it('answers 403 insufficient_scope when the token lacks the interaction letter', async () => {
      const readOnly = await server.mintToken('system/Observation.r');
      const cases: [string, RequestInit][] = [
        ['/Observation?status=final', {}],
        [
          '/Observation',
          { method: 'POST', body: '{"resourceType":"Observation","status":"final","code":{"text":"x"}}' },
        ],
        [
          '/Observation/o1',
          {
            method: 'PUT',
            body: '{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}',
          },
        ],
        ['/Observation/o1', { method: 'DELETE' }],
        ['/Patient/p1', {}],
        ['/AuditEvent', {}],
      ];
      for (const [path, init] of cases) {
        const res = await fetch(`${server.base}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${readOnly}`, 'content-type': 'application/fhir+json' },
        });
        assert.equal(res.status, 403, `${init.method ?? 'GET'} ${path}`);
        assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
        assert.equal(((await res.json()) as { issue: { code: string }[] }).issue[0]?.code, 'forbidden');
      }
      assert.equal((await get('/Observation/o1', readOnly)).status, 200);
      const patch = await fetch(`${server.base}/Observation/o1`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${readOnly}`, 'content-type': 'application/json-patch+json' },
        body: '[{"op":"replace","path":"/status","value":"amended"}]',
      });
      assert.equal(patch.status, 403);
      const searchOnly = await server.mintToken('system/Observation.s');
      for (const path of [
        '/Observation/o1',
        '/Observation/o1/_history',
        '/Observation/o1/_history/1',
        '/Observation/_history',
      ]) {
        assert.equal((await get(path, searchOnly)).status, 403, path);
      }
      assert.equal((await get('/Observation?status=final', searchOnly)).status, 200);
    });

    it('checks each entry of a batch on its own', async () => {
      const token = await server.mintToken('system/Observation.rs');
      const res = await fetch(server.base, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { request: { method: 'GET', url: 'Observation/o1' } },
            { request: { method: 'GET', url: 'Patient/p1' } },
            { request: { method: 'DELETE', url: 'Observation/o1' } },
          ],
        }),
      });
      const bundle = (await res.json()) as { entry: { response: { status: string } }[] };
      assert.deepEqual(
        bundle.entry.map((e) => e.response.status.slice(0, 3)),
        ['200', '403', '403'],
      );
    });

    it('refuses a transaction whose entries the token cannot all perform, writing nothing', async () => {
      const token = await server.mintToken('system/Observation.cruds');
      const res = await fetch(server.base, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              request: { method: 'PUT', url: 'Observation/t1' },
              resource: { resourceType: 'Observation', id: 't1', status: 'final', code: { text: 'x' } },
            },
            {
              request: { method: 'PUT', url: 'Patient/t1' },
              resource: { resourceType: 'Patient', id: 't1' },
            },
          ],
        }),
      });
      assert.equal(res.status, 403);
      assert.equal((await server.fhir('/Observation/t1')).status, 404);
    });

    it('reads the audit trail only with a scope naming AuditEvent', async () => {
      assert.equal((await get('/AuditEvent', await server.mintToken('system/*.cruds'))).status, 403);
      assert.equal((await get('/AuditEvent', await server.mintToken('system/AuditEvent.rs'))).status, 200);
    });

    it('refuses a token in the query string', async () => {
      const res = await get(`/Observation/o1?access_token=${server.token}`);
      assert.equal(res.status, 401);
    });
  });

  describe('the audit trail of authorization', () => {
    interface Event {
      type: { code: string };
      subtype?: { code: string }[];
      outcome: string;
      outcomeDesc?: string;
      agent: { who?: { identifier?: { value?: string } }; altId?: string }[];
    }
    const trail = async (): Promise<Event[]> => {
      const bundle = (await (await server.fhir('/AuditEvent?_count=1000&_sort=-date')).json()) as {
        entry?: { resource: Event }[];
      };
      return (bundle.entry ?? []).map((e) => e.resource);
    };

    it('records every token issued and refused, and every request refused', async () => {
      const issued = await requestToken(assertionForm(await assertion(rsKey, 'backend')));
      assert.equal(issued.status, 200);
      const refused = await requestToken(assertionForm(await assertion(rsKey, 'stranger')));
      assert.equal(refused.status, 401);
      assert.equal((await get('/Observation/o1', 'forged')).status, 401);
      assert.equal((await get('/Patient/p1', await server.mintToken('system/Observation.rs'))).status, 403);
      assert.equal((await get(`/Observation/o1?access_token=${server.token}`)).status, 401);
      const events = await trail();
      const tokens = events.filter((e) => e.type.code === '110114');
      assert.ok(
        tokens.some((e) => e.outcome === '0'),
        'a token issued',
      );
      assert.ok(
        tokens.some((e) => e.outcome === '4' && /invalid_client/.test(e.outcomeDesc ?? '')),
        'a token refused',
      );
      assert.ok(
        events.some(
          (e) => e.outcome === '4' && /Access token refused|not a well-formed/.test(e.outcomeDesc ?? ''),
        ),
        'a request with a forged token refused',
      );
      assert.ok(
        events.some((e) => e.outcome === '4' && /do not allow read on Patient/.test(e.outcomeDesc ?? '')),
        'a request beyond the scopes refused',
      );
      assert.ok(
        events.some((e) => e.outcome === '4' && /not the URL/.test(e.outcomeDesc ?? '')),
        'a token in the URL refused',
      );
    });

    it('records a token minted with ferry token, naming who minted it and for which client', async () => {
      await server.mintToken('system/Observation.rs', { client: 'minted-here', patient: 'p1' });
      const minted = (await trail()).filter(
        (e) => e.type.code === '110114' && e.agent[0]?.who?.identifier?.value === 'minted-here',
      );
      assert.equal(minted.length, 1);
      const [event] = minted;
      assert.ok(event);
      assert.equal(event.outcome, '0');
      assert.match(event.agent[0]?.altId ?? '', /\(ferry token\)$/);
      assert.equal(event.outcomeDesc, 'token issued: system/Observation.rs (Patient/p1)');
    });

    it('refuses and records a token request whose body cannot be read', async () => {
      const huge = await requestToken({ grant_type: 'client_credentials', scope: 'x'.repeat(70_000) });
      assert.equal(huge.status, 413);
      assert.deepEqual(await huge.json(), {
        error: 'invalid_request',
        error_description: 'the request body is larger than 64 KB',
      });
      const odd = await fetch(`${server.origin}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=ebcdic' },
        body: 'grant_type=client_credentials',
      });
      assert.equal(odd.status, 415);
      assert.equal(((await odd.json()) as { error: string }).error, 'invalid_request');
      const refused = (await trail()).filter((e) => e.type.code === '110114' && e.outcome === '4');
      assert.ok(
        refused.some((e) => /larger than 64 KB/.test(e.outcomeDesc ?? '')),
        'the large body on record',
      );
      assert.ok(
        refused.some((e) => /charset or content encoding/.test(e.outcomeDesc ?? '')),
        'the charset on record',
      );
    });
  });

  describe('the patient compartment', () => {
    let portal: string;
    before(async () => {
      portal = await server.mintToken('patient/*.cruds', { patient: 'p1' });
    });
    const ids = async (res: Response): Promise<string[]> => {
      assert.equal(res.status, 200);
      const bundle = (await res.json()) as { entry?: { resource: { resourceType: string; id: string } }[] };
      return (bundle.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    };

    it('reads its own patient and data, and answers 404 for another patient’s', async () => {
      assert.equal((await get('/Patient/p1', portal)).status, 200);
      assert.equal((await get('/Observation/o1', portal)).status, 200);
      assert.equal((await get('/Patient/p2', portal)).status, 404);
      const other = await get('/Observation/o2', portal);
      assert.equal(other.status, 404);
      assert.equal((await get('/Observation/does-not-exist', portal)).status, 404);
      assert.equal((await get('/Observation/o2/_history/1', portal)).status, 404);
      assert.equal((await get('/Observation/o2/_history', portal)).status, 404);
    });

    it('searches only within the compartment, in the store query', async () => {
      assert.deepEqual(await ids(await get('/Observation', portal)), ['Observation/o1', 'Observation/o3']);
      assert.deepEqual(await ids(await get('/Observation?subject=Patient/p2', portal)), []);
      assert.deepEqual(await ids(await get('/Patient', portal)), ['Patient/p1']);
      const counted = (await (await get('/Observation?_total=accurate&_count=1', portal)).json()) as {
        total?: number;
      };
      assert.equal(counted.total, 2);
      assert.deepEqual(await ids(await get('/Patient/p2/Observation', portal)), []);
    });

    it('leaves other patients’ resources out of _include and _revinclude', async () => {
      assert.deepEqual(await ids(await get('/Observation?_id=o1&_include=Observation:has-member', portal)), [
        'Observation/o1',
      ]);
      const everyone = await ids(await server.fhir('/Observation?_id=o1&_include=Observation:has-member'));
      assert.deepEqual(everyone, ['Observation/o1', 'Observation/o2']);
      assert.deepEqual(await ids(await get('/Patient?_revinclude=Observation:subject', portal)), [
        'Observation/o1',
        'Observation/o3',
        'Patient/p1',
      ]);
    });

    it('writes only inside the compartment', async () => {
      const write = (path: string, method: string, body: object) =>
        fetch(`${server.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${portal}`, 'content-type': 'application/fhir+json' },
          body: JSON.stringify(body),
        });
      const mine = {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'weight' },
        subject: { reference: 'Patient/p1' },
      };
      assert.equal((await write('/Observation', 'POST', mine)).status, 201);
      const theirs = { ...mine, subject: { reference: 'Patient/p2' } };
      assert.equal((await write('/Observation', 'POST', theirs)).status, 403);
      assert.equal((await write('/Observation/o2', 'PUT', { ...theirs, id: 'o2' })).status, 404);
      assert.equal((await write('/Observation/o1', 'PUT', { ...theirs, id: 'o1' })).status, 403);
      const del = await fetch(`${server.base}/Observation/o2`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${portal}` },
      });
      assert.equal(del.status, 404);
      assert.equal((await server.fhir('/Observation/o2')).status, 200);
    });

    it('refuses history and searches across the whole system', async () => {
      assert.equal((await get('/Observation/_history', portal)).status, 403);
      assert.equal((await get('/_history', portal)).status, 403);
      assert.equal((await get('/?_type=Observation', portal)).status, 403);
      assert.equal((await get('/Organization', portal)).status, 403);
    });
  });

  describe('granular scopes', () => {
    it('adds the scope’s parameters to a search that leaves them out', async () => {
      const token = await server.mintToken('system/Observation.rs?category=laboratory');
      const res = await get('/Observation', token);
      const bundle = (await res.json()) as { entry?: { resource: { id: string } }[] };
      assert.deepEqual((bundle.entry ?? []).map((e) => e.resource.id).sort(), ['o1', 'o2']);
      const vitals = (await (await get('/Observation?category=vital-signs', token)).json()) as {
        entry?: unknown[];
      };
      assert.equal(vitals.entry, undefined);
    });

    it('applies the same parameters to reads', async () => {
      const token = await server.mintToken('system/Observation.rs?category=laboratory');
      assert.equal((await get('/Observation/o1', token)).status, 200);
      assert.equal((await get('/Observation/o3', token)).status, 404);
    });
  });

  describe('keys', () => {
    it('keeps verifying tokens of a rotated key and signs new ones with the new key', async () => {
      const before = server.token;
      const out = await ferry('keys', 'rotate');
      assert.match(out, /new signing key/);
      assert.equal((await get('/Observation/o1', before)).status, 200);
      const fresh = await server.mintToken('system/Observation.rs');
      assert.notEqual(
        (JSON.parse(Buffer.from(fresh.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid,
        (JSON.parse(Buffer.from(before.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid,
      );
      assert.equal((await get('/Observation/o1', fresh)).status, 200);
      const published = (await (await fetch(`${server.origin}/auth/jwks`)).json()) as { keys: unknown[] };
      assert.ok(published.keys.length >= 1);
    });
  });

  describe('clients', () => {
    it('lists and removes registered clients', async () => {
      const list = await ferry('clients', 'list');
      assert.match(list, /^backend {2}jwks \(2 keys\) {2}system\/\*\.rs system\/Observation\.c$/m);
      assert.match(list, /^portal {2}secret {2}patient\/\*\.rs {2}patient p1$/m);
      assert.doesNotMatch(list, /hash|salt/);
      await ferry('clients', 'remove', 'remote');
      const res = await requestToken(assertionForm(await assertion(esKey, 'remote')));
      assert.equal(res.status, 401);
    });

    it('refuses to register a JWKS holding a private key', () => {
      const file = join(dir, 'private.json');
      writeFileSync(file, JSON.stringify({ keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'secret' }] }));
      const run = spawnSync(
        process.execPath,
        [bin, 'clients', 'add', 'leaky', '--scope', 'system/*.rs', '--jwks-file', file],
        {
          env: server.env,
          encoding: 'utf8',
        },
      );
      assert.equal(run.status, 2);
      assert.match(run.stderr, /private key material/);
    });
  });
});

describe('HTTPS', function () {
  this.timeout(60000);
  it('serves HTTPS with HSTS when given a certificate and key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    assert.equal(made.status, 0, made.stderr.toString());
    const server = await startServer({
      FERRY_TLS_CERT: join(dir, 'cert.pem'),
      FERRY_TLS_KEY: join(dir, 'key.pem'),
    });
    try {
      const { port } = new URL(server.origin);
      const answer = await new Promise<{ status: number; hsts: string | undefined }>((resolve, reject) => {
        httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/fhir/Patient',
            ca: readFileSync(join(dir, 'cert.pem')),
            headers: { authorization: `Bearer ${server.token}` },
          },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] });
          },
        )
          .on('error', reject)
          .end();
      });
      assert.equal(answer.status, 200);
      assert.match(answer.hsts ?? '', /max-age=31536000/);
      const plain = await new Promise<string>((resolve) => {
        request({ host: '127.0.0.1', port, path: '/healthz' }, (res) => resolve(String(res.statusCode)))
          .on('error', () => resolve('refused'))
          .end();
      });
      assert.notEqual(plain, '200');
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
