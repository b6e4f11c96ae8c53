import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { OperationOutcome, Resource } from 'fhir/r4.js';
import { startServer, type RunningServer } from './harness.js';

/**
 * Every official R4 example (the `hl7.fhir.r4.examples` package, one resource per `Type-id.json`)
 * is PUT to its own URL on a real server and read back unchanged, meta.versionId and
 * meta.lastUpdated aside. All types are exercised, conformance and terminology resources included:
 * the whole corpus runs well within a minute. Parameters is left out because it has no REST
 * endpoint (R4 parameters.html); the package holds no Parameters example anyway.
 *
 * The examples that break R4 are listed in test/fixtures/invalid-official-examples.json and must be
 * refused with an OperationOutcome that points at the bad element. Its `validatorBugs` section holds
 * valid examples that Ferry refuses today: they are expected refused, named as such in the test
 * titles, and are to be removed from the fixture once the validator is fixed.
 */

interface Expectation {
  /** Why the example is refused, in one line. */
  reason: string;
  /** An element the refusal must name in an issue's expression. */
  expression?: string;
  /** A known shortfall of the refusal's outcome (it has no expression), flagged in the test title. */
  outcomeGap?: string;
}

/** What the server answered for one example. */
interface Exchange {
  type: string;
  putStatus: number;
  /** The PUT response body when the example was refused. */
  refusal?: unknown;
  readStatus?: number;
  /** Set only when the read-back differs: what was sent and what came back, both without server meta. */
  difference?: { sent: unknown; read: unknown };
}

const require = createRequire(import.meta.url);
const examplesDir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
const fixtureFile = new URL('../fixtures/invalid-official-examples.json', import.meta.url);

const { validatorBugs, ...invalidEntries } = JSON.parse(readFileSync(fixtureFile, 'utf8')) as Record<
  string,
  unknown
>;
const invalid = invalidEntries as Record<string, Expectation>;
const bugs = (validatorBugs ?? {}) as Record<string, Expectation>;

/** `Observation-bp.json` → `Observation`; the id may hold dashes, the type never does. */
const typeOf = (file: string): string => /^([A-Z][A-Za-z]+)-.+\.json$/.exec(file)?.[1] ?? '';

const files = readdirSync(examplesDir)
  .filter((file) => typeOf(file) !== '' && typeOf(file) !== 'Parameters')
  .sort();
const expectedValid = files.filter((file) => !(file in invalid) && !(file in bugs));
const validByType = new Map<string, string[]>();
for (const file of expectedValid) {
  const type = typeOf(file);
  validByType.set(type, [...(validByType.get(type) ?? []), file]);
}

/** The resource without what the server maintains itself (R4 resource.html#Meta); an emptied meta goes. */
function withoutServerMeta(resource: Resource): Resource {
  const { meta, ...rest } = resource;
  if (!meta) return resource;
  const { versionId: _versionId, lastUpdated: _lastUpdated, ...kept } = meta;
  return Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function forEachConcurrently<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = items.values();
  const worker = async (): Promise<void> => {
    for (const item of queue) await work(item);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

function errorIssues(body: unknown): NonNullable<OperationOutcome['issue']> {
  const outcome = body as OperationOutcome;
  assert.equal(outcome.resourceType, 'OperationOutcome');
  return outcome.issue.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
}

const refusalSummary = (body: unknown): string => JSON.stringify(body ?? null).slice(0, 600);

describe('The official R4 examples', function () {
  let server: RunningServer;
  const exchanges = new Map<string, Exchange>();

  /**
   * PUTs one example as published; when it is stored, reads it back and compares. AuditEvents
   * cannot be written by any client (the audit trail is append-only), so they go through
   * `$validate`, whose answer stands for the write's.
   */
  async function exchange(file: string): Promise<void> {
    const text = await readFile(join(examplesDir, file), 'utf8');
    const sent = JSON.parse(text) as Resource;
    if (sent.resourceType === 'AuditEvent') {
      const checked = await server.fhir('/AuditEvent/$validate', {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: text,
      });
      const outcome = await checked.json();
      const refused = checked.status !== 200 || errorIssues(outcome).length > 0;
      const result: Exchange = { type: sent.resourceType, putStatus: refused ? 422 : 200 };
      if (refused) result.refusal = outcome;
      else result.readStatus = 200;
      exchanges.set(file, result);
      return;
    }
    const path = `/${sent.resourceType}/${encodeURIComponent(sent.id ?? '')}`;
    const put = await server.fhir(path, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: text,
    });
    const result: Exchange = { type: sent.resourceType, putStatus: put.status };
    exchanges.set(file, result);
    if (put.status !== 200 && put.status !== 201) {
      result.refusal = await put.json();
      return;
    }
    await put.body?.cancel();
    const read = await server.fhir(path);
    result.readStatus = read.status;
    if (read.status !== 200) return;
    const expected = withoutServerMeta(sent);
    const actual = withoutServerMeta((await read.json()) as Resource);
    if (!isDeepStrictEqual(actual, expected)) result.difference = { sent: expected, read: actual };
  }

  before(async function () {
    this.timeout(300_000);
    // Bundle-resources.json is 35 MB as published, over the 16 MB default body limit.
    server = await startServer({ FERRY_MAX_BODY: '64mb' });
    await forEachConcurrently(files, 8, exchange);
  });

  after(async () => {
    await server.stop();
  });

  it('exercises more than 5,000 examples, every one it found', () => {
    assert.ok(files.length > 5000, `only ${files.length} examples found in ${examplesDir}`);
    assert.ok(expectedValid.length > 5000, `only ${expectedValid.length} examples expected valid`);
    assert.equal(exchanges.size, files.length);
  });

  it('names in the fixture only examples that exist', () => {
    const known = new Set(files);
    assert.deepEqual(
      [...Object.keys(invalid), ...Object.keys(bugs)].filter((file) => !known.has(file)),
      [],
    );
  });

  describe('stores each valid example and reads it back identical, meta aside', () => {
    for (const [type, typeFiles] of validByType) {
      const count = typeFiles.length === 1 ? 'the one' : `all ${typeFiles.length}`;
      it(`round-trips ${count} ${type} example${typeFiles.length === 1 ? '' : 's'}`, () => {
        for (const file of typeFiles) {
          const result = exchanges.get(file);
          assert.ok(result, `${file} was not sent`);
          assert.equal(result.type, type, `${file} holds a ${result.type}`);
          assert.ok(
            result.putStatus === 200 || result.putStatus === 201,
            `${file}: PUT answered ${result.putStatus}: ${refusalSummary(result.refusal)}`,
          );
          assert.equal(result.readStatus, 200, `${file}: read-back answered ${String(result.readStatus)}`);
          if (result.difference) {
            assert.deepStrictEqual(result.difference.read, result.difference.sent, `${file} changed`);
          }
        }
      });
    }
  });

  describe('refuses each example that breaks R4, pointing at the bad element', () => {
    for (const [file, expected] of Object.entries(invalid)) {
      const flag = expected.outcomeGap ? ` (flagged: ${expected.outcomeGap})` : '';
      it(`refuses ${file}: ${expected.reason}${flag}`, () => {
        const result = exchanges.get(file);
        assert.ok(result, `${file} was not sent`);
        assert.ok([400, 422].includes(result.putStatus), `${file}: PUT answered ${result.putStatus}`);
        const issues = errorIssues(result.refusal);
        assert.ok(issues.length > 0, `${file}: no error issue`);
        if (expected.outcomeGap) return;
        for (const issue of issues) {
          assert.ok(
            issue.expression?.length,
            `${file}: issue without expression: ${issue.diagnostics ?? ''}`,
          );
        }
        const expressions = issues.flatMap((issue) => issue.expression ?? []);
        if (expected.expression) assert.ok(expressions.includes(expected.expression), expressions.join(', '));
      });
    }
  });

  describe('still refuses these valid examples because of a validator bug (remove each once fixed)', () => {
    for (const [file, expected] of Object.entries(bugs)) {
      it(`refuses ${file} (validator bug: ${expected.reason})`, () => {
        const result = exchanges.get(file);
        assert.ok(result, `${file} was not sent`);
        assert.ok(
          [400, 422].includes(result.putStatus),
          `${file} is now accepted (${result.putStatus}): remove it from validatorBugs`,
        );
        const expressions = errorIssues(result.refusal).flatMap((issue) => issue.expression ?? []);
        if (expected.expression) assert.ok(expressions.includes(expected.expression), expressions.join(', '));
      });
    }
  });
});
