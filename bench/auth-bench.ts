import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import { createApp } from '../src/api/app.js';
import { requireToken } from '../src/auth/bearer.js';
import { KeyRing } from '../src/auth/keys.js';
import { smartConfiguration } from '../src/auth/smart-configuration.js';
import { tokenEndpoint } from '../src/auth/token-endpoint.js';
import { authEndpoints, issueToken, TokenVerifier } from '../src/auth/tokens.js';
import { silentLogger } from '../src/log.js';
import { capabilityStatement } from '../src/service/capability-statement.js';
import type { ServiceContext } from '../src/service/context.js';
import { createResource } from '../src/service/create.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { drive, type Phase } from './http-bench.js';
import { createClient } from './http-client.js';
import { fmt, printTable, progress, quantile, versus } from './report.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

/**
 * What authorization costs: the verification of one access token (signature, claims, scopes
 * parsed into a principal), and read throughput over HTTP with the real bearer-token door
 * against the same app whose door lets every request through with a fixed principal.
 */

export interface AuthBench {
  verifies: number;
  verifyMeanUs: number;
  verifyP50Us: number;
  verifyP99Us: number;
  withoutAuth: Phase;
  withAuth: Phase;
  ratio: number;
}

const baseUrl = 'http://localhost/fhir';

export async function runAuthBench(seconds: number, clients: number): Promise<AuthBench> {
  const dir = makeTempDir('ferry-bench-auth-');
  const store = new SqliteStore(`${dir}/ferry.db`);
  try {
    const endpoints = authEndpoints(baseUrl);
    const keys = await KeyRing.open(store);
    const verifier = new TokenVerifier(keys, endpoints);
    const { token } = await issueToken(keys, endpoints, {
      clientId: 'bench',
      scopes: ['system/*.cruds'],
      ttlSeconds: 3600,
    });

    progress('auth: token verification');
    for (let i = 0; i < 2000; i++) await verifier.verify(token);
    const verifies = 20_000;
    const times = new Float64Array(verifies);
    const started = performance.now();
    for (let i = 0; i < verifies; i++) {
      const t = performance.now();
      await verifier.verify(token);
      times[i] = (performance.now() - t) * 1000;
    }
    const verifyMeanUs = ((performance.now() - started) * 1000) / verifies;
    times.sort();

    const ctx: ServiceContext = { store, baseUrl, log: silentLogger, now: () => new Date() };
    const ids: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const result = await createResource(ctx, 'Patient', {
        resourceType: 'Patient',
        name: [{ family: `Bench${i}`, given: ['Auth'] }],
        gender: i % 2 ? 'female' : 'male',
        birthDate: '1970-01-01',
      });
      ids.push(result.version.id);
    }
    const open: RequestHandler = (_req, res, next) => {
      res.locals.principal = { clientId: 'bench', scopes: ['system/*.cruds'] };
      next();
    };
    const serve = async (door: RequestHandler): Promise<{ server: Server; origin: string }> => {
      const app = createApp({
        ctx,
        metadata: capabilityStatement({ baseUrl, version: '0', started: new Date() }),
        maxBodyBytes: 1 << 20,
        maxBundleEntries: 100,
        log: silentLogger,
        auth: {
          requireToken: door,
          tokenEndpoint: tokenEndpoint({ store, keys, endpoints, tokenTtlSeconds: 300 }),
          smartConfiguration: smartConfiguration(endpoints),
        },
        ingestTypes: [],
        hsts: false,
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    const reads = async (door: RequestHandler, label: string): Promise<Phase> => {
      const { server, origin } = await serve(door);
      const client = createClient('agent', origin, clients, token);
      try {
        progress(`auth: reads ${label}`);
        const read = (i: number) => client.send('GET', `/fhir/Patient/${ids[i % ids.length] ?? ''}`);
        await drive(clients, 2000, seconds, read, (r) => r.status === 200); // warm-up
        return await drive(clients, 1_000_000, seconds, read, (r) => r.status === 200);
      } finally {
        await client.close();
        server.close();
      }
    };
    // alternate the two, so neither gets the warmer process
    const without1 = await reads(open, 'without token verification');
    const with1 = await reads(requireToken(verifier), 'with token verification');
    const without2 = await reads(open, 'without token verification');
    const with2 = await reads(requireToken(verifier), 'with token verification');
    const best = (a: Phase, b: Phase): Phase => (a.perSecond >= b.perSecond ? a : b);
    const withoutAuth = best(without1, without2);
    const withAuth = best(with1, with2);
    return {
      verifies,
      verifyMeanUs,
      verifyP50Us: quantile(times, 0.5),
      verifyP99Us: quantile(times, 0.99),
      withoutAuth,
      withAuth,
      ratio: withAuth.perSecond / withoutAuth.perSecond,
    };
  } finally {
    await store.close();
    removeTempDir(dir);
  }
}

export function printAuthBench(r: AuthBench): void {
  printTable(
    '7a. Access token verification (RS384, own key; keys cached, tokens verified every time); target < 200 µs',
    ['verifies', 'mean µs', 'p50 µs', 'p99 µs'],
    [[r.verifies, fmt(r.verifyMeanUs, 1), fmt(r.verifyP50Us, 1), fmt(r.verifyP99Us, 1)]],
  );
  printTable(
    '7b. Reads over HTTP with and without the bearer-token door (same process, 2,000 Patients); target with ≥ 85 % of without',
    ['door', 'reads', 'reads/s', 'p50 ms', 'p99 ms', 'of without'],
    [
      [
        'open (fixed principal)',
        r.withoutAuth.requests,
        r.withoutAuth.perSecond,
        fmt(r.withoutAuth.p50Ms, 2),
        fmt(r.withoutAuth.p99Ms, 2),
        '100 %',
      ],
      [
        'bearer token verified',
        r.withAuth.requests,
        r.withAuth.perSecond,
        fmt(r.withAuth.p50Ms, 2),
        fmt(r.withAuth.p99Ms, 2),
        versus(100 * r.ratio, '≥ 85 %', 1),
      ],
    ],
  );
}
