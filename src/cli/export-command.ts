import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Access } from '../auth/access.js';
import { readKickOff } from '../bulk/export-request.js';
import { runExport } from '../bulk/export-run.js';
import { FhirError } from '../errors.js';
import { createLogger } from '../log.js';
import { openStore } from '../main.js';
import { configFromEnv, fail, recordCommand } from './common.js';

const usage = `Usage: ferry export --out DIR [--type A,B] [--since INSTANT] [--type-filter 'Type?query']…

Writes the current resources of the store (FERRY_DATA_DIR / FERRY_STORE) as NDJSON files, one
type per file, split at FERRY_EXPORT_FILE_MAX, with a manifest.json like the one of $export.
DIR must be empty or not exist. The gateway may keep running.
`;

/** `ferry export`: the Bulk Data export engine, from the command line, with a progress line. */
export async function exportCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        type: { type: 'string' },
        since: { type: 'string' },
        'type-filter': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`, 2);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(usage);
    return;
  }
  if (v.out === undefined) fail(`--out is required\n${usage}`, 2);
  const out = resolve(v.out);
  if (existsSync(out) && readdirSync(out).length > 0) fail(`${out} is not empty`, 2);
  const config = configFromEnv();
  const store = openStore(config);
  const ctx = { store, baseUrl: config.baseUrl, log: createLogger('error'), now: () => new Date() };
  try {
    const params: [string, string][] = [];
    if (v.type !== undefined) params.push(['_type', v.type]);
    if (v.since !== undefined) params.push(['_since', v.since]);
    for (const f of v['type-filter'] ?? []) params.push(['_typeFilter', f]);
    let spec;
    try {
      spec = await readKickOff(ctx, new Access({ clientId: 'ferry-cli', scopes: ['system/*.rs'] }), {
        level: 'system',
        params,
        patients: [],
        prefer: 'respond-async, handling=strict',
        accept: undefined,
      });
    } catch (error) {
      if (error instanceof FhirError) fail(error.outcome.issue[0]?.diagnostics ?? error.message, 2);
      throw error;
    }
    // the data is about to leave the store: on record, with what was asked, before the first file
    await recordCommand(store, 'ferry export', {
      category: 'export',
      outcomeText: `bulk export to ${out}`,
      query: new URLSearchParams(params).toString(),
    });
    const started = performance.now();
    let last = 0;
    const outcome = await runExport(ctx, spec, out, {
      maxFileBytes: config.export.maxFileBytes,
      onProgress: ({ resources, type }) => {
        const now = performance.now();
        if (now - last < 250) return;
        last = now;
        const rate = resources / Math.max((now - started) / 1000, 0.001);
        process.stderr.write(
          `\rexported ${resources} resources (${Math.round(rate)}/s)${type ? `, at ${type}` : ''}   `,
        );
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const total = outcome.output.reduce((n, f) => n + f.count, 0);
    const bytes = outcome.output.reduce((n, f) => n + f.bytes, 0);
    const manifest = {
      transactionTime: outcome.transactionTime,
      request: `ferry export ${args.join(' ')}`,
      requiresAccessToken: false,
      output: outcome.output.map((f) => ({ type: f.type, url: f.name, count: f.count })),
      deleted: outcome.deleted.map((f) => ({ type: f.type, url: f.name, count: f.count })),
      error: outcome.error.map((f) => ({ type: f.type, url: f.name, count: f.count })),
    };
    writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    process.stderr.write('\n');
    process.stdout.write(
      `exported ${total} resources in ${outcome.output.length} files (${(bytes / 1e6).toFixed(1)} MB) ` +
        `in ${seconds.toFixed(1)} s to ${out}; manifest.json lists them\n`,
    );
  } finally {
    await store.close();
  }
}
