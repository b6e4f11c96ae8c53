import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.js';

const fails = (env: Record<string, string>, variable: string): void => {
  assert.throws(
    () => loadConfig(env, {}, '/srv/ferry'),
    (e: unknown) => e instanceof ConfigError && e.variable === variable && !e.message.includes('\n'),
  );
};

describe('loadConfig', () => {
  it('gives the contract defaults for an empty environment', () => {
    const config = loadConfig({}, {}, '/srv/ferry');
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.baseUrl, 'http://localhost:8080/fhir');
    assert.equal(config.dataDir, '/srv/ferry/data');
    assert.deepEqual(config.store, { kind: 'sqlite', path: '/srv/ferry/data/ferry.db' });
    assert.equal(config.mllpPort, 2575);
    assert.equal(config.mllpMaxFrameBytes, 1024 * 1024);
    assert.equal(config.mllpIdleTimeoutSeconds, 300);
    assert.equal(config.tls, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it('derives the base URL and store path from the port and data dir', () => {
    const config = loadConfig({ FERRY_PORT: '9090', FERRY_DATA_DIR: 'var' }, {}, '/srv/ferry');
    assert.equal(config.baseUrl, 'http://localhost:9090/fhir');
    assert.deepEqual(config.store, { kind: 'sqlite', path: '/srv/ferry/var/ferry.db' });
  });

  it('reads the MLLP frame limit and idle timeout, naming the variable when wrong', () => {
    const config = loadConfig({ FERRY_MLLP_MAX_FRAME: '64kb', FERRY_MLLP_IDLE_TIMEOUT: '30' });
    assert.equal(config.mllpMaxFrameBytes, 64 * 1024);
    assert.equal(config.mllpIdleTimeoutSeconds, 30);
    fails({ FERRY_MLLP_MAX_FRAME: 'big' }, 'FERRY_MLLP_MAX_FRAME');
    fails({ FERRY_MLLP_IDLE_TIMEOUT: '0' }, 'FERRY_MLLP_IDLE_TIMEOUT');
  });

  it('lets flags override the environment', () => {
    assert.equal(loadConfig({ FERRY_PORT: '1' }, { FERRY_PORT: '2' }).port, 2);
  });

  it('drops a trailing slash from the base URL', () => {
    assert.equal(
      loadConfig({ FERRY_BASE_URL: 'https://fhir.example.org/r4/' }).baseUrl,
      'https://fhir.example.org/r4',
    );
  });

  it('names the variable of each bad value in one line', () => {
    fails({ FERRY_PORT: 'eighty' }, 'FERRY_PORT');
    fails({ FERRY_PORT: '70000' }, 'FERRY_PORT');
    fails({ FERRY_MLLP_PORT: '-1' }, 'FERRY_MLLP_PORT');
    fails({ FERRY_BASE_URL: 'not a url' }, 'FERRY_BASE_URL');
    fails({ FERRY_BASE_URL: 'ftp://x/fhir' }, 'FERRY_BASE_URL');
    fails({ FERRY_STORE: 'postgres://db' }, 'FERRY_STORE');
    fails({ FERRY_STORE: 'sqlite:' }, 'FERRY_STORE');
    fails({ FERRY_TLS_CERT: 'cert.pem' }, 'FERRY_TLS_KEY');
    fails({ FERRY_AUTH_JWKS_URI: 'https://idp/jwks' }, 'FERRY_AUTH_ISSUER');
    fails({ FERRY_MAX_BODY: 'lots' }, 'FERRY_MAX_BODY');
    fails({ FERRY_LOG_LEVEL: 'loud' }, 'FERRY_LOG_LEVEL');
    fails({ FERRY_HOST: 'a host' }, 'FERRY_HOST');
  });

  it('reads sizes with units', () => {
    assert.equal(loadConfig({ FERRY_MAX_BODY: '512kb' }).maxBodyBytes, 512 * 1024);
    assert.equal(loadConfig({ FERRY_MAX_BODY: '2MB' }).maxBodyBytes, 2 * 1024 * 1024);
  });

  it('accepts a MongoDB URL', () => {
    assert.deepEqual(loadConfig({ FERRY_STORE: 'mongodb://db:27017/ferry' }).store, {
      kind: 'mongodb',
      url: 'mongodb://db:27017/ferry',
    });
  });
  it('validates fully with no enforced profile by default', () => {
    assert.deepEqual(loadConfig({}).validation, { level: 'full', enforce: {}, strictProfiles: false });
  });

  it('reads the validation level, the enforced profiles per type and the strict setting', () => {
    const config = loadConfig({
      FERRY_VALIDATION: 'schema',
      FERRY_PROFILES:
        'Observation=http://a.example/sd/x, Observation=http://a.example/sd/y,Patient=http://b.example/p',
      FERRY_PROFILES_STRICT: 'true',
    });
    assert.deepEqual(config.validation, {
      level: 'schema',
      enforce: {
        Observation: ['http://a.example/sd/x', 'http://a.example/sd/y'],
        Patient: ['http://b.example/p'],
      },
      strictProfiles: true,
    });
  });

  it('refuses an unknown validation level, a malformed profile list and a non-boolean strict setting', () => {
    fails({ FERRY_VALIDATION: 'strict' }, 'FERRY_VALIDATION');
    fails({ FERRY_PROFILES: 'Observation' }, 'FERRY_PROFILES');
    fails({ FERRY_PROFILES: 'Observation=not a url' }, 'FERRY_PROFILES');
    fails({ FERRY_PROFILES_STRICT: 'yes' }, 'FERRY_PROFILES_STRICT');
  });

  it('schedules no backups by default, and reads the backup folder, interval, retention and key', () => {
    assert.deepEqual(loadConfig({}, {}, '/srv/ferry').backup, { everyMs: 86_400_000, keep: 7 });
    const key = Buffer.alloc(32, 7);
    const config = loadConfig(
      {
        FERRY_BACKUP_DIR: 'backups',
        FERRY_BACKUP_EVERY: '1h30m',
        FERRY_BACKUP_KEEP: '3',
        FERRY_BACKUP_KEY: key.toString('base64'),
      },
      {},
      '/srv/ferry',
    );
    assert.deepEqual(config.backup, { dir: '/srv/ferry/backups', everyMs: 5_400_000, keep: 3, key });
    assert.deepEqual(loadConfig({ FERRY_BACKUP_KEY: key.toString('hex') }).backup.key, key);
  });

  it('names the backup variable of each bad value', () => {
    fails({ FERRY_BACKUP_DIR: 'b', FERRY_BACKUP_EVERY: 'hourly' }, 'FERRY_BACKUP_EVERY');
    fails({ FERRY_BACKUP_DIR: 'b', FERRY_BACKUP_EVERY: '0m' }, 'FERRY_BACKUP_EVERY');
    fails({ FERRY_BACKUP_DIR: 'b', FERRY_BACKUP_KEEP: '0' }, 'FERRY_BACKUP_KEEP');
    fails({ FERRY_BACKUP_DIR: 'b', FERRY_BACKUP_KEEP: 'all' }, 'FERRY_BACKUP_KEEP');
    fails({ FERRY_BACKUP_EVERY: '6h' }, 'FERRY_BACKUP_DIR');
    fails({ FERRY_BACKUP_KEY: 'secret' }, 'FERRY_BACKUP_KEY');
    fails({ FERRY_BACKUP_KEY: Buffer.alloc(16).toString('base64') }, 'FERRY_BACKUP_KEY');
  });

  it('never repeats a bad backup key in its message', () => {
    const secret = 'c2VjcmV0LWJ1dC10b28tc2hvcnQ=';
    assert.throws(
      () => loadConfig({ FERRY_BACKUP_KEY: secret }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes(secret),
    );
  });
});
