import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle } from 'fhir/r4.js';
import { oru } from '../fixtures/hl7v2/oru.js';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const fixture = (path: string): string =>
  fileURLToPath(new URL(`../fixtures/hl7v2/${path}`, import.meta.url));

describe('ferry mappings test, ferry ingest and ferry deadletters replay', function () {
  this.timeout(60000);
  let dataDir: string;
  const ferry = (...args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH ?? '', FERRY_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints the transaction Bundle of a sample without storing it', () => {
    const run = ferry('mappings', 'test', 'ORU_R01', fixture('microsoft-fhir-converter/input/LAB-ORU-1.hl7'));
    assert.equal(run.status, 0, run.stderr);
    const bundle = JSON.parse(run.stdout) as Bundle;
    assert.equal(bundle.type, 'transaction');
    const types = (bundle.entry ?? []).map((e) => e.resource?.resourceType);
    assert.equal(types.filter((t) => t === 'Observation').length, 10);
    assert.ok(types.includes('Provenance') && types.includes('Binary'));
    assert.match(bundle.entry?.[1]?.request?.url ?? '', /^ServiceRequest\?identifier=/);
    const unknown = ferry('mappings', 'test', 'NOPE', 'x');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no mapping NOPE; there are: .*ORU_R01/);
  });

  it('ingests a batch file with a summary, then replays the dead letters idempotently', () => {
    const file = join(dataDir, 'batch.hl7');
    const messages = [oru('C1'), oru('C2', 'F', 'n/a'), oru('C1')];
    writeFileSync(file, ['FHS|^~\\&|LAB', 'BHS|^~\\&|LAB', ...messages, 'BTS|3', 'FTS|1'].join('\r'));
    const run = ferry('ingest', file, '--mapping', 'ORU_R01');
    assert.equal(run.status, 1, 'one message was refused');
    assert.match(run.stdout, /3 messages: 2 stored, 1 rejected \(AE\), 0 refused \(AR\)/);
    assert.match(run.stderr, /3\/3/);
    assert.match(run.stderr, /C2: AE .*not a number/);
    const replay = ferry('deadletters', 'replay', '--all');
    assert.equal(replay.status, 1);
    assert.match(replay.stdout, /AE/);
    // the IG sample of an ORU, through the mapping named on the command line
    const ig = ferry(
      'ingest',
      fixture('hl7-v2-to-fhir-ig/input/test_conversions-ORU_R01.hl7'),
      '--mapping',
      'ORU_R01',
    );
    assert.equal(ig.status, 0, ig.stdout + ig.stderr);
    assert.ok(
      readFileSync(fixture('hl7-v2-to-fhir-ig/input/test_conversions-ORU_R01.hl7'), 'utf8').includes('OBX'),
    );
  });
});
