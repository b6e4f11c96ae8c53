import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent, Bundle, OperationOutcome } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';
import { oru } from '../fixtures/hl7v2/oru.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const sample = (name: string): string =>
  fileURLToPath(new URL(`../../mappings/csv/${name}`, import.meta.url));

const total = async (server: RunningServer, query: string): Promise<number> => {
  const res = await server.fhir(`/${query}${query.includes('?') ? '&' : '?'}_summary=count`);
  return ((await res.json()) as Bundle).total ?? -1;
};
const postCsv = (
  server: RunningServer,
  mapping: string,
  body: string | Buffer,
  type = 'text/csv',
  token?: string,
) =>
  fetch(`${server.origin}/ingest/csv/${mapping}`, {
    method: 'POST',
    headers: server.headers({
      'content-type': type,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    }),
    body,
  });

describe('CSV over HTTP: POST /ingest/csv/{mapping}', function () {
  this.timeout(60000);
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('stores a file and answers its summary as an OperationOutcome, leaving an AuditEvent', async () => {
    const res = await postCsv(server, 'lab-results', readFileSync(sample('lab-results.sample.csv')));
    assert.equal(res.status, 200);
    const outcome = (await res.json()) as OperationOutcome;
    assert.equal(outcome.issue[0]?.severity, 'information');
    assert.match(
      outcome.issue[0].diagnostics ?? '',
      /5 rows: 5 stored, 0 rejected; resources: 7 created, 0 updated, 0 unchanged/,
    );
    assert.equal(await total(server, 'Observation?code=http://loinc.org|2345-7'), 1);
    assert.equal(await total(server, 'Observation?subject:Patient.identifier=MRN0001'), 3);
    const again = await postCsv(server, 'lab-results', readFileSync(sample('lab-results.sample.csv')));
    assert.match(
      ((await again.json()) as OperationOutcome).issue[0]?.diagnostics ?? '',
      /0 created, 0 updated, 7 unchanged/,
    );
    const events = (await (await server.fhir('/AuditEvent?_count=200')).json()) as Bundle;
    const texts = (events.entry ?? []).map((e) => (e.resource as AuditEvent).outcomeDesc ?? '');
    assert.ok(
      texts.some((t) => /^CSV ingest lab-results over http: .*5 rows: 5 stored/.test(t)),
      `the file's event: ${texts.join(' | ')}`,
    );
    assert.ok(
      texts.some((t) => /^CSV ingest lab-results .*rows 2-6, 5 stored/.test(t)),
      'the chunk event, in the chunk commit',
    );
  });

  it('answers each rejected row with its row and column, and Latin-1 when the charset says so', async () => {
    const body = Buffer.from(
      'mrn,family_name,birth_date\nH1,Jürgen,1980-01-01\nH2,Bad,1980-13-01\n',
      'latin1',
    );
    const res = await postCsv(server, 'patients', body, 'text/csv; charset=iso-8859-1');
    assert.equal(res.status, 200);
    const outcome = (await res.json()) as OperationOutcome;
    assert.equal(outcome.issue[0]?.severity, 'warning');
    assert.match(outcome.issue[0].diagnostics ?? '', /2 rows: 1 stored, 1 rejected/);
    assert.equal(outcome.issue[1]?.diagnostics, "row 3, column birth_date: '1980-13-01' has no month 13");
    assert.deepEqual(outcome.issue[1].location, ['Line[3] Col[birth_date]']);
    const found = (await (await server.fhir('/Patient?identifier=H1')).json()) as Bundle;
    assert.equal(
      (found.entry?.[0]?.resource as { name?: { family?: string }[] }).name?.[0]?.family,
      'Jürgen',
    );
  });

  it('refuses a file whose header does not fit (422), and an atomic file with a bad row, storing nothing', async () => {
    const res = await postCsv(server, 'patients', 'id,name\n1,x\n');
    assert.equal(res.status, 422);
    assert.match(
      ((await res.json()) as OperationOutcome).issue[0]?.diagnostics ?? '',
      /required columns mrn, family_name are missing/,
    );
    const atomic = await fetch(`${server.origin}/ingest/csv/patients?atomic=true`, {
      method: 'POST',
      headers: server.headers({ 'content-type': 'text/csv' }),
      body: 'mrn,family_name,sex\nAT1,One,F\nAT2,Two,Q\n',
    });
    assert.equal(atomic.status, 422);
    assert.equal(await total(server, 'Patient?identifier=AT1'), 0);
  });

  it('answers 404 for an unknown mapping, 415 for another body, 401 without a token, 403 without the scopes', async () => {
    const unknown = await postCsv(server, 'nope', 'a\n1\n');
    assert.equal(unknown.status, 404);
    assert.match(
      ((await unknown.json()) as OperationOutcome).issue[0]?.diagnostics ?? '',
      /there are: .*lab-results/,
    );
    assert.equal((await postCsv(server, 'patients', '{}', 'application/json')).status, 415);
    const anonymous = await fetch(`${server.origin}/ingest/csv/patients`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'mrn,family_name\nX,Y\n',
    });
    assert.equal(anonymous.status, 401);
    const narrow = await server.mintToken('system/Patient.cu');
    const refused = await postCsv(server, 'patients', 'mrn,family_name\nX,Y\n', 'text/csv', narrow);
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as OperationOutcome).issue[0]?.diagnostics ?? '', /Provenance/);
  });
});

describe('dead letters over HTTP: /ingest/deadletters', function () {
  this.timeout(60000);
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('lists, shows, replays and discards a dead letter, for a token that reads everything ingest writes', async () => {
    await postCsv(server, 'patients', 'mrn,family_name,sex\nDL1,Dee,Q\n');
    const hl7 = 'MSH|^~\\&|LAB|CITY|FERRY|HOSP|20240305101500||XYZ^Q99|DLX|P|2.5.1\r';
    await fetch(`${server.origin}/ingest/hl7v2`, {
      method: 'POST',
      headers: server.headers({ 'content-type': 'application/hl7-v2' }),
      body: hl7,
    });
    const list = await fetch(`${server.origin}/ingest/deadletters`, { headers: server.headers() });
    assert.equal(list.status, 200);
    const { deadLetters } = (await list.json()) as {
      deadLetters: { id: string; source: string; reason: string; text?: string }[];
    };
    assert.equal(deadLetters.length, 2);
    assert.ok(
      deadLetters.every((l) => l.text === undefined),
      'the list leaves the messages out',
    );
    const csv = deadLetters.find((l) => l.source === 'csv');
    assert.ok(csv, 'the CSV row');
    const one = await fetch(`${server.origin}/ingest/deadletters/${csv.id}`, { headers: server.headers() });
    assert.equal(((await one.json()) as { text: string }).text, 'mrn,family_name,sex\nDL1,Dee,Q');
    const replay = await fetch(`${server.origin}/ingest/deadletters/${csv.id}/replay`, {
      method: 'POST',
      headers: server.headers(),
    });
    const result = (await replay.json()) as { stored: boolean; reason: string };
    assert.equal(result.stored, false);
    assert.match(result.reason, /'Q' is not a known code/);
    const hl7Letter = deadLetters.find((l) => l.source === 'hl7v2');
    const hl7Replay = await fetch(`${server.origin}/ingest/deadletters/${hl7Letter?.id ?? ''}/replay`, {
      method: 'POST',
      headers: server.headers(),
    });
    assert.equal(((await hl7Replay.json()) as { code: string }).code, 'AR');
    const narrow = await server.mintToken('system/Patient.rs');
    const refused = await fetch(`${server.origin}/ingest/deadletters`, {
      headers: { authorization: `Bearer ${narrow}` },
    });
    assert.equal(refused.status, 403);
    const gone = await fetch(`${server.origin}/ingest/deadletters/${csv.id}`, {
      method: 'DELETE',
      headers: server.headers(),
    });
    assert.equal(gone.status, 204);
    const after = await fetch(`${server.origin}/ingest/deadletters/${csv.id}`, { headers: server.headers() });
    assert.equal(after.status, 404);
    const events = (await (await server.fhir('/AuditEvent?_count=200')).json()) as Bundle;
    const texts = (events.entry ?? []).map((e) => (e.resource as AuditEvent).outcomeDesc ?? '');
    for (const what of [
      'dead letters listed: 2',
      `dead letter read: ${csv.id}`,
      `dead letter discarded: ${csv.id}`,
    ])
      assert.ok(texts.includes(what), `audited: ${what}`);
  });
});

describe('CSV from the command line', function () {
  this.timeout(60000);
  let dataDir: string;
  const ferry = (...args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH ?? '', FERRY_DATA_DIR: dataDir },
      cwd: dataDir,
      encoding: 'utf8',
    });
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ferry-csv-cli-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('ingests with a summary (exit 0), reports rejected rows (exit 3), and replays a dead letter', () => {
    const ok = ferry('ingest', sample('patients.sample.csv'), '--mapping', 'patients');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /patients\.sample\.csv: 4 rows: 4 stored, 0 rejected; resources: 4 created/);
    const bad = join(dataDir, 'bad.csv');
    writeFileSync(bad, 'mrn,family_name,sex\nK1,Kay,F\nK2,Lee,Q\n');
    const some = ferry('ingest', bad, '--mapping', 'patients');
    assert.equal(some.status, 3, some.stderr);
    assert.match(some.stdout, /2 rows: 1 stored, 1 rejected.*report: .*bad\.csv\.rejected\.csv/);
    assert.match(some.stderr, /row 3, column sex: 'Q' is not a known code/);
    assert.equal(
      readFileSync(join(dataDir, 'bad.csv.rejected.csv'), 'utf8'),
      "row,column,reason\n3,sex,'Q' is not a known code (vocabulary administrative-sex)\n",
    );
    const list = ferry('deadletters', 'list');
    assert.match(list.stdout, /csv patients bad\.csv row 3 {2}'Q' is not a known code/);
    const replay = ferry('deadletters', 'replay', '--all');
    assert.equal(replay.status, 1, 'still rejected by the same mapping');
    assert.match(replay.stdout, /kept {2}'Q' is not a known code/);
    const header = join(dataDir, 'header.csv');
    writeFileSync(header, 'id\n1\n');
    const refused = ferry('ingest', header, '--mapping', 'patients');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refused, nothing stored: .*required columns mrn, family_name are missing/);
  });

  it('leaves AuditEvents of what the command line ingested: each CSV file and batch, each HL7 v2 message', () => {
    const hl7 = join(dataDir, 'one.hl7');
    writeFileSync(hl7, oru('CLI-AUDIT'));
    assert.equal(ferry('ingest', hl7, '--mapping', 'ORU_R01').status, 0);
    const exported = ferry('audit', 'export');
    assert.equal(exported.status, 0, exported.stderr);
    const texts = exported.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as AuditEvent).outcomeDesc ?? '');
    assert.ok(
      texts.some((t) =>
        t.startsWith('CSV ingest patients from the command line: patients.sample.csv: 4 rows'),
      ),
      'the CSV file',
    );
    assert.ok(
      texts.some((t) => t.startsWith('CSV ingest patients patients.sample.csv: rows 2-5')),
      'its batch',
    );
    assert.ok(
      texts.some((t) => t === 'HL7 v2 ingest over file: ORU^R01 CLI-AUDIT answered AA'),
      'the HL7 v2 message',
    );
    const verify = ferry('audit', 'verify');
    assert.equal(verify.status, 0, verify.stderr);
  });

  it('prints the Bundle a CSV mapping makes of a sample, storing nothing', () => {
    const run = ferry('mappings', 'test', 'lab-results', sample('lab-results.sample.csv'));
    assert.equal(run.status, 0, run.stderr);
    const bundle = JSON.parse(run.stdout) as Bundle;
    const types = (bundle.entry ?? []).map((e) => e.resource?.resourceType);
    assert.deepEqual(types.sort(), [
      'Observation',
      'Observation',
      'Observation',
      'Observation',
      'Observation',
      'Patient',
      'Patient',
      'Provenance',
    ]);
    assert.match(bundle.entry?.[0]?.request?.ifNoneExist ?? '', /^identifier=http/);
  });
});

describe('the watched inbox survives kill -9 mid-file', function () {
  this.timeout(120000);
  it('neither loses nor stores twice a row of a file it was ingesting, and moves it to processed/', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-inbox-e2e-'));
    const inbox = join(dataDir, 'inbox');
    const env = { FERRY_INBOX_DIR: inbox, FERRY_INBOX_POLL: '0.1' };
    const rows = 12000;
    try {
      let server = await startServer(env, { keepDataDir: dataDir });
      const lines = ['mrn,family_name,given_names,sex'];
      for (let i = 0; i < rows; i++) lines.push(`IN${i},Family${i},Given,${i % 2 ? 'F' : 'M'}`);
      // written under a .part name, then renamed: the documented way to hand over a file
      writeFileSync(join(inbox, 'patients', 'big.csv.part'), `${lines.join('\n')}\n`);
      renameSync(join(inbox, 'patients', 'big.csv.part'), join(inbox, 'patients', 'big.csv'));
      let stored = 0;
      for (let i = 0; i < 600 && stored === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        stored = await total(server, 'Patient');
      }
      server.process.kill('SIGKILL');
      await server.stop();
      assert.ok(stored > 0 && stored < rows, `killed mid-file (${stored} of ${rows} stored)`);
      assert.ok(existsSync(join(inbox, 'patients', '.processing', 'big.csv')), 'left in .processing/');

      server = await startServer(env, { keepDataDir: dataDir });
      let done: string | undefined;
      for (let i = 0; i < 1200 && !done; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        done = readdirSync(join(inbox, 'patients', 'processed')).find((n) =>
          n.endsWith('-big.csv.report.json'),
        );
      }
      assert.ok(done, 'processed after the restart');
      assert.equal(await total(server, 'Patient'), rows, 'every row once');
      const report = JSON.parse(readFileSync(join(inbox, 'patients', 'processed', done), 'utf8')) as {
        rows: number;
        stored: number;
        resumedAfter?: number;
      };
      assert.equal(report.stored, rows);
      assert.ok((report.resumedAfter ?? 0) > 1, `resumed, not started over: ${JSON.stringify(report)}`);
      await server.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
