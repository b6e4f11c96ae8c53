import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../log.js';
import type { ServiceContext } from '../../service/context.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { listDeadLetters } from '../dead-letters.js';
import { ingestHl7Text, replayDeadLetter } from './ingest-file.js';
import { oru } from '../../../test/fixtures/hl7v2/oru.js';
import { loadCatalog } from './mapping/load-mappings.js';
import type { Catalog } from './mapping/model.js';

const catalog = loadCatalog();
/** The same mappings without ORU_R01, as before a mapping was added. */
const withoutOru: Catalog = {
  ...catalog,
  messages: new Map([...catalog.messages].filter(([k]) => k !== 'ORU_R01')),
};

describe('HL7 v2 files and dead-letter replay', function () {
  this.timeout(20000);
  let dir: string;
  let store: SqliteStore;
  let ctx: ServiceContext;
  const count = async (type: string): Promise<number> => {
    let n = 0;
    for await (const _ of store.streamCurrent({ types: [type] })) n++;
    return n;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-hl7-file-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    ctx = { store, baseUrl: 'http://localhost/fhir', log: silentLogger, now: () => new Date() };
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingests a batch file message by message and counts what happened', async () => {
    const batch = ['FHS|^~\\&|LAB', 'BHS|^~\\&|LAB', oru('B1'), oru('B2', 'F', 'x'), 'BTS|2', 'FTS|1'].join(
      '\r',
    );
    const seen: number[] = [];
    const summary = await ingestHl7Text(ctx, batch, { catalog, timezone: 'UTC' }, (done) => seen.push(done));
    assert.deepEqual(seen, [1, 2]);
    assert.equal(summary.messages, 2);
    assert.equal(summary.stored, 1);
    assert.equal(summary.rejected, 1);
    assert.deepEqual(summary.problems, []);
    assert.match(summary.failures[0] ?? '', /^B2: AE /);
    assert.equal((await listDeadLetters(store)).length, 1);
  });

  it('replays a dead letter through the mappings of now, then removes it; again stores nothing twice', async () => {
    const first = await ingestHl7Text(ctx, oru('D1'), { catalog: withoutOru, timezone: 'UTC' });
    assert.equal(first.refused, 1);
    const [letter] = await listDeadLetters(store);
    assert.ok(letter);
    const replay = await replayDeadLetter(ctx, letter.id, { catalog, timezone: 'UTC' });
    assert.equal(replay?.decision.code, 'AA');
    assert.equal(await count('Observation'), 5);
    assert.deepEqual(await listDeadLetters(store), []);
    // the same message kept again (e.g. sent while the mapping was missing elsewhere): idempotent
    await ingestHl7Text(ctx, oru('D1').replace('|D1|', '|D1b|'), { catalog: withoutOru, timezone: 'UTC' });
    const [again] = await listDeadLetters(store);
    assert.equal(
      (await replayDeadLetter(ctx, again?.id ?? '', { catalog, timezone: 'UTC' }))?.decision.code,
      'AA',
    );
    assert.equal(await count('Observation'), 5);
  });

  it('keeps a dead letter that fails again, with the new reason', async () => {
    await ingestHl7Text(ctx, oru('D2', 'F', 'x'), { catalog: withoutOru, timezone: 'UTC' });
    const [letter] = await listDeadLetters(store);
    const replay = await replayDeadLetter(ctx, letter?.id ?? '', { catalog, timezone: 'UTC' });
    assert.equal(replay?.decision.code, 'AE');
    const [kept] = await listDeadLetters(store);
    assert.equal(kept?.id, letter?.id);
    assert.match(kept?.reason ?? '', /is not a number/);
    assert.equal(kept?.location, 'OBX[7]-5[1]');
    assert.equal(await replayDeadLetter(ctx, 'nope', { catalog, timezone: 'UTC' }), undefined);
  });
});
