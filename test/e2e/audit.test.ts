import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { AuditEvent, Bundle, Patient } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));

const patient: Patient = { resourceType: 'Patient', name: [{ family: 'Audit', given: ['Ann'] }] };

/** The AuditEvents a search finds, newest last (chain order). */
async function events(server: RunningServer, query: string): Promise<AuditEvent[]> {
  const res = await server.fhir(`/AuditEvent?${query}&_count=1000`);
  assert.equal(res.status, 200);
  const bundle = (await res.json()) as Bundle;
  const found = (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is AuditEvent => r?.resourceType === 'AuditEvent');
  return found.sort((a, b) => sequence(a) - sequence(b));
}

/** A stored AuditEvent's place in the hash chain. */
const sequence = (e: AuditEvent | undefined): number =>
  e?.extension?.[0]?.extension?.find((x) => x.url === 'sequence')?.valueDecimal ?? 0;

const subtype = (e: AuditEvent | undefined): string | undefined => e?.subtype?.[0]?.code;
const references = (e: AuditEvent | undefined): (string | undefined)[] =>
  (e?.entity ?? []).map((x) => x.what?.reference);

async function create(server: RunningServer, resource: object): Promise<{ id: string }> {
  const res = await server.fhir(`/${(resource as { resourceType: string }).resourceType}`, {
    method: 'POST',
    json: resource,
  });
  assert.equal(res.status, 201);
  return (await res.json()) as { id: string };
}

function ferry(
  dataDir: string,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', FERRY_DATA_DIR: dataDir },
    encoding: 'utf8',
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('the audit trail records every access', function () {
  let server: RunningServer;
  let pid: string;
  before(async () => {
    server = await startServer({ FERRY_AUDIT_SOURCE: 'ferry-e2e' });
    pid = (await create(server, patient)).id;
  });
  after(async () => {
    await server.stop();
  });

  it('records a create: type rest, subtype create, action C, the version, the patient, agent and source', async () => {
    const obs = await create(server, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'glucose' },
      subject: { reference: `Patient/${pid}` },
    });
    const found = await events(server, `entity=Observation/${obs.id}`);
    assert.equal(found.length, 1);
    const event = found[0];
    assert.ok(event);
    assert.equal(event.type.code, 'rest');
    assert.equal(subtype(event), 'create');
    assert.equal(event.action, 'C');
    assert.equal(event.outcome, '0');
    assert.deepEqual(references(event), [`Observation/${obs.id}/_history/1`, `Patient/${pid}`]);
    const agent = event.agent[0];
    assert.equal(agent?.requestor, true);
    assert.equal(agent.network?.address, '127.0.0.1');
    assert.ok(agent.who?.identifier?.value ?? agent.who?.display);
    assert.equal(event.source.site, 'http://localhost/fhir');
    assert.equal(event.source.observer.display, 'ferry-e2e');
  });

  it('records read, vread, update, patch, history and delete with their actions', async () => {
    const { id } = await create(server, patient);
    assert.equal((await server.fhir(`/Patient/${id}`)).status, 200);
    assert.equal((await server.fhir(`/Patient/${id}/_history/1`)).status, 200);
    const put = await server.fhir(`/Patient/${id}`, {
      method: 'PUT',
      json: { ...patient, id, gender: 'female' },
    });
    assert.equal(put.status, 200);
    const patch = await server.fhir(`/Patient/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'add', path: '/birthDate', value: '1970-01-01' }]),
    });
    assert.equal(patch.status, 200);
    assert.equal((await server.fhir(`/Patient/${id}/_history`)).status, 200);
    assert.equal((await server.fhir(`/Patient/${id}`, { method: 'DELETE' })).status, 200);
    const trail = await events(server, `entity=Patient/${id}`);
    assert.deepEqual(
      trail.map((e) => `${subtype(e) ?? ''} ${e.action ?? ''} ${e.outcome ?? ''}`),
      [
        'create C 0',
        'read R 0',
        'vread R 0',
        'update U 0',
        'patch U 0',
        'history-instance R 0',
        'delete D 0',
      ],
    );
    assert.equal(references(trail[1])[0], `Patient/${id}/_history/1`);
    assert.equal(references(trail[3])[0], `Patient/${id}/_history/2`);
    assert.equal(references(trail[4])[0], `Patient/${id}/_history/3`);
    assert.equal(references(trail[6])[0], `Patient/${id}/_history/4`);
  });

  it('records a search with its query base64 and the patient it is confined to', async () => {
    const res = await server.fhir(`/Observation?subject=Patient/${pid}&code:text=glucose`);
    assert.equal(res.status, 200);
    const searches = await events(server, `subtype=search-type&patient=${pid}`);
    const last = searches.at(-1);
    assert.equal(last?.action, 'E');
    const query = last.entity?.find((e) => e.query !== undefined)?.query;
    assert.equal(
      Buffer.from(query ?? '', 'base64').toString('utf8'),
      `Observation?subject=Patient%2F${pid}&code%3Atext=glucose`,
    );
    assert.ok(references(last).includes(`Patient/${pid}`));
  });

  it('records $validate, type and system history as interactions of their own', async () => {
    const validate = await server.fhir('/Patient/$validate', { method: 'POST', json: patient });
    assert.equal(validate.status, 200);
    assert.equal((await server.fhir('/Patient/_history')).status, 200);
    assert.equal((await server.fhir('/_history')).status, 200);
    assert.ok((await events(server, 'subtype=operation')).length >= 1);
    assert.ok((await events(server, 'subtype=history-type')).length >= 1);
    assert.ok((await events(server, 'subtype=history-system')).length >= 1);
  });

  it('records failures as the interaction attempted, with the reason (outcome 4)', async () => {
    assert.equal((await server.fhir('/Patient/no-such-patient')).status, 404);
    const [read] = await events(server, 'entity=Patient/no-such-patient');
    assert.ok(read);
    assert.equal(subtype(read), 'read');
    assert.equal(read.outcome, '4');
    assert.match(read.outcomeDesc ?? '', /not known/);
    const refused = await server.fhir(`/AuditEvent/${read.id ?? ''}`, { method: 'DELETE' });
    assert.equal(refused.status, 405);
    const [attempt] = await events(server, `entity=AuditEvent/${read.id ?? ''}&outcome=4`);
    assert.equal(subtype(attempt), 'delete');
    const bad = await server.fhir('/Observation?date=notadate');
    assert.equal(bad.status, 400);
    assert.ok((await events(server, 'subtype=search-type&outcome=4')).length >= 1);
  });

  it('records a transaction: one event per entry and one for the Bundle, in the same commit', async () => {
    const before = (await events(server, 'subtype=transaction')).length;
    const res = await server.fhir('/', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:1', resource: patient, request: { method: 'POST', url: 'Patient' } },
          {
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: { text: 'tx' },
              subject: { reference: 'urn:uuid:1' },
            },
            request: { method: 'POST', url: 'Observation' },
          },
          { request: { method: 'GET', url: `Patient/${pid}` } },
        ],
      },
    });
    assert.equal(res.status, 200);
    const bundle = (await res.json()) as Bundle;
    const created = bundle.entry?.[0]?.response?.location?.replace(/\/_history\/.*/, '') ?? '';
    const txs = await events(server, 'subtype=transaction');
    assert.equal(txs.length, before + 1);
    const bundleEvent = txs.at(-1);
    const [createEvent] = await events(server, `entity=${created}`);
    assert.equal(subtype(createEvent), 'create');
    // one write set: the entries' events and the Bundle's are consecutive links of the chain
    const last = sequence(bundleEvent);
    const run = (await events(server, `date=ge${bundleEvent?.recorded.slice(0, 10) ?? ''}`)).filter(
      (e) => sequence(e) > last - 4 && sequence(e) <= last,
    );
    assert.deepEqual(run.map(subtype), ['read', 'create', 'create', 'transaction']);
    assert.ok(run.some((e) => e.id === createEvent?.id));
  });

  it('records a batch: each entry (failed ones too) and the Bundle', async () => {
    const res = await server.fhir('/', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${pid}` } },
          { request: { method: 'GET', url: 'Patient/batch-missing' } },
        ],
      },
    });
    assert.equal(res.status, 200);
    assert.equal((await events(server, 'entity=Patient/batch-missing&outcome=4')).length, 1);
    assert.ok((await events(server, 'subtype=batch')).length >= 1);
  });

  it('answers every AuditEvent search parameter through the search engine', async () => {
    const [first] = await events(server, `entity=Patient/${pid}`);
    assert.ok(first);
    const at = first.recorded;
    const client = first.agent.find((a) => a.who?.identifier)?.who?.identifier;
    assert.ok(client?.value, 'the create names its client');
    const checks = [
      `agent:identifier=${client.system ?? ''}|${client.value}`,
      'agent:missing=false',
      `date=${at}`,
      `date=ge${at.slice(0, 10)}`,
      `address=127.0.0.1`,
      `entity=Patient/${pid}`,
      `patient=Patient/${pid}`,
      'type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest',
      'subtype=http://hl7.org/fhir/restful-interaction|create',
      'action=C',
      'outcome=0',
      'site=http://localhost/fhir',
      'source:identifier=urn:ferry:source|ferry-e2e',
      `_id=${first.id ?? ''}`,
    ];
    for (const check of checks) {
      const found = await events(server, check);
      assert.ok(
        found.some((e) => e.id === first.id),
        `${check} finds the create of Patient/${pid}`,
      );
    }
    assert.equal((await events(server, `entity=Patient/${pid}&action=D`)).length, 0);
    // an operator's own events (the first signing key's, at start) name the local user by
    // display only: no agent to search by
    const unnamed = await events(server, 'agent:missing=true');
    assert.ok(unnamed.length >= 1);
    for (const e of unnamed) {
      assert.ok(
        e.agent.every((a) => !a.who?.reference && !a.who?.identifier),
        `${e.id ?? ''} has an agent to search by`,
      );
    }
    assert.equal((await events(server, 'agent:identifier=urn:ferry:client|no-such-client')).length, 0);
  });

  it('records one event for reading the audit trail, and nothing more (no recursion)', async () => {
    const count = async (): Promise<number> => {
      const res = await server.fhir('/AuditEvent?_summary=count');
      return ((await res.json()) as Bundle).total ?? NaN;
    };
    const a = await count();
    const b = await count();
    const c = await count();
    assert.equal(b - a, 1);
    assert.equal(c - b, 1);
    const searches = await events(server, 'subtype=search-type&entity-role=24');
    assert.ok(searches.length >= 3);
  });

  it('leaves AuditEvents out of system-level search and history unless they are named', async () => {
    const history = (await (await server.fhir('/_history?_count=1000')).json()) as Bundle;
    assert.ok((history.entry ?? []).length > 0);
    assert.ok(!(history.entry ?? []).some((e) => e.resource?.resourceType === 'AuditEvent'));
    const typed = (await (await server.fhir('/?_type=AuditEvent&_count=5')).json()) as Bundle;
    assert.equal(typed.entry?.[0]?.resource?.resourceType, 'AuditEvent');
    const typeHistory = (await (await server.fhir('/AuditEvent/_history?_count=5')).json()) as Bundle;
    assert.equal(typeHistory.entry?.[0]?.resource?.resourceType, 'AuditEvent');
  });
});

describe('the audit trail survives a crash', function () {
  this.timeout(60_000);
  it('keeps an event for every acknowledged write after kill -9, and the chain verifies', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-audit-crash-'));
    try {
      const server = await startServer({}, { keepDataDir: dataDir });
      const acknowledged: string[] = [];
      let stop = false;
      const writer = async (): Promise<void> => {
        while (!stop) {
          try {
            const res = await server.fhir('/Patient', { method: 'POST', json: patient });
            if (res.status === 201) acknowledged.push(((await res.json()) as { id: string }).id);
            if (acknowledged.length % 7 === 0) await server.fhir(`/Patient/${acknowledged.at(-1) ?? 'x'}`);
          } catch {
            return; // the server is gone
          }
        }
      };
      const writers = Array.from({ length: 16 }, () => writer());
      await new Promise((resolve) => setTimeout(resolve, 1500));
      server.process.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await server.stop();
      assert.ok(acknowledged.length > 20, `only ${acknowledged.length} writes before the kill`);

      const verify = ferry(dataDir, 'audit', 'verify');
      assert.equal(verify.status, 0, verify.stderr);

      const out = join(dataDir, 'audit.ndjson');
      const exported = ferry(dataDir, 'audit', 'export', '--out', out);
      assert.equal(exported.status, 0, exported.stderr);
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      const audited = new Set(
        lines
          .map((l) => JSON.parse(l) as AuditEvent)
          .filter((e) => subtype(e) === 'create')
          .map((e) => e.entity?.[0]?.what?.reference?.replace(/\/_history\/.*/, '')),
      );
      const missing = acknowledged.filter((id) => !audited.has(`Patient/${id}`));
      assert.deepEqual(missing, []);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('ferry audit export', function () {
  it('writes NDJSON in chain order, from --since on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-audit-export-'));
    try {
      const server = await startServer({}, { keepDataDir: dataDir });
      await create(server, patient);
      const middle = new Date();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await create(server, patient);
      await create(server, patient);
      await server.stop();
      const all = ferry(dataDir, 'audit', 'export');
      assert.equal(all.status, 0, all.stderr);
      const events = all.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent);
      // the first signing key (made by the server at its first start), the token the harness
      // minted (ferry token), the three creates, and this export's own record, written first
      assert.deepEqual(
        events.map((e) => [e.type.code, e.subtype?.[0]?.code]),
        [
          ['110113', '110129'],
          ['110114', '110122'],
          ['rest', 'create'],
          ['rest', 'create'],
          ['rest', 'create'],
          ['110106', undefined],
        ],
      );
      const [firstKey, , , , , self] = events;
      assert.ok(firstKey && self);
      assert.match(firstKey.agent[0]?.altId ?? '', /\(ferry serve\)$/);
      assert.equal(firstKey.entity?.[0]?.what?.identifier?.system, 'urn:ferry:signing-key');
      assert.match(firstKey.outcomeDesc ?? '', /^first signing key \S+ created$/);
      assert.match(self.agent[0]?.altId ?? '', /\(ferry audit export\)$/);
      assert.equal(self.outcomeDesc, 'audit trail export to standard output');
      assert.equal(self.entity, undefined); // it asked for everything: no query to record
      const sequences = events.map((e) => e.extension?.[0]?.extension?.[0]?.valueDecimal);
      assert.deepEqual(sequences, [1, 2, 3, 4, 5, 6]);
      const since = ferry(dataDir, 'audit', 'export', '--since', middle.toISOString());
      const later = since.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent);
      // the two later creates, the first export's record and this one's, with what it asked
      assert.equal(later.length, 4);
      const asked = later.at(-1)?.entity?.find((e) => e.role?.code === '24')?.query ?? '';
      assert.equal(
        Buffer.from(asked, 'base64').toString(),
        `since=${encodeURIComponent(middle.toISOString())}`,
      );
      assert.notEqual(ferry(dataDir, 'audit', 'export', '--since', 'yesterday').status, 0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('ferry audit verify on a tampered store', function () {
  this.timeout(60_000);
  let source: string;
  /** The chain's records as the intact store holds them: sequence → AuditEvent id. */
  let ids: Map<number, string>;

  before(async () => {
    source = mkdtempSync(join(tmpdir(), 'ferry-audit-tamper-'));
    const server = await startServer({}, { keepDataDir: source });
    for (let i = 0; i < 3; i++) await server.fhir(`/Patient/${(await create(server, patient)).id}`);
    await server.stop();
    const db = new Database(join(source, 'ferry.db'), { readonly: true });
    try {
      const rows = db.prepare<[], { seq: number; id: string }>('SELECT seq, id FROM audit_chain').all();
      ids = new Map(rows.map((r) => [r.seq, r.id]));
    } finally {
      db.close();
    }
  });
  after(() => rmSync(source, { recursive: true, force: true }));

  /** Runs `ferry audit verify` on a copy of the store after `tamper` has changed it. */
  function verifyAfter(tamper: (db: Database.Database) => void): ReturnType<typeof ferry> {
    const copy = mkdtempSync(join(tmpdir(), 'ferry-audit-tampered-'));
    try {
      cpSync(source, copy, { recursive: true });
      const db = new Database(join(copy, 'ferry.db'));
      try {
        tamper(db);
      } finally {
        db.close();
      }
      return ferry(copy, 'audit', 'verify');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }

  it('exits 0 on the intact store and prints the head hash', () => {
    assert.ok(ids.size >= 6, `only ${ids.size} records`); // three creates, three reads
    const intact = ferry(source, 'audit', 'verify');
    assert.equal(intact.status, 0, intact.stderr);
    assert.match(intact.stdout, new RegExp(`intact: ${ids.size} records; head ${ids.size} [0-9a-f]{64}\\n$`));
  });

  it('names an edited record', () => {
    const run = verifyAfter((db) => {
      db.prepare(
        'UPDATE resource_version SET body = replace(body, \'"outcome":"0"\', \'"outcome":"4"\') WHERE type = \'AuditEvent\' AND id = ?',
      ).run(ids.get(4));
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, new RegExp(`record 4 \\(AuditEvent/${ids.get(4)}\\).*edited.*3 intact records`));
  });

  it('names a removed record, even when its link is removed too', () => {
    const run = verifyAfter((db) => {
      db.prepare("DELETE FROM resource_version WHERE type = 'AuditEvent' AND id = ?").run(ids.get(5));
      db.prepare('DELETE FROM audit_chain WHERE seq = 5').run();
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /record 5 is missing from the chain \(removed\).*4 intact records/);
  });

  it('names an inserted record', () => {
    const forged = 'forged-audit-event';
    const run = verifyAfter((db) => {
      db.prepare(
        `INSERT INTO resource_version (type, id, version, last_updated, last_updated_ms, deleted, body)
         SELECT type, ?, 1, last_updated, last_updated_ms, 0, replace(body, id, ?) FROM resource_version
         WHERE type = 'AuditEvent' AND id = ?`,
      ).run(forged, forged, ids.get(2));
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, new RegExp(`AuditEvent/${forged} version 1 is not in the chain`));
  });
});

describe('administration from the command line is on record', function () {
  this.timeout(60_000);
  let dataDir: string;
  let work: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ferry-audit-admin-'));
    work = mkdtempSync(join(tmpdir(), 'ferry-audit-admin-out-'));
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  /** The trail but for the records of the exports this test reads it with. */
  const trail = (): AuditEvent[] => {
    const run = ferry(dataDir, 'audit', 'export');
    assert.equal(run.status, 0, run.stderr);
    return run.stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => !/\(ferry audit export\)$/.test(e.agent[0]?.altId ?? ''));
  };
  const ok = (...args: string[]): void => {
    const run = ferry(dataDir, ...args);
    assert.equal(run.status, 0, run.stderr);
  };
  const roleOf = (e: AuditEvent): (string | undefined)[] => (e.entity ?? []).map((x) => x.role?.code);

  it('records clients added and removed, and keys rotated, each naming what changed and who ran it', () => {
    ok('clients', 'add', 'lab-app', '--scope', 'system/Observation.rs', '--secret');
    ok('clients', 'remove', 'lab-app');
    ok('keys', 'rotate');
    const [added, removed, rotated] = trail();
    assert.ok(added && removed && rotated);
    for (const e of [added, removed, rotated]) {
      assert.equal(e.type.code, '110113');
      assert.equal(e.action, 'E');
      assert.equal(e.outcome, '0');
      assert.deepEqual(roleOf(e), ['13']);
    }
    assert.equal(subtype(added), '110137');
    assert.equal(added.outcomeDesc, 'client lab-app added (secret): system/Observation.rs');
    assert.match(added.agent[0]?.altId ?? '', /\(ferry clients add\)$/);
    assert.deepEqual(added.entity?.[0]?.what?.identifier, { system: 'urn:ferry:client', value: 'lab-app' });
    assert.equal(removed.outcomeDesc, 'client lab-app removed');
    assert.equal(subtype(rotated), '110129');
    const kid = rotated.entity?.[0]?.what?.identifier?.value ?? '';
    assert.equal(rotated.entity?.[0]?.what?.identifier?.system, 'urn:ferry:signing-key');
    assert.match(rotated.outcomeDesc ?? '', new RegExp(`^signing key ${kid} added`));
  });

  it('records a refused change not at all: it changed nothing', () => {
    const before = trail().length;
    assert.notEqual(ferry(dataDir, 'clients', 'remove', 'nobody').status, 0);
    assert.equal(trail().length, before);
  });

  it('records ferry export (with its query), ferry backup and ferry restore', () => {
    ok('export', '--out', join(work, 'export'), '--type', 'Patient');
    ok('backup', '--out', join(work, 'backup'));
    const before = trail();
    const exported = before.at(-2);
    const backedUp = before.at(-1);
    assert.ok(exported && backedUp);
    assert.equal(exported.type.code, '110106');
    assert.equal(exported.action, 'R');
    assert.equal(exported.outcomeDesc, `bulk export to ${join(work, 'export')}`);
    assert.deepEqual(roleOf(exported), ['24']);
    assert.equal(Buffer.from(exported.entity?.[0]?.query ?? '', 'base64').toString(), '_type=Patient');
    assert.equal(backedUp.type.code, '110106');
    assert.equal(backedUp.outcomeDesc, `backup of the whole store to ${join(work, 'backup')}`);
    assert.match(backedUp.agent[0]?.altId ?? '', /\(ferry backup\)$/);

    ok('restore', join(work, 'backup'), '--force');
    const after = trail();
    // the backup held its own record; the restored trail goes on with the restore
    assert.equal(after.length, before.length + 1);
    assert.deepEqual(
      after.slice(0, -1).map((e) => e.id),
      before.map((e) => e.id),
    );
    const restored = after.at(-1);
    assert.ok(restored);
    assert.equal(restored.type.code, '110107');
    assert.equal(restored.action, 'C');
    assert.equal(restored.outcome, '0');
    assert.match(restored.outcomeDesc ?? '', new RegExp(`^restored from ${join(work, 'backup')}: `));
    assert.match(restored.agent[0]?.altId ?? '', /\(ferry restore\)$/);
    const verify = ferry(dataDir, 'audit', 'verify');
    assert.equal(verify.status, 0, verify.stderr);
  });

  it('finds every change to a client by the client, through the search engine', async () => {
    const server = await startServer({}, { keepDataDir: dataDir });
    try {
      const changes = await events(server, 'entity:identifier=urn:ferry:client|lab-app');
      assert.deepEqual(
        changes.map((e) => e.outcomeDesc),
        ['client lab-app added (secret): system/Observation.rs', 'client lab-app removed'],
      );
      const security = await events(server, 'type=http://dicom.nema.org/resources/ontology/DCM|110113');
      assert.equal(security.length, 3);
    } finally {
      await server.stop();
    }
  });

  it('records nothing when the audit trail is off', () => {
    const before = trail().length;
    const run = spawnSync(process.execPath, [bin, 'keys', 'rotate'], {
      env: { PATH: process.env.PATH ?? '', FERRY_DATA_DIR: dataDir, FERRY_AUDIT: 'off' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(trail().length, before);
  });
});
