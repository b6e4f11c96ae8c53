import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../log.js';
import type { ServiceContext } from '../service/context.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { loadCsvCatalog } from './csv/load-csv-mappings.js';
import { checkpointNamespace } from './csv/ingest-csv.js';
import { startInbox, type Inbox } from './inbox.js';
import { loadCatalog } from './hl7v2/mapping/load-mappings.js';
import { oru } from '../../test/fixtures/hl7v2/oru.js';

const csv = loadCsvCatalog();
const hl7 = { catalog: loadCatalog(), timezone: 'UTC' };

describe('watched inboxes', function () {
  this.timeout(30000);
  let dir: string;
  let inboxDir: string;
  let store: SqliteStore;
  let ctx: ServiceContext;
  let inbox: Inbox | undefined;

  const count = async (type: string): Promise<number> => {
    let n = 0;
    for await (const _ of store.streamCurrent({ types: [type] })) n++;
    return n;
  };
  const open = (): Inbox =>
    (inbox = startInbox({ dir: inboxDir, pollMs: 60_000, ctx, csv, hl7v2: hl7, log: silentLogger }));
  /** Two looks: the first sees a file, the second finds it unchanged and takes it. */
  const settle = async (): Promise<void> => {
    await inbox?.poll();
    await inbox?.poll();
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-inbox-'));
    inboxDir = join(dir, 'inbox');
    store = new SqliteStore(join(dir, 'ferry.db'));
    ctx = { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() };
  });
  afterEach(async () => {
    await inbox?.close();
    inbox = undefined;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a folder per mapping and hl7v2/, each with processed/ and failed/', () => {
    open();
    for (const folder of ['patients', 'lab-results', 'hl7v2'])
      for (const sub of ['processed', 'failed'])
        assert.ok(existsSync(join(inboxDir, folder, sub)), `${folder}/${sub}`);
  });

  it('takes a file once its size held still, ingests it and moves it to processed/ with a report', async () => {
    open();
    copyFileSync(
      join(import.meta.dirname, '..', '..', 'mappings', 'csv', 'lab-results.sample.csv'),
      join(inboxDir, 'lab-results', 'nov.csv'),
    );
    writeFileSync(join(inboxDir, 'lab-results', 'dec.csv.part'), 'mrn,accession\n');
    await inbox?.poll();
    assert.ok(existsSync(join(inboxDir, 'lab-results', 'nov.csv')), 'not taken at first sight');
    await inbox?.poll();
    assert.equal(await count('Observation'), 5);
    const processed = readdirSync(join(inboxDir, 'lab-results', 'processed'));
    const moved = processed.find((n) => n.endsWith('-nov.csv'));
    assert.ok(moved, `moved: ${processed.join(', ')}`);
    const report = JSON.parse(
      readFileSync(join(inboxDir, 'lab-results', 'processed', `${moved}.report.json`), 'utf8'),
    ) as {
      stored: number;
      summary: string;
    };
    assert.equal(report.stored, 5);
    assert.match(report.summary, /5 rows: 5 stored, 0 rejected/);
    assert.ok(existsSync(join(inboxDir, 'lab-results', 'dec.csv.part')), 'a .part file is left alone');
  });

  it('moves a file whose header does not fit to failed/, and writes the rejected rows beside a processed one', async () => {
    open();
    writeFileSync(join(inboxDir, 'patients', 'wrong.csv'), 'id,name\n1,x\n');
    writeFileSync(join(inboxDir, 'patients', 'some.csv'), 'mrn,family_name,sex\nP1,Ok,F\nP2,Bad,Q\n');
    await settle();
    const failed = readdirSync(join(inboxDir, 'patients', 'failed'));
    assert.ok(
      failed.some((n) => n.endsWith('-wrong.csv')),
      `failed: ${failed.join(', ')}`,
    );
    const why = failed.find((n) => n.endsWith('-wrong.csv.report.json')) ?? '';
    assert.match(
      readFileSync(join(inboxDir, 'patients', 'failed', why), 'utf8'),
      /required columns mrn, family_name are missing/,
    );
    const processed = readdirSync(join(inboxDir, 'patients', 'processed'));
    const rejected = processed.find((n) => n.endsWith('-some.csv.rejected.csv')) ?? '';
    assert.equal(
      readFileSync(join(inboxDir, 'patients', 'processed', rejected), 'utf8'),
      "row,column,reason\n3,sex,'Q' is not a known code (vocabulary administrative-sex)\n",
    );
    assert.equal(await count('Patient'), 1);
  });

  it('ingests HL7 v2 batch files from hl7v2/', async () => {
    open();
    writeFileSync(join(inboxDir, 'hl7v2', 'batch.hl7'), [oru('IN1'), oru('IN2')].join('\r'));
    await settle();
    assert.equal(await count('Provenance'), 2, 'one per message');
    const processed = readdirSync(join(inboxDir, 'hl7v2', 'processed'));
    const report = processed.find((n) => n.endsWith('-batch.hl7.report.json')) ?? '';
    const summary = JSON.parse(readFileSync(join(inboxDir, 'hl7v2', 'processed', report), 'utf8')) as {
      messages: number;
      stored: number;
    };
    assert.deepEqual([summary.messages, summary.stored], [2, 2]);
  });

  it('resumes a file a stop interrupted, after its last stored chunk, without storing a row twice', async () => {
    // the state a stop leaves: the file in .processing/ and a checkpoint after its first 3 rows
    open();
    await inbox?.close();
    const rows = Array.from({ length: 6 }, (_, i) => `Q${i},Name${i},F`);
    const text = ['mrn,family_name,sex', ...rows].join('\n');
    writeFileSync(join(inboxDir, 'patients', '.processing', 'big.csv'), text);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(text).digest('hex');
    await store.write({
      versions: [],
      records: [
        {
          namespace: checkpointNamespace,
          key: `patients|${sha}`,
          value: {
            rows: 3,
            stored: 3,
            rejected: 0,
            created: 3,
            updated: 0,
            unchanged: 0,
            file: 'big.csv',
            done: 3,
            complete: false,
            at: new Date().toISOString(),
          },
        },
      ],
    });
    open();
    await inbox?.poll();
    assert.equal(await count('Patient'), 3, 'only rows 5 to 7: the first three were stored before the stop');
    const processed = readdirSync(join(inboxDir, 'patients', 'processed'));
    const report = processed.find((n) => n.endsWith('-big.csv.report.json')) ?? '';
    const summary = JSON.parse(readFileSync(join(inboxDir, 'patients', 'processed', report), 'utf8')) as {
      rows: number;
      stored: number;
      resumedAfter: number;
    };
    assert.deepEqual([summary.rows, summary.stored, summary.resumedAfter], [6, 6, 4]);
  });
});
