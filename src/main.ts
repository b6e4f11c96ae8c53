import { constants, readFileSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp } from './api/app.js';
import { requireToken } from './auth/bearer.js';
import { ExportJobs } from './bulk/export-jobs.js';
import { KeyRing } from './auth/keys.js';
import { capabilitySecurity, smartConfiguration } from './auth/smart-configuration.js';
import { tokenEndpoint } from './auth/token-endpoint.js';
import { authEndpoints, TokenVerifier } from './auth/tokens.js';
import { startBackupSchedule, type BackupSchedule } from './backup/schedule.js';
import { agentOf, firstKeyFacts, localEvent, recordAccess, type Auditor } from './audit/access-audit.js';
import { auditFailure } from './api/audit-access.js';
import { hl7MessageAudit } from './ingest/hl7v2/message-audit.js';
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import { projectRoot } from './fhir/definitions-path.js';
import type { Logger } from './log.js';
import { capabilityStatement } from './service/capability-statement.js';
import type { ServiceContext } from './service/context.js';
import { checkIndexVersion } from './service/reindex.js';
import { mappingHandler } from './ingest/hl7v2/ingest-message.js';
import { loadCatalog } from './ingest/hl7v2/mapping/load-mappings.js';
import { loadCsvCatalog, typesWritten } from './ingest/csv/load-csv-mappings.js';
import { startInbox, type Inbox } from './ingest/inbox.js';
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

/** The folder of scheduled backups exists (or is made) and can be written, or start-up stops. */
async function checkBackupDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch {
    throw new ConfigError('FERRY_BACKUP_DIR', `cannot create or write ${dir}`);
  }
}

/** The composition root: opens the store, builds the service and the app, starts listening. */
export async function startGateway(config: Readonly<Config>, log: Logger): Promise<Gateway> {
  const started = new Date();
  const hl7 = { catalog: loadCatalog(), timezone: config.hl7Timezone };
  const csv = loadCsvCatalog(undefined, config.hl7Timezone);
  warmValidators();
  const problem = checkPolicy(config.validation);
  if (problem) throw new ConfigError('FERRY_PROFILES', problem);
  if (config.validation.level === 'full') warmProfiles(config.validation);
  const tls = config.tls && {
    cert: readTlsFile('FERRY_TLS_CERT', config.tls.certFile),
    key: readTlsFile('FERRY_TLS_KEY', config.tls.keyFile),
  };
  if (config.backup.dir !== undefined) await checkBackupDir(config.backup.dir);
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
  const exportJobs = new ExportJobs({
    ctx,
    dir: join(config.dataDir, 'exports'),
    maxJobs: config.export.maxJobs,
    maxFileBytes: config.export.maxFileBytes,
    ttlSeconds: config.export.ttlSeconds,
    leaseSeconds: config.export.leaseSeconds,
    log,
  });
  const auditor: Auditor | undefined = config.audit.enabled
    ? { store, source: { site: config.baseUrl, name: config.audit.source }, now: () => new Date() }
    : undefined;
  if (!auditor)
    log.warn('audit.off', { action: 'FERRY_AUDIT=off records no access; never use it in production' });
  const endpoints = authEndpoints(config.baseUrl);
  const keys = await KeyRing.open(store, Date.now, (key) =>
    localEvent(auditor, 'ferry serve', firstKeyFacts(key.kid)),
  );
  const verifier = new TokenVerifier(keys, endpoints, config.auth);
  const metadata = capabilityStatement({
    baseUrl: config.baseUrl,
    version: packageVersion(),
    started,
    profiles: profilesByType(),
    security: capabilitySecurity(endpoints),
  });
  // every HL7 v2 message leaves an AuditEvent, durable before its ACK
  const audited = auditor ? { ...hl7, audit: hl7MessageAudit(auditor) } : hl7;
  const hl7v2Handler = mappingHandler(ctx, audited);
  const app = createApp({
    ...(auditor ? { auditor } : {}),
    ctx,
    metadata,
    maxBodyBytes: config.maxBodyBytes,
    maxBundleEntries: config.maxBundleEntries,
    log,
    hl7v2Handler,
    auth: {
      // every refusal is on record before it is answered
      requireToken: requireToken(verifier, {
        denied: (req, res, status, reason) => auditor && auditFailure(auditor, req, res, status, reason),
      }),
      tokenEndpoint: tokenEndpoint({
        store,
        keys,
        endpoints,
        tokenTtlSeconds: config.tokenTtlSeconds,
        events: {
          issued: (req, client, scopes, jti) =>
            auditor &&
            recordAccess(
              auditor,
              agentOf({ clientId: client.id, scopes, tokenId: jti }, req.socket.remoteAddress),
              {
                category: 'token',
                interaction: 'operation',
                status: 200,
                outcomeText: `token issued: ${scopes.join(' ')}`.slice(0, 200),
              },
            ),
          refused: (req, clientId, error) =>
            auditor &&
            recordAccess(
              auditor,
              agentOf(
                clientId === undefined ? undefined : { clientId: clientId.slice(0, 128), scopes: [] },
                req.socket.remoteAddress,
              ),
              {
                category: 'token',
                interaction: 'operation',
                status: error.status,
                outcomeText: `${error.code}: ${error.message}`.slice(0, 200),
              },
            ),
        },
      }),
      smartConfiguration: smartConfiguration(endpoints),
    },
    // a client posting to /ingest needs create and update on every type the mappings write
    ingestTypes: [
      ...new Set([...hl7.catalog.segments.values()].map((m) => m.resource)),
      'Provenance',
      'Binary',
    ],
    exportJobs,
    csv: { catalog: csv, maxBodyBytes: config.csvMaxBodyBytes, uploadDir: join(config.dataDir, 'uploads') },
    deadLetters: {
      hl7v2: audited,
      csv,
      types: [
        ...new Set([
          ...[...hl7.catalog.segments.values()].map((m) => m.resource),
          ...[...csv.mappings.values()].flatMap(typesWritten),
          'Provenance',
          'Binary',
        ]),
      ],
    },
    hsts: tls !== undefined,
  });
  // a key added by `ferry keys rotate` in another process starts signing here within a minute
  const keyRefresh = setInterval(() => {
    keys.refresh(60_000).catch((error: unknown) => {
      log.warn('auth.keys_refresh_failed', {
        message: error instanceof Error ? error.message : String(error),
      });
    });
  }, 60_000);
  keyRefresh.unref();
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
  exportJobs.start();
  let inbox: Inbox | undefined;
  if (config.inbox) {
    try {
      inbox = startInbox({
        dir: config.inbox.dir,
        pollMs: config.inbox.pollMs,
        ctx,
        csv,
        hl7v2: hl7,
        ...(auditor ? { auditor } : {}),
        log,
      });
    } catch (error) {
      server.close();
      await mllp?.close(0);
      await store.close();
      throw new ConfigError(
        'FERRY_INBOX_DIR',
        `cannot create the inbox folders in ${config.inbox.dir}: ${(error as Error).message}`,
      );
    }
  }
  const backups: BackupSchedule | undefined =
    config.backup.dir === undefined
      ? undefined
      : await startBackupSchedule({
          store,
          dir: config.backup.dir,
          everyMs: config.backup.everyMs,
          keep: config.backup.keep,
          ...(config.backup.key ? { key: config.backup.key } : {}),
          ...(auditor ? { auditor } : {}),
          log,
        });
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
      clearInterval(keyRefresh);
      await inbox?.close(); // a file under way stops after its current chunk, resumed at the next start
      exportJobs.close();
      await backups?.close(); // a backup under way is abandoned, its temporary folder removed
      await store.close();
      log.info('gateway.stopped', {});
    })();
    return closing;
  };
  return { url, port, close };
}
