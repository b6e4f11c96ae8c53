import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp } from './api/app.js';
import type { Auditor } from './audit/access-audit.js';
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import { projectRoot } from './fhir/definitions-path.js';
import type { Logger } from './log.js';
import { capabilityStatement } from './service/capability-statement.js';
import type { ServiceContext } from './service/context.js';
import { checkIndexVersion } from './service/reindex.js';
import { deadLetterHandler } from './ingest/hl7v2/handle-message.js';
import { mllpOptions, startMllpListener, type MllpListener } from './ingest/hl7v2/mllp-server.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { ResourceStore } from './store/store.js';
import { warmValidators } from './validation/validate-resource.js';
import { checkPolicy, profilesByType, warmProfiles } from './validation/policy.js';

export interface Gateway {
  /** Where the HTTP server listens (the real port when 0 was asked for). */
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes the store. */
  close(): Promise<void>;
}

/** Opens the store named by the configuration. The only place a store is created. */
export function openStore(config: Readonly<Config>): ResourceStore {
  if (config.store.kind === 'mongodb') {
    throw new ConfigError(
      'FERRY_STORE',
      'the MongoDB store is not available in this version; use sqlite:PATH',
    );
  }
  return new SqliteStore(config.store.path);
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function readTlsFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw new ConfigError(variable, `cannot read ${path}`);
  }
}

/** The composition root: opens the store, builds the service and the app, starts listening. */
export async function startGateway(config: Readonly<Config>, log: Logger): Promise<Gateway> {
  const started = new Date();
  warmValidators();
  const problem = checkPolicy(config.validation);
  if (problem) throw new ConfigError('FERRY_PROFILES', problem);
  if (config.validation.level === 'full') warmProfiles(config.validation);
  const tls = config.tls && {
    cert: readTlsFile('FERRY_TLS_CERT', config.tls.certFile),
    key: readTlsFile('FERRY_TLS_KEY', config.tls.keyFile),
  };
  const store = openStore(config);
  const ctx: ServiceContext = {
    store,
    baseUrl: config.baseUrl,
    log,
    now: () => new Date(),
    validation: config.validation,
  };
  if ((await checkIndexVersion(ctx)) === 'stale') {
    // searches still answer; values indexed differently by the older version may be missed
    log.warn('search.index_stale', { action: 'run "ferry reindex" to rebuild the search index' });
  }
  const metadata = capabilityStatement({
    baseUrl: config.baseUrl,
    version: packageVersion(),
    started,
    profiles: profilesByType(),
  });
  const hl7v2Handler = deadLetterHandler(store);
  const auditor: Auditor | undefined = config.audit.enabled
    ? { store, source: { site: config.baseUrl, name: config.audit.source }, now: () => new Date() }
    : undefined;
  if (!auditor)
    log.warn('audit.off', { action: 'FERRY_AUDIT=off records no access; never use it in production' });
  const app = createApp({
    ...(auditor ? { auditor } : {}),
    ctx,
    metadata,
    maxBodyBytes: config.maxBodyBytes,
    maxBundleEntries: config.maxBundleEntries,
    log,
    hl7v2Handler,
  });
  const server: Server = tls ? createHttpsServer(tls, app) : createHttpServer(app);
  server.keepAliveTimeout = 65_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await store.close();
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new ConfigError('FERRY_PORT', `port ${config.port} is already in use`);
    if (code === 'EADDRNOTAVAIL') throw new ConfigError('FERRY_HOST', `cannot bind to ${config.host}`);
    if (code === 'EACCES')
      throw new ConfigError('FERRY_PORT', `not allowed to listen on port ${config.port}`);
    throw error;
  }
  let mllp: MllpListener | undefined;
  if (config.mllpPort !== 0) {
    try {
      mllp = await startMllpListener(mllpOptions(config, tls), hl7v2Handler, log);
    } catch (error) {
      server.close();
      await store.close();
      const code = (error as { code?: string }).code;
      if (code === 'EADDRINUSE')
        throw new ConfigError('FERRY_MLLP_PORT', `port ${config.mllpPort} is already in use`);
      if (code === 'EACCES')
        throw new ConfigError('FERRY_MLLP_PORT', `not allowed to listen on port ${config.mllpPort}`);
      throw error;
    }
  }
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info('gateway.listening', {
    url,
    port,
    fhirBase: config.baseUrl,
    store: config.store.kind,
    ...(mllp ? { mllpPort: mllp.port } : {}),
    startupMs: Date.now() - started.getTime(),
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.info('gateway.stopping', {});
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceSeconds * 1000);
      await Promise.all([drained, mllp?.close(config.shutdownGraceSeconds * 1000)]);
      clearTimeout(grace);
      await store.close();
      log.info('gateway.stopped', {});
    })();
    return closing;
  };
  return { url, port, close };
}
