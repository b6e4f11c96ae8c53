import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** Ferry's configuration: read once, frozen, typed. The only reader of process.env. */
export interface Config {
  port: number;
  host: string;
  baseUrl: string;
  dataDir: string;
  store: { kind: 'sqlite'; path: string } | { kind: 'mongodb'; url: string };
  mllpPort: number;
  /** Largest MLLP frame accepted, in bytes (a larger message is answered AR). */
  mllpMaxFrameBytes: number;
  /** Seconds an MLLP connection may stay silent with nothing pending before it is closed. */
  mllpIdleTimeoutSeconds: number;
  tls?: { certFile: string; keyFile: string };
  auth?: { issuer: string; jwksUri: string };
  /** Lifetime of the access tokens Ferry issues, in seconds. */
  tokenTtlSeconds: number;
  /** IANA zone of HL7 v2 date/times that carry no offset when MSH-7 carries none either. */
  hl7Timezone: string;
  export: {
    /** Export jobs that may run at once (429 beyond). */
    maxJobs: number;
    /** Size at which an export file is split. */
    maxFileBytes: number;
    /** Seconds finished exports are kept. */
    ttlSeconds: number;
    /** Seconds before a job of a process that died is taken over. */
    leaseSeconds: number;
  };
  /** Largest request body accepted, in bytes (413 beyond). */
  maxBodyBytes: number;
  /** Most entries a batch or transaction Bundle may hold (413 beyond). */
  maxBundleEntries: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Seconds to wait for in-flight requests on SIGTERM before closing connections. */
  shutdownGraceSeconds: number;
  validation: {
    /** `off` (trusted restores only), `schema`, or `full` (schema, invariants, bindings, profiles). */
    level: 'off' | 'schema' | 'full';
    /** Profiles enforced on every resource of a type: type → canonical URLs. */
    enforce: Readonly<Record<string, readonly string[]>>;
    /** An unknown `meta.profile` is an error instead of a warning. */
    strictProfiles: boolean;
  };
  backup: {
    /** Where scheduled backups go; no schedule when absent. */
    dir?: string;
    /** Milliseconds between scheduled backups. */
    everyMs: number;
    /** How many complete scheduled backups to keep; older ones are removed. */
    keep: number;
    /** AES-256 key: backups are encrypted when it is set, and restores decrypt with it. */
    key?: Buffer;
  };
  /**
   * The audit trail: this instance's name in AuditEvent.source (its site is `baseUrl`), and
   * whether accesses are recorded at all — `off` exists to measure what the audit trail costs;
   * a production gateway keeps it on (every access must leave a record).
   */
  audit: { enabled: boolean; source: string };
  /** Watched inbox folders: where, and how often they are looked at. */
  inbox?: { dir: string; pollMs: number };
  /** Largest CSV body `POST /ingest/csv/{mapping}` accepts, in bytes. */
  csvMaxBodyBytes: number;
}

/** A configuration value that cannot be used; `message` is the one line to print. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Every setting: its environment variable, its `ferry serve` flag and what it means. */
export const settings = [
  { env: 'FERRY_PORT', flag: 'port', default: '8080', help: 'HTTP port' },
  { env: 'FERRY_HOST', flag: 'host', default: '127.0.0.1', help: 'bind address' },
  {
    env: 'FERRY_BASE_URL',
    flag: 'base-url',
    default: 'http://localhost:$FERRY_PORT/fhir',
    help: 'public base URL used in links',
  },
  {
    env: 'FERRY_DATA_DIR',
    flag: 'data-dir',
    default: './data',
    help: 'embedded store, keys, bulk files, dead letters',
  },
  {
    env: 'FERRY_STORE',
    flag: 'store',
    default: 'sqlite:$FERRY_DATA_DIR/ferry.db',
    help: 'sqlite:PATH or mongodb://HOST/DB',
  },
  { env: 'FERRY_MLLP_PORT', flag: 'mllp-port', default: '2575', help: 'HL7 v2 MLLP port; 0 turns it off' },
  {
    env: 'FERRY_MLLP_MAX_FRAME',
    flag: 'mllp-max-frame',
    default: '1mb',
    help: 'largest HL7 v2 message over MLLP (larger ones are answered AR)',
  },
  {
    env: 'FERRY_MLLP_IDLE_TIMEOUT',
    flag: 'mllp-idle-timeout',
    default: '300',
    help: 'seconds before a silent MLLP connection is closed',
  },
  {
    env: 'FERRY_TLS_CERT',
    flag: 'tls-cert',
    default: '',
    help: 'PEM certificate; with FERRY_TLS_KEY serves HTTPS',
  },
  { env: 'FERRY_TLS_KEY', flag: 'tls-key', default: '', help: 'PEM private key' },
  { env: 'FERRY_AUTH_ISSUER', flag: 'auth-issuer', default: '', help: 'outside authorization server issuer' },
  {
    env: 'FERRY_AUTH_JWKS_URI',
    flag: 'auth-jwks-uri',
    default: '',
    help: "outside authorization server's JWKS URL",
  },
  {
    env: 'FERRY_HL7_TIMEZONE',
    flag: 'hl7-timezone',
    default: 'UTC',
    help: 'IANA zone of HL7 v2 times without an offset when MSH-7 has none, and of CSV mappings that name none',
  },
  {
    env: 'FERRY_TOKEN_TTL',
    flag: 'token-ttl',
    default: '300',
    help: 'lifetime of issued access tokens, in seconds (60-86400)',
  },
  {
    env: 'FERRY_EXPORT_MAX_JOBS',
    flag: 'export-max-jobs',
    default: '2',
    help: 'bulk exports running at once (429 beyond)',
  },
  {
    env: 'FERRY_EXPORT_FILE_MAX',
    flag: 'export-file-max',
    default: '256mb',
    help: 'bulk export files are split at this size',
  },
  {
    env: 'FERRY_EXPORT_TTL',
    flag: 'export-ttl',
    default: '86400',
    help: 'seconds finished bulk exports are kept before their files are removed',
  },
  {
    env: 'FERRY_EXPORT_LEASE',
    flag: 'export-lease',
    default: '30',
    help: 'seconds before the export job of a stopped process is taken over by another',
  },
  {
    env: 'FERRY_MAX_BODY',
    flag: 'max-body',
    default: '16mb',
    help: 'largest request body (e.g. 512kb, 16mb)',
  },
  {
    env: 'FERRY_BUNDLE_MAX_ENTRIES',
    flag: 'bundle-max-entries',
    default: '10000',
    help: 'most entries in a batch or transaction Bundle',
  },
  { env: 'FERRY_LOG_LEVEL', flag: 'log-level', default: 'info', help: 'debug, info, warn or error' },
  {
    env: 'FERRY_VALIDATION',
    flag: 'validation',
    default: 'full',
    help: 'off (trusted restores only), schema, or full (invariants, bindings, profiles)',
  },
  {
    env: 'FERRY_PROFILES',
    flag: 'profiles',
    default: '',
    help: 'profiles enforced per type: Type=URL[,Type=URL…]',
  },
  {
    env: 'FERRY_PROFILES_STRICT',
    flag: 'profiles-strict',
    default: 'false',
    help: 'true: an unknown meta.profile is refused, not a warning',
  },
  {
    env: 'FERRY_BACKUP_DIR',
    flag: 'backup-dir',
    default: '',
    help: 'scheduled backups go here, each in its own timestamped folder',
  },
  {
    env: 'FERRY_BACKUP_EVERY',
    flag: 'backup-every',
    default: '24h',
    help: 'time between scheduled backups (e.g. 30m, 6h, 1d)',
  },
  {
    env: 'FERRY_BACKUP_KEEP',
    flag: 'backup-keep',
    default: '7',
    help: 'scheduled backups kept; older ones are removed',
  },
  {
    env: 'FERRY_BACKUP_KEY',
    flag: 'backup-key',
    default: '',
    help: '32-byte key, base64 or hex: backups are encrypted (AES-256-GCM)',
  },
  {
    env: 'FERRY_AUDIT',
    flag: 'audit',
    default: 'on',
    help: 'on: every access is recorded; off is for benchmarks only, never production',
  },
  {
    env: 'FERRY_AUDIT_SOURCE',
    flag: 'audit-source',
    default: 'the host name',
    help: "this instance's name in the audit trail (AuditEvent.source)",
  },
  {
    env: 'FERRY_INBOX_DIR',
    flag: 'inbox-dir',
    default: '',
    help: 'watched inbox: a sub-folder per CSV mapping (and hl7v2/), files ingested as they arrive',
  },
  {
    env: 'FERRY_INBOX_POLL',
    flag: 'inbox-poll',
    default: '2',
    help: 'seconds between looks at the inbox; a file is taken once its size held still that long',
  },
  {
    env: 'FERRY_CSV_MAX_BODY',
    flag: 'csv-max-body',
    default: '1gb',
    help: 'largest CSV file accepted by POST /ingest/csv/{mapping}',
  },
  {
    env: 'FERRY_SHUTDOWN_GRACE',
    flag: 'shutdown-grace',
    default: '10',
    help: 'seconds to finish requests on SIGTERM',
  },
] as const;

export type SettingName = (typeof settings)[number]['env'];

function port(variable: string, raw: string): number {
  const n = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n <= 65535)) throw new ConfigError(variable, `'${raw}' is not a port number (0-65535)`);
  return n;
}

function url(variable: string, raw: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(variable, `'${raw}' is not a URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(
      variable,
      `'${raw}' must use ${protocols.map((p) => p.replace(':', '')).join(' or ')}`,
    );
  }
  return raw.replace(/\/+$/, '');
}

function bytes(variable: string, raw: string): number {
  const m = /^([0-9]+)\s*(b|kb|mb|gb)?$/i.exec(raw.trim());
  if (!m?.[1]) throw new ConfigError(variable, `'${raw}' is not a size (e.g. 512kb, 16mb)`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
  const n = Number(m[1]) * unit;
  if (n < 1024) throw new ConfigError(variable, `'${raw}' is too small (at least 1kb)`);
  return n;
}

/** Units of a duration, in milliseconds. */
const durationUnits = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "6h", "30m", "1h30m", "45s", "1d" → milliseconds; undefined when it is not such a duration. */
export function parseDuration(raw: string): number | undefined {
  if (!/^([0-9]{1,6}[smhd])+$/.test(raw)) return undefined;
  let ms = 0;
  for (const [, n, unit] of raw.matchAll(/([0-9]+)([smhd])/g)) {
    ms += Number(n) * durationUnits[unit as keyof typeof durationUnits];
  }
  return ms > 0 ? ms : undefined;
}

/**
 * A backup key: exactly 32 bytes, written as 64 hex digits or as base64 (44 characters, e.g. the
 * output of `openssl rand -base64 32`). Returns the reason when the text is not such a key.
 */
export function parseBackupKey(raw: string): Buffer | string {
  const text = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const key = Buffer.from(text, 'base64');
    if (key.length === 32) return key;
  }
  return 'is not a 32-byte key (64 hex digits, or 44 base64 characters: openssl rand -base64 32)';
}

/** `Observation=URL,Patient=URL2` → { Observation: [URL], Patient: [URL2] } (a type may repeat). */
function profileMap(raw: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const m = /^([A-Z][A-Za-z]+)=(\S+)$/.exec(part);
    if (!m?.[1] || !m[2]) {
      throw new ConfigError(
        'FERRY_PROFILES',
        `'${part}' is not Type=URL (e.g. Observation=http://…/my-profile)`,
      );
    }
    url('FERRY_PROFILES', m[2], ['http:', 'https:', 'urn:']);
    (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}

/**
 * Reads the configuration from `env` (process.env by default) and flag overrides (keyed by
 * variable name). Throws ConfigError naming the variable for the first bad value.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<SettingName, string>> = {},
  cwd = process.cwd(),
): Readonly<Config> {
  const get = (name: SettingName): string | undefined => {
    const v = overrides[name] ?? env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const httpPort = port('FERRY_PORT', get('FERRY_PORT') ?? '8080');
  const host = get('FERRY_HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host))
    throw new ConfigError('FERRY_HOST', `'${host}' is not a host name or address`);
  const dataDir = resolve(cwd, get('FERRY_DATA_DIR') ?? './data');
  const certFile = get('FERRY_TLS_CERT');
  const keyFile = get('FERRY_TLS_KEY');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      certFile ? 'FERRY_TLS_KEY' : 'FERRY_TLS_CERT',
      'set both FERRY_TLS_CERT and FERRY_TLS_KEY, or neither',
    );
  }
  const scheme = certFile ? 'https' : 'http';
  const baseUrl = url('FERRY_BASE_URL', get('FERRY_BASE_URL') ?? `${scheme}://localhost:${httpPort}/fhir`, [
    'http:',
    'https:',
  ]);

  const storeRaw = get('FERRY_STORE') ?? `sqlite:${join(dataDir, 'ferry.db')}`;
  let store: Config['store'];
  if (storeRaw.startsWith('sqlite:')) {
    const path = storeRaw.slice('sqlite:'.length);
    if (path === '')
      throw new ConfigError('FERRY_STORE', 'sqlite: needs a file path, e.g. sqlite:./data/ferry.db');
    store = { kind: 'sqlite', path: path === ':memory:' || isAbsolute(path) ? path : resolve(cwd, path) };
  } else if (storeRaw.startsWith('mongodb://') || storeRaw.startsWith('mongodb+srv://')) {
    store = { kind: 'mongodb', url: storeRaw };
  } else {
    throw new ConfigError('FERRY_STORE', `'${storeRaw}' must start with sqlite: or mongodb://`);
  }

  const issuer = get('FERRY_AUTH_ISSUER');
  const jwksUri = get('FERRY_AUTH_JWKS_URI');
  if ((issuer === undefined) !== (jwksUri === undefined)) {
    throw new ConfigError(
      issuer ? 'FERRY_AUTH_JWKS_URI' : 'FERRY_AUTH_ISSUER',
      'set both FERRY_AUTH_ISSUER and FERRY_AUTH_JWKS_URI, or neither',
    );
  }
  const logLevel = get('FERRY_LOG_LEVEL') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError('FERRY_LOG_LEVEL', `'${logLevel}' must be debug, info, warn or error`);
  }
  const grace = get('FERRY_SHUTDOWN_GRACE') ?? '10';
  if (!/^[0-9]{1,4}$/.test(grace))
    throw new ConfigError('FERRY_SHUTDOWN_GRACE', `'${grace}' is not a number of seconds`);

  const idle = get('FERRY_MLLP_IDLE_TIMEOUT') ?? '300';
  if (!/^[1-9][0-9]{0,5}$/.test(idle))
    throw new ConfigError('FERRY_MLLP_IDLE_TIMEOUT', `'${idle}' is not a number of seconds (1-999999)`);

  const zone = get('FERRY_HL7_TIMEZONE')?.trim() || 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new ConfigError('FERRY_HL7_TIMEZONE', `'${zone}' is not an IANA time zone such as Europe/Berlin`);
  }

  const ttl = get('FERRY_TOKEN_TTL') ?? '300';
  if (!/^[0-9]{1,5}$/.test(ttl) || Number(ttl) < 60 || Number(ttl) > 86400)
    throw new ConfigError('FERRY_TOKEN_TTL', `'${ttl}' is not a number of seconds (60-86400)`);

  const seconds = (name: SettingName, fallback: string, min: number, max: number): number => {
    const text = get(name) ?? fallback;
    if (!/^[0-9]{1,7}$/.test(text) || Number(text) < min || Number(text) > max)
      throw new ConfigError(name, `'${text}' is not a number of seconds (${min}-${max})`);
    return Number(text);
  };
  const maxJobs = get('FERRY_EXPORT_MAX_JOBS') ?? '2';
  if (!/^[1-9][0-9]?$/.test(maxJobs))
    throw new ConfigError('FERRY_EXPORT_MAX_JOBS', `'${maxJobs}' is not a number of jobs (1-99)`);

  const maxEntries = get('FERRY_BUNDLE_MAX_ENTRIES') ?? '10000';
  if (!/^[1-9][0-9]{0,6}$/.test(maxEntries))
    throw new ConfigError(
      'FERRY_BUNDLE_MAX_ENTRIES',
      `'${maxEntries}' is not a number of entries (1-9999999)`,
    );
  const level = get('FERRY_VALIDATION') ?? 'full';
  if (!['off', 'schema', 'full'].includes(level))
    throw new ConfigError('FERRY_VALIDATION', `'${level}' must be off, schema or full`);
  const strict = (get('FERRY_PROFILES_STRICT') ?? 'false').toLowerCase();
  if (!['true', 'false'].includes(strict))
    throw new ConfigError('FERRY_PROFILES_STRICT', `'${strict}' must be true or false`);

  const backupDir = get('FERRY_BACKUP_DIR');
  const every = get('FERRY_BACKUP_EVERY');
  const keep = get('FERRY_BACKUP_KEEP');
  if (backupDir === undefined && (every !== undefined || keep !== undefined)) {
    throw new ConfigError('FERRY_BACKUP_DIR', 'set it to schedule backups (FERRY_BACKUP_EVERY/KEEP need it)');
  }
  const everyMs = parseDuration(every ?? '24h');
  if (everyMs === undefined)
    throw new ConfigError('FERRY_BACKUP_EVERY', `'${every ?? ''}' is not a duration (e.g. 30m, 6h, 1d)`);
  if (keep !== undefined && !/^[1-9][0-9]{0,3}$/.test(keep))
    throw new ConfigError('FERRY_BACKUP_KEEP', `'${keep}' is not a number of backups (1-9999)`);
  const keyText = get('FERRY_BACKUP_KEY');
  const key = keyText === undefined ? undefined : parseBackupKey(keyText);
  if (typeof key === 'string') throw new ConfigError('FERRY_BACKUP_KEY', key);
  const audit = get('FERRY_AUDIT') ?? 'on';
  if (!['on', 'off'].includes(audit)) throw new ConfigError('FERRY_AUDIT', `'${audit}' must be on or off`);
  const auditSource = get('FERRY_AUDIT_SOURCE') ?? hostname();
  if (!/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(auditSource))
    throw new ConfigError('FERRY_AUDIT_SOURCE', 'must be 1-100 printable characters');

  const inboxDir = get('FERRY_INBOX_DIR');
  const poll = get('FERRY_INBOX_POLL') ?? '2';
  if (!/^[0-9]{1,4}(\.[0-9]{1,3})?$/.test(poll) || Number(poll) < 0.05 || Number(poll) > 3600)
    throw new ConfigError('FERRY_INBOX_POLL', `'${poll}' is not a number of seconds (0.05-3600)`);

  const config: Config = {
    port: httpPort,
    host,
    baseUrl,
    dataDir,
    store,
    mllpPort: port('FERRY_MLLP_PORT', get('FERRY_MLLP_PORT') ?? '2575'),
    mllpMaxFrameBytes: bytes('FERRY_MLLP_MAX_FRAME', get('FERRY_MLLP_MAX_FRAME') ?? '1mb'),
    mllpIdleTimeoutSeconds: Number(idle),
    maxBodyBytes: bytes('FERRY_MAX_BODY', get('FERRY_MAX_BODY') ?? '16mb'),
    maxBundleEntries: Number(maxEntries),
    tokenTtlSeconds: Number(ttl),
    hl7Timezone: zone,
    export: {
      maxJobs: Number(maxJobs),
      maxFileBytes: bytes('FERRY_EXPORT_FILE_MAX', get('FERRY_EXPORT_FILE_MAX') ?? '256mb'),
      ttlSeconds: seconds('FERRY_EXPORT_TTL', '86400', 1, 9999999),
      leaseSeconds: seconds('FERRY_EXPORT_LEASE', '30', 1, 3600),
    },
    logLevel: logLevel as Config['logLevel'],
    shutdownGraceSeconds: Number(grace),
    validation: {
      level: level as Config['validation']['level'],
      enforce: profileMap(get('FERRY_PROFILES') ?? ''),
      strictProfiles: strict === 'true',
    },
    backup: { everyMs, keep: Number(keep ?? '7') },
    audit: { enabled: audit === 'on', source: auditSource },
    csvMaxBodyBytes: bytes('FERRY_CSV_MAX_BODY', get('FERRY_CSV_MAX_BODY') ?? '1gb'),
  };
  if (inboxDir !== undefined) config.inbox = { dir: resolve(cwd, inboxDir), pollMs: Number(poll) * 1000 };
  if (backupDir !== undefined) config.backup.dir = resolve(cwd, backupDir);
  if (key !== undefined) config.backup.key = key;
  if (certFile && keyFile) config.tls = { certFile: resolve(cwd, certFile), keyFile: resolve(cwd, keyFile) };
  if (issuer && jwksUri) {
    config.auth = {
      issuer: url('FERRY_AUTH_ISSUER', issuer, ['https:', 'http:']),
      jwksUri: url('FERRY_AUTH_JWKS_URI', jwksUri, ['https:', 'http:']),
    };
  }
  return Object.freeze(config);
}
