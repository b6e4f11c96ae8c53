import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { startServer, type RunningServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  deleted: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
}

const category = (code: string) => [
  { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] },
];

describe('Bulk Data $export', function () {
  this.timeout(120000);
  let server: RunningServer;

  /** The server's URLs use FERRY_BASE_URL (http://localhost/fhir); this one is the real origin. */
  const local = (url: string): string => url.replace('http://localhost/fhir', server.base);

  const kickOff = (path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${server.base}${path}`, {
      ...init,
      headers: server.headers({
        prefer: 'respond-async',
        accept: 'application/fhir+json',
        ...(init.headers as object),
      }),
    });

  /** Polls until the manifest is there (following Retry-After, in seconds). */
  async function manifestOf(res: Response, token?: string): Promise<Manifest> {
    assert.equal(res.status, 202, await res.clone().text());
    const status = local(res.headers.get('content-location') ?? '');
    for (let i = 0; i < 100; i++) {
      const poll = await fetch(status, {
        headers: token ? { authorization: `Bearer ${token}` } : server.headers(),
      });
      if (poll.status === 200) return (await poll.json()) as Manifest;
      assert.equal(poll.status, 202, await poll.text());
      assert.ok(poll.headers.get('x-progress'));
      assert.match(poll.headers.get('retry-after') ?? '', /^\d+$/);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the export did not finish');
  }

  async function lines(
    manifest: Manifest,
    type: string,
    token?: string,
  ): Promise<{ resourceType: string; id: string }[]> {
    const out: { resourceType: string; id: string }[] = [];
    for (const file of manifest.output.filter((f) => f.type === type)) {
      const res = await fetch(local(file.url), {
        headers: token ? { authorization: `Bearer ${token}` } : server.headers(),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/fhir+ndjson');
      const text = await res.text();
      const parsed = text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { resourceType: string; id: string });
      assert.equal(parsed.length, file.count);
      out.push(...parsed);
    }
    return out;
  }

  const count = async (query: string): Promise<number> =>
    (
      (await (await server.fhir(`${query}${query.includes('?') ? '&' : '?'}_summary=count`)).json()) as {
        total: number;
      }
    ).total;

  before(async () => {
    server = await startServer({
      FERRY_EXPORT_MAX_JOBS: '3',
      FERRY_EXPORT_LEASE: '1',
      FERRY_EXPORT_FILE_MAX: '4kb',
    });
    const entries: unknown[] = [];
    for (let p = 1; p <= 4; p++) {
      entries.push({
        request: { method: 'PUT', url: `Patient/p${p}` },
        resource: { resourceType: 'Patient', id: `p${p}`, name: [{ family: `Family${p}` }] },
      });
      for (let o = 1; o <= 15; o++) {
        entries.push({
          request: { method: 'PUT', url: `Observation/p${p}-o${o}` },
          resource: {
            resourceType: 'Observation',
            id: `p${p}-o${o}`,
            status: 'final',
            category: category(o % 3 === 0 ? 'vital-signs' : 'laboratory'),
            code: { text: `test ${o}` },
            subject: { reference: `Patient/p${p}` },
            valueQuantity: { value: o, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
          },
        });
      }
    }
    entries.push({
      request: { method: 'PUT', url: 'Group/g1' },
      resource: {
        resourceType: 'Group',
        id: 'g1',
        type: 'person',
        actual: true,
        member: [{ entity: { reference: 'Patient/p1' } }, { entity: { reference: 'Patient/p3' } }],
      },
    });
    entries.push({
      request: { method: 'PUT', url: 'Organization/lab' },
      resource: { resourceType: 'Organization', id: 'lab', name: 'Lab' },
    });
    const res = await server.fhir('', {
      method: 'POST',
      json: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    });
    assert.equal(res.status, 200, await res.text());
  });

  after(async () => {
    await server.stop();
  });

  it('refuses a kick-off without a token (401) or without Prefer: respond-async (400)', async () => {
    const anonymous = await fetch(`${server.base}/$export`, { headers: { prefer: 'respond-async' } });
    assert.equal(anonymous.status, 401);
    const sync = await server.fhir('/$export');
    assert.equal(sync.status, 400);
    assert.match(await sync.text(), /respond-async/);
  });

  it('exports every type with counts that match the search, in files split at the size limit', async () => {
    const manifest = await manifestOf(await kickOff('/$export'));
    assert.equal(manifest.requiresAccessToken, true);
    assert.deepEqual(manifest.error, []);
    assert.deepEqual(manifest.deleted, []);
    assert.equal(manifest.request, 'http://localhost/fhir/$export');
    assert.ok(!Number.isNaN(Date.parse(manifest.transactionTime)));
    for (const type of ['Patient', 'Observation', 'Group', 'Organization']) {
      const total = manifest.output.filter((f) => f.type === type).reduce((n, f) => n + f.count, 0);
      assert.equal(total, await count(`/${type}`), type);
    }
    assert.ok(manifest.output.filter((f) => f.type === 'Observation').length > 1, 'split at 4kb');
    const observations = await lines(manifest, 'Observation');
    assert.equal(new Set(observations.map((o) => o.id)).size, 60);
    assert.ok(!manifest.output.some((f) => f.type === 'AuditEvent'));
  });

  it('exports the types asked for, filtered through the search engine, with _elements', async () => {
    const manifest = await manifestOf(
      await kickOff(
        `/$export?_type=Observation,Patient&_typeFilter=${encodeURIComponent('Observation?category=vital-signs')}&_elements=status&_outputFormat=${encodeURIComponent('application/fhir+ndjson')}`,
      ),
    );
    assert.deepEqual([...new Set(manifest.output.map((f) => f.type))].sort(), ['Observation', 'Patient']);
    const observations = await lines(manifest, 'Observation');
    assert.equal(observations.length, await count('/Observation?category=vital-signs'));
    const first = observations[0] as unknown as {
      status: string;
      subject?: unknown;
      meta: { tag?: { code: string }[] };
    };
    assert.equal(first.status, 'final');
    assert.equal(first.subject, undefined);
    assert.ok(first.meta.tag?.some((t) => t.code === 'SUBSETTED'));
  });

  it('answers unsupported parameters precisely: 400 when strict, a note in the error file when lenient', async () => {
    const strict = await kickOff(
      '/$export?_type=Observation&includeAssociatedData=LatestProvenanceResources',
      {
        headers: { prefer: 'respond-async, handling=strict' },
      },
    );
    assert.equal(strict.status, 400);
    assert.match(await strict.text(), /includeAssociatedData/);
    const lenient = await manifestOf(
      await kickOff('/$export?_type=Observation,Nonsense', {
        headers: { prefer: 'respond-async, handling=lenient' },
      }),
    );
    assert.equal(lenient.error.length, 1);
    const outcome = await (
      await fetch(local(lenient.error[0]?.url ?? ''), { headers: server.headers() })
    ).text();
    assert.match(outcome, /Nonsense/);
    const format = await kickOff('/$export?_outputFormat=text/csv');
    assert.equal(format.status, 400);
  });

  it('lists what changed and what was deleted since _since', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    const updated = await server.fhir('/Observation/p2-o1', {
      method: 'PUT',
      json: {
        resourceType: 'Observation',
        id: 'p2-o1',
        status: 'amended',
        code: { text: 'test 1' },
        subject: { reference: 'Patient/p2' },
      },
    });
    assert.equal(updated.status, 200);
    assert.equal((await server.fhir('/Observation/p2-o2', { method: 'DELETE' })).status, 200);
    const manifest = await manifestOf(
      await kickOff(`/$export?_type=Observation&_since=${encodeURIComponent(since)}`),
    );
    assert.deepEqual(
      (await lines(manifest, 'Observation')).map((o) => o.id),
      ['p2-o1'],
    );
    assert.equal(manifest.deleted.length, 1);
    const bundle = JSON.parse(
      (
        await (await fetch(local(manifest.deleted[0]?.url ?? ''), { headers: server.headers() })).text()
      ).trim(),
    ) as { type: string; entry: { request: { method: string; url: string } }[] };
    assert.equal(bundle.type, 'transaction');
    assert.deepEqual(bundle.entry, [{ request: { method: 'DELETE', url: 'Observation/p2-o2' } }]);
  });

  it('exports a Group’s members’ compartments, and every patient’s at the Patient level', async () => {
    const group = await manifestOf(await kickOff('/Group/g1/$export?_type=Patient,Observation'));
    const patients = (await lines(group, 'Patient')).map((p) => p.id).sort();
    assert.deepEqual(patients, ['p1', 'p3']);
    const observations = (await lines(group, 'Observation')) as unknown as {
      subject: { reference: string };
    }[];
    assert.equal(observations.length, 30);
    assert.ok(observations.every((o) => ['Patient/p1', 'Patient/p3'].includes(o.subject.reference)));
    const all = await manifestOf(await kickOff('/Patient/$export'));
    // Group is in the Patient compartment (Group.member); Organization is not
    assert.ok(!all.output.some((f) => f.type === 'Organization'));
    assert.ok(all.output.some((f) => f.type === 'Group'));
    assert.equal((await lines(all, 'Patient')).length, 4);
    assert.equal((await kickOff('/Group/nobody/$export')).status, 404);
  });

  it('takes patients from a POST Parameters body', async () => {
    const res = await kickOff('/Patient/$export', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Patient' },
          { name: 'patient', valueReference: { reference: 'Patient/p4' } },
        ],
      }),
    });
    const manifest = await manifestOf(res);
    assert.deepEqual(
      (await lines(manifest, 'Patient')).map((p) => p.id),
      ['p4'],
    );
  });

  it('gives a patient token its own compartment only, and needs read and search on each type', async () => {
    const portal = await server.mintToken('patient/*.rs', { patient: 'p2' });
    const res = await fetch(`${server.base}/$export?_type=Patient,Observation`, {
      headers: { authorization: `Bearer ${portal}`, prefer: 'respond-async' },
    });
    const manifest = await manifestOf(res, portal);
    assert.deepEqual(
      (await lines(manifest, 'Patient', portal)).map((p) => p.id),
      ['p2'],
    );
    assert.equal(
      (await lines(manifest, 'Observation', portal)).length,
      await count('/Patient/p2/Observation'),
    );
    const readOnly = await server.mintToken('system/Observation.r');
    const refused = await fetch(`${server.base}/$export?_type=Observation`, {
      headers: { authorization: `Bearer ${readOnly}`, prefer: 'respond-async' },
    });
    assert.equal(refused.status, 403);
  });

  it('serves files only with a token of the same client, with Range and gzip', async () => {
    const manifest = await manifestOf(await kickOff('/$export?_type=Organization'));
    const url = local(manifest.output[0]?.url ?? '');
    assert.equal((await fetch(url)).status, 401);
    const other = await server.mintToken('system/*.rs', { client: 'someone-else' });
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${other}` } })).status, 404);
    const whole = await (await fetch(url, { headers: server.headers() })).text();
    const part = await fetch(url, { headers: server.headers({ range: 'bytes=0-9' }) });
    assert.equal(part.status, 206);
    assert.equal(await part.text(), whole.slice(0, 10));
    const zipped = await fetch(url, { headers: server.headers({ 'accept-encoding': 'gzip' }) });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    // fetch decodes gzip itself; the body must be the same text
    assert.equal(await zipped.text(), whole);
    const raw = await new Promise<Buffer>((resolve, reject) => {
      void import('node:http').then(({ get }) =>
        get(url, { headers: { authorization: `Bearer ${server.token}`, 'accept-encoding': 'gzip' } }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
        }).on('error', reject),
      );
    });
    assert.equal(gunzipSync(raw).toString(), whole);
  });

  it('cancels a job with DELETE: 202, then 404', async () => {
    const res = await kickOff('/$export?_type=Observation');
    const status = local(res.headers.get('content-location') ?? '');
    const cancelled = await fetch(status, { method: 'DELETE', headers: server.headers() });
    assert.equal(cancelled.status, 202);
    assert.equal((await fetch(status, { headers: server.headers() })).status, 404);
  });

  it('records the kick-off, the finished status, each download and a cancel in the audit trail', async () => {
    const started = new Date().toISOString();
    const manifest = await manifestOf(await kickOff('/$export?_type=Organization'));
    const job = /\$export-file\/([^/]+)\//.exec(manifest.output[0]?.url ?? '')?.[1] ?? '';
    assert.ok(job);
    await (await fetch(local(manifest.output[0]?.url ?? ''), { headers: server.headers() })).text();
    const cancelled = await kickOff('/$export?_type=Observation');
    const status = local(cancelled.headers.get('content-location') ?? '');
    assert.equal((await fetch(status, { method: 'DELETE', headers: server.headers() })).status, 202);
    const res = await server.fhir(`/AuditEvent?date=ge${started}&_count=1000&subtype=operation`);
    const bundle = (await res.json()) as {
      entry?: { resource: { outcomeDesc?: string; outcome: string } }[];
    };
    const said = (bundle.entry ?? []).map((e) => e.resource.outcomeDesc ?? '');
    for (const expected of [
      new RegExp(`^\\$export kick-off: job ${job}, 1 types`),
      new RegExp(`^\\$export complete: job ${job}, manifest of \\d+ files`),
      new RegExp(`^\\$export file download: job ${job}, `),
      /^\$export cancelled: job /,
    ])
      assert.ok(
        said.some((text) => expected.test(text)),
        `${String(expected)} in ${JSON.stringify(said)}`,
      );
  });

  it('says 429 when too many exports run, and takes over a job whose process died', async () => {
    // jobs left running by a process that is gone: its lease has lapsed or lapses soon
    const store = new SqliteStore(join(server.dataDir, 'ferry.db'));
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    try {
      for (const id of ids) {
        await store.write({
          versions: [],
          records: [
            {
              namespace: 'export-job',
              key: id,
              value: {
                id,
                clientId: 'ferry-cli',
                request: 'http://localhost/fhir/$export?_type=Patient',
                spec: { level: 'system', types: ['Patient'], typeFilters: {}, notes: [] },
                state: 'running',
                createdAt: new Date().toISOString(),
                resources: 0,
                attempts: 1,
              },
            },
            { namespace: 'export-lease', key: id, value: 'gone', expiresAt: Date.now() + 1500 },
          ],
        });
      }
    } finally {
      await store.close();
    }
    const busy = await kickOff('/$export?_type=Patient');
    assert.equal(busy.status, 429);
    assert.match(busy.headers.get('retry-after') ?? '', /^\d+$/);
    for (const id of ids) {
      const pending = new Response(null, {
        status: 202,
        headers: { 'content-location': `http://localhost/fhir/$export-status/${id}` },
      });
      const manifest = await manifestOf(pending);
      assert.equal(
        manifest.output.reduce((n, f) => n + f.count, 0),
        4,
      );
    }
    assert.ok(server.logs.some((l) => l.includes('"export.taken_over"')));
  });

  it('exports from the command line with a manifest', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ferry-export-cli-'));
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [bin, 'export', '--out', join(out, 'x'), '--type', 'Patient,Group'],
        {
          env: server.env,
        },
      );
      assert.match(stdout, /exported 5 resources/);
      const files = readdirSync(join(out, 'x')).sort();
      assert.deepEqual(files, ['Group-1.ndjson', 'Patient-1.ndjson', 'manifest.json']);
      const manifest = JSON.parse(readFileSync(join(out, 'x', 'manifest.json'), 'utf8')) as Manifest;
      assert.equal(manifest.output.find((f) => f.type === 'Patient')?.count, 4);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('Bulk Data export files expire', function () {
  this.timeout(60000);
  it('removes a finished export and its files after FERRY_EXPORT_TTL', async () => {
    const server = await startServer({ FERRY_EXPORT_TTL: '1', FERRY_EXPORT_LEASE: '1' });
    try {
      await server.fhir('/Patient/x', { method: 'PUT', json: { resourceType: 'Patient', id: 'x' } });
      const res = await server.fhir('/$export', { headers: { prefer: 'respond-async' } });
      assert.equal(res.status, 202);
      const status = (res.headers.get('content-location') ?? '').replace(
        'http://localhost/fhir',
        server.base,
      );
      let manifest: Manifest | undefined;
      for (let i = 0; i < 50 && !manifest; i++) {
        const poll = await fetch(status, { headers: server.headers() });
        if (poll.status === 200) manifest = (await poll.json()) as Manifest;
        else await new Promise((r) => setTimeout(r, 50));
      }
      const file = (manifest?.output[0]?.url ?? '').replace('http://localhost/fhir', server.base);
      assert.equal((await fetch(file, { headers: server.headers() })).status, 200);
      const job = status.split('/').pop() ?? '';
      let gone = false;
      for (let i = 0; i < 40 && !gone; i++) {
        await new Promise((r) => setTimeout(r, 250));
        gone = (await fetch(status, { headers: server.headers() })).status === 404;
      }
      assert.ok(gone, 'the job is forgotten');
      assert.equal((await fetch(file, { headers: server.headers() })).status, 404);
      assert.deepEqual(
        readdirSync(join(server.dataDir, 'exports')).filter((d) => d === job),
        [],
      );
    } finally {
      await server.stop();
    }
  });
});
