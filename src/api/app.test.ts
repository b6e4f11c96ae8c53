import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'mocha';
import { requireToken } from '../auth/bearer.js';
import { KeyRing } from '../auth/keys.js';
import { smartConfiguration } from '../auth/smart-configuration.js';
import { tokenEndpoint } from '../auth/token-endpoint.js';
import { authEndpoints, issueToken, TokenVerifier } from '../auth/tokens.js';
import { silentLogger } from '../log.js';
import { capabilityStatement } from '../service/capability-statement.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { createApp, type AppDeps } from './app.js';

const store = new SqliteStore(':memory:');
const endpoints = authEndpoints('http://localhost/fhir');
let deps: AppDeps;
let token: string;

before(async () => {
  const keys = await KeyRing.open(store);
  deps = {
    ctx: { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() },
    metadata: capabilityStatement({
      baseUrl: 'http://localhost/fhir',
      version: '0.0.0',
      started: new Date(),
    }),
    maxBodyBytes: 1024 * 1024,
    maxBundleEntries: 100,
    log: silentLogger,
    auth: {
      requireToken: requireToken(new TokenVerifier(keys, endpoints)),
      tokenEndpoint: tokenEndpoint({ store, keys, endpoints, tokenTtlSeconds: 300 }),
      smartConfiguration: smartConfiguration(endpoints),
    },
    ingestTypes: ['Patient', 'Observation'],
    hsts: false,
  };
  token = (await issueToken(keys, endpoints, { clientId: 'lab', scopes: ['system/*.cu'], ttlSeconds: 60 }))
    .token;
});

async function post(extra: Partial<AppDeps>, authorization = `Bearer ${token}`): Promise<Response> {
  const server: Server = createApp({ ...deps, ...extra }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const { port } = server.address() as AddressInfo;
    return await fetch(`http://127.0.0.1:${port}/ingest/hl7v2`, {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2', authorization },
      body: 'MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501||ADT^A01|1|P|2.5.1\r',
    });
  } finally {
    server.close();
  }
}

describe('createApp and /ingest/hl7v2', () => {
  after(() => store.close());

  it('has no /ingest/hl7v2 route without an HL7 v2 handler', async () => {
    assert.equal((await post({})).status, 404);
  });

  it('mounts /ingest/hl7v2 when given an HL7 v2 handler', async () => {
    const res = await post({
      hl7v2Handler: () =>
        Promise.resolve({ code: 'AR', issues: [{ code: 200, text: 'no mapping configured' }] }),
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /MSA\|AR\|1\|no mapping configured/);
  });

  it('refuses /ingest/hl7v2 without a token, and with one that cannot write what ingest writes', async () => {
    const handler: AppDeps['hl7v2Handler'] = () => Promise.resolve({ code: 'AA' });
    const anonymous = await post({ hl7v2Handler: handler }, '');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer /);
    const keys = await KeyRing.open(store);
    const reader = await issueToken(keys, endpoints, {
      clientId: 'r',
      scopes: ['system/*.rs'],
      ttlSeconds: 60,
    });
    const refused = await post({ hl7v2Handler: handler }, `Bearer ${reader.token}`);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /create and update/);
  });
});
