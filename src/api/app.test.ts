import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'mocha';
import { silentLogger } from '../log.js';
import { capabilityStatement } from '../service/capability-statement.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { createApp, type AppDeps } from './app.js';

const store = new SqliteStore(':memory:');
const deps: AppDeps = {
  ctx: { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() },
  metadata: capabilityStatement({ baseUrl: 'http://localhost/fhir', version: '0.0.0', started: new Date() }),
  maxBodyBytes: 1024 * 1024,
  maxBundleEntries: 100,
  log: silentLogger,
};

async function post(extra: Partial<AppDeps>): Promise<Response> {
  const server: Server = createApp({ ...deps, ...extra }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const { port } = server.address() as AddressInfo;
    return await fetch(`http://127.0.0.1:${port}/ingest/hl7v2`, {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2' },
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
});
