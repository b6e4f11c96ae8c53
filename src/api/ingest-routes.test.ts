import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { after, before, describe, it } from 'mocha';
import { rejectWith } from '../ingest/hl7v2/ack.js';
import type { Hl7Handler } from '../ingest/hl7v2/inbound.js';
import { silentLogger } from '../log.js';
import { errorHandler } from './errors.js';
import { ingestRoutes } from './ingest-routes.js';
import { requestId } from './request-id.js';

const message = (id: string, type = 'ADT^A01'): string =>
  `MSH|^~\\&|LAB|ACME|FERRY|CLINIC|20240501||${type}|${id}|P|2.5.1\rPID|1||1\r`;

const handler: Hl7Handler = (input) => {
  if (!input.parsed.ok) return Promise.resolve(rejectWith(input.parsed.error));
  return Promise.resolve(
    input.parsed.message.type.code === 'ADT'
      ? { code: 'AA' }
      : { code: 'AR', issues: [{ code: 200, location: { segment: 'MSH', sequence: 1, field: 9 } }] },
  );
};

describe('POST /ingest/hl7v2', () => {
  let server: Server;
  let url: string;
  before(async () => {
    const app = express();
    app.use(requestId(silentLogger));
    app.use('/ingest', ingestRoutes(handler, { maxBodyBytes: 1024 * 1024 }));
    app.use(errorHandler());
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest/hl7v2`;
  });
  after(() => new Promise((r) => server.close(r)));

  const post = (body: string, contentType = 'application/hl7-v2'): Promise<Response> =>
    fetch(url, { method: 'POST', body, headers: { 'content-type': contentType } });

  it('answers each message of the body with its ACK, status 200 even for AR', async () => {
    const res = await post(message('1') + message('2', 'ORU^R01'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/hl7-v2; charset=utf-8/);
    const msa = (await res.text()).split('\r').filter((s) => s.startsWith('MSA'));
    assert.deepEqual(msa, ['MSA|AA|1', 'MSA|AR|2']);
  });

  it('answers an unparseable body AR with status 200', async () => {
    const res = await post('MSH|^~\\\\&|LAB|ACME|FERRY|CLINIC|20240501||ADT^A01|9|P|2.5.1\r');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /MSA\|AR\|9\|.*\rERR\|\|MSH\^1\^2\|102\^/);
  });

  it('refuses a JSON body with 415', async () => {
    const res = await post('{}', 'application/json');
    assert.equal(res.status, 415);
  });
});
