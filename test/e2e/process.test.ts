import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));

function ferry(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', FERRY_PORT: '0', FERRY_MLLP_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 15000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('the ferry process', () => {
  it('stops on a bad configuration value with one line naming the variable', () => {
    for (const [name, value] of [
      ['FERRY_PORT', 'http'],
      ['FERRY_STORE', 'oracle://db'],
      ['FERRY_BASE_URL', '::nonsense'],
    ] as const) {
      const run = ferry(['serve'], { [name]: value });
      assert.notEqual(run.status, 0, name);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0] ?? '', new RegExp(`^ferry: ${name}: `));
      assert.doesNotMatch(run.stderr, /at .*\.js:\d+/);
    }
  });

  it('stops with one line when the TLS files cannot be read', () => {
    const run = ferry(['serve'], {
      FERRY_TLS_CERT: '/nonexistent/cert.pem',
      FERRY_TLS_KEY: '/nonexistent/key.pem',
      FERRY_DATA_DIR: '/tmp/ferry-tls-test',
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr.trim(), /^ferry: FERRY_TLS_CERT: cannot read/);
  });

  it('lists its settings as flags under serve --help, and refuses an unknown command', () => {
    const help = ferry(['serve', '--help']);
    assert.equal(help.status, 0);
    for (const v of ['FERRY_PORT', 'FERRY_STORE', 'FERRY_MLLP_PORT', '--data-dir'])
      assert.ok(help.stdout.includes(v), v);
    const unknown = ferry(['fly']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /^ferry: unknown command 'fly'/);
  });

  it('reindexes the stored resources and verifies the audit trail while the gateway runs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-reindex-'));
    const server = await startServer({}, { keepDataDir: dataDir });
    try {
      for (const id of ['r1', 'r2', 'r3']) {
        const put = await server.fhir(`/Patient/${id}`, {
          method: 'PUT',
          json: { resourceType: 'Patient', id, gender: 'female' },
        });
        assert.equal(put.status, 201);
      }
      const verified = ferry(['audit', 'verify'], { FERRY_DATA_DIR: dataDir });
      assert.equal(verified.status, 0, verified.stderr);
      assert.match(verified.stdout, /^audit trail intact: \d+ records/);
      const run = ferry(['reindex'], { FERRY_DATA_DIR: dataDir });
      assert.equal(run.status, 0, run.stderr);
      // the three Patients, the AuditEvents of their three creates, of the server's first
      // signing key and of the harness's token
      assert.match(run.stdout, /^reindexed 8 resources in /);
      const found = (await (await server.fhir('/Patient?gender=female&_total=accurate')).json()) as {
        total?: number;
      };
      assert.equal(found.total, 3);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('finishes a request in flight on SIGTERM, then exits 0 with the data stored', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-sigterm-'));
    const server = await startServer({}, { keepDataDir: dataDir });
    const { port } = new URL(server.origin);
    const body = JSON.stringify({ resourceType: 'Patient', id: 'inflight', gender: 'female' });
    const half = Math.floor(body.length / 2);
    const response = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'PUT',
          path: '/fhir/Patient/inflight',
          headers: {
            'content-type': 'application/fhir+json',
            'content-length': body.length,
            authorization: `Bearer ${server.token}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half));
      setTimeout(() => {
        server.process.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(half)), 300);
      }, 100);
    });
    assert.equal(await response, 201);
    const code = await server.stop();
    assert.equal(code, 0);
    assert.ok(server.logs.some((l) => l.includes('"gateway.stopped"')));
    const again = await startServer({}, { keepDataDir: dataDir });
    try {
      assert.equal((await again.fhir('/Patient/inflight')).status, 200);
      const refused = await fetch(`${server.origin}/healthz`).then(
        () => 'answered',
        () => 'refused',
      );
      assert.equal(refused, 'refused');
    } finally {
      await again.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
