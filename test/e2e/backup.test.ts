import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function ferry(args: string[], env: Record<string, string>): Run {
  const run = spawnSync(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The same, without blocking the event loop (the test's own server keeps being served). */
function ferryAsync(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** One line on stderr, prefixed "ferry: ", matching `pattern`. */
function refusedWith(run: Run, pattern: RegExp): void {
  assert.notEqual(run.status, 0, run.stdout);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0] ?? '', pattern);
}

/** Every version in the store, newest first, through system history (all pages). */
async function systemHistory(server: RunningServer): Promise<unknown[]> {
  const out: unknown[] = [];
  let url: string | undefined = `${server.base}/_history?_count=1000`;
  while (url) {
    const page = (await (await fetch(url, { headers: server.headers() })).json()) as Bundle;
    for (const e of page.entry ?? []) out.push({ resource: e.resource, request: e.request });
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    url = next?.replace('http://localhost/fhir', server.base);
  }
  return out;
}

const put = async (server: RunningServer, id: string, gender: string): Promise<void> => {
  const r = await server.fhir(`/Patient/${id}`, {
    method: 'PUT',
    json: { resourceType: 'Patient', id, gender },
  });
  assert.ok(r.status === 200 || r.status === 201, String(r.status));
};

describe('ferry backup and ferry restore', function () {
  this.timeout(120_000);
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ferry-e2e-backup-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('restores into an empty store every version as it was, searchable, the audit trail intact', async () => {
    const source = join(root, 'source');
    const server = await startServer({}, { keepDataDir: source });
    let before: unknown[];
    let expected = { versions: 0, resources: 0 };
    try {
      for (let i = 0; i < 20; i++) await put(server, `p${i}`, i % 2 ? 'male' : 'female');
      for (let i = 0; i < 5; i++) await put(server, `p${i}`, 'other');
      assert.equal((await server.fhir('/Patient/p7', { method: 'DELETE' })).status, 200);
      const backup = await ferryAsync(['backup', '--out', join(root, 'b')], { FERRY_DATA_DIR: source });
      assert.equal(backup.status, 0, backup.stderr);
      // 26 versions of 20 Patients, and one AuditEvent per access (each its own resource)
      const counted = /^backup .*: (\d+) versions of (\d+) resources \(1 deleted\), (\d+) audit records/.exec(
        backup.stdout,
      );
      assert.ok(counted, backup.stdout);
      const [, versions, resources, audit] = counted.map(Number) as [number, number, number, number];
      assert.equal(versions - audit, 26);
      assert.equal(resources - audit, 20);
      expected = { versions, resources };
      before = await systemHistory(server);
    } finally {
      await server.stop();
    }
    const target = join(root, 'target');
    const restore = ferry(['restore', join(root, 'b')], { FERRY_DATA_DIR: target });
    assert.equal(restore.status, 0, restore.stderr);
    assert.match(
      restore.stdout,
      new RegExp(
        `^restored ${expected.versions} versions of ${expected.resources} resources.*audit trail intact`,
      ),
    );
    const verify = ferry(['audit', 'verify'], { FERRY_DATA_DIR: target });
    assert.equal(verify.status, 0, verify.stderr);

    const restored = await startServer({}, { keepDataDir: target });
    try {
      assert.deepEqual(await systemHistory(restored), before);
      assert.equal((await restored.fhir('/Patient/p7')).status, 410);
      const others = (await (await restored.fhir('/Patient?gender=other&_total=accurate')).json()) as Bundle;
      assert.equal(others.total, 5);
      const males = (await (await restored.fhir('/Patient?gender=male&_total=accurate')).json()) as Bundle;
      assert.equal(males.total, 7); // p5, p9, …, p19 less the deleted p7
      assert.ok(!restored.logs.some((l) => l.includes('search.index_stale')));
    } finally {
      await restored.stop();
    }
  });

  it('takes a consistent backup while the gateway is writing', async () => {
    const source = join(root, 'source');
    const server = await startServer({}, { keepDataDir: source });
    let rounds = 0;
    const state = { writing: true };
    try {
      // each transaction updates a pair; a consistent snapshot holds both or neither
      const writer = (async () => {
        while (state.writing) {
          const k = rounds++ % 10;
          const gender = rounds % 2 ? 'male' : 'female';
          const entry = ['a', 'b'].map((side) => ({
            resource: { resourceType: 'Patient', id: `${side}${k}`, gender },
            request: { method: 'PUT', url: `Patient/${side}${k}` },
          }));
          const r = await server.fhir('', {
            method: 'POST',
            json: { resourceType: 'Bundle', type: 'transaction', entry },
          });
          assert.equal(r.status, 200);
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const backup = await ferryAsync(['backup', '--out', join(root, 'b')], { FERRY_DATA_DIR: source });
      state.writing = false;
      await writer;
      assert.equal(backup.status, 0, backup.stderr);
    } finally {
      await server.stop();
    }
    assert.ok(rounds > 10, `${rounds} transactions`);
    const target = join(root, 'target');
    const restore = ferry(['restore', join(root, 'b')], { FERRY_DATA_DIR: target });
    assert.equal(restore.status, 0, restore.stderr);
    const restored = await startServer({}, { keepDataDir: target });
    try {
      for (let k = 0; k < 10; k++) {
        const [a, b] = await Promise.all(['a', 'b'].map((side) => restored.fhir(`/Patient/${side}${k}`)));
        assert.equal(a?.status, b?.status);
        assert.equal(a?.headers.get('etag'), b?.headers.get('etag'), `pair ${k}`);
      }
    } finally {
      await restored.stop();
    }
  });

  it('refuses a corrupted file, a wrong key and a store in use, each in one line', async () => {
    const source = join(root, 'source');
    const server = await startServer({}, { keepDataDir: source });
    try {
      await put(server, 'x', 'male');
    } finally {
      await server.stop();
    }
    const key = randomBytes(32).toString('base64');
    const keyFile = join(root, 'backup.key');
    writeFileSync(keyFile, `${key}\n`);
    assert.equal(ferry(['backup', '--out', join(root, 'plain')], { FERRY_DATA_DIR: source }).status, 0);
    const sealed = ferry(['backup', '--out', join(root, 'sealed'), '--key-file', keyFile], {
      FERRY_DATA_DIR: source,
    });
    assert.equal(sealed.status, 0, sealed.stderr);
    assert.match(sealed.stdout, / encrypted in /);

    const target = join(root, 'target');
    const wrongKey = randomBytes(32).toString('hex');
    refusedWith(
      ferry(['restore', join(root, 'sealed')], { FERRY_DATA_DIR: target, FERRY_BACKUP_KEY: wrongKey }),
      /^ferry: restore refused: resources\.ndjson\.gz\.enc: cannot be decrypted/,
    );
    refusedWith(
      ferry(['restore', join(root, 'sealed')], { FERRY_DATA_DIR: target }),
      /^ferry: restore refused: the backup is encrypted/,
    );
    const file = join(root, 'plain', 'resources.ndjson.gz');
    const bytes = readFileSync(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0x55;
    writeFileSync(file, bytes);
    refusedWith(
      ferry(['restore', join(root, 'plain')], { FERRY_DATA_DIR: target }),
      /^ferry: restore refused: resources\.ndjson\.gz: its SHA-256 is not the one in the manifest/,
    );
    const ok = ferry(['restore', join(root, 'sealed'), '--key-file', keyFile], { FERRY_DATA_DIR: target });
    assert.equal(ok.status, 0, ok.stderr);
    refusedWith(
      ferry(['restore', join(root, 'sealed'), '--key-file', keyFile], { FERRY_DATA_DIR: target }),
      /^ferry: restore refused: the store is not empty .*--force/,
    );
    const forced = ferry(['restore', join(root, 'sealed'), '--force'], {
      FERRY_DATA_DIR: target,
      FERRY_BACKUP_KEY: key,
    });
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /the store was erased first/);
  });

  it('keeps scheduled backups in timestamped folders, the newest FERRY_BACKUP_KEEP of them', async () => {
    const backups = join(root, 'scheduled');
    const server = await startServer({
      FERRY_BACKUP_DIR: backups,
      FERRY_BACKUP_EVERY: '1s',
      FERRY_BACKUP_KEEP: '2',
    });
    try {
      await put(server, 's', 'female');
      for (
        let waited = 0;
        server.logs.filter((l) => l.includes('"backup.completed"')).length < 4;
        waited += 100
      ) {
        assert.ok(waited < 20_000, 'four backups within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      assert.equal(await server.stop(), 0);
    }
    const kept = readdirSync(backups).sort();
    assert.equal(kept.length, 2, kept.join(' '));
    for (const name of kept) assert.match(name, /^ferry-backup-\d{8}T\d{6}\.\d{3}Z$/);
    const restore = ferry(['restore', join(backups, kept[1] ?? '')], {
      FERRY_DATA_DIR: join(root, 'target'),
    });
    assert.equal(restore.status, 0, restore.stderr);
  });

  it('stops start-up with one line naming a bad backup setting', () => {
    for (const [name, value] of [
      ['FERRY_BACKUP_EVERY', 'hourly'],
      ['FERRY_BACKUP_KEEP', 'none'],
      ['FERRY_BACKUP_KEY', 'not-a-key'],
    ] as const) {
      const run = ferry(['serve'], {
        FERRY_PORT: '0',
        FERRY_MLLP_PORT: '0',
        FERRY_DATA_DIR: join(root, 'data'),
        FERRY_BACKUP_DIR: join(root, 'b'),
        [name]: value,
      });
      refusedWith(run, new RegExp(`^ferry: ${name}: `));
    }
  });
});
