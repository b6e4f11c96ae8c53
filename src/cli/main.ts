import { createWriteStream, type WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { exportAudit } from '../audit/export-audit.js';
import { ConfigError, loadConfig, settings, type SettingName } from '../config.js';
import { createLogger } from '../log.js';
import { openStore, startGateway } from '../main.js';
import { verifyAuditChain } from '../audit/verify-chain.js';
import { listDeadLetters, readDeadLetter } from '../ingest/dead-letters.js';
import { reindex } from '../service/reindex.js';

const usage = `Usage: ferry <command> [options]

Commands:
  serve        run the gateway (FHIR REST on FERRY_PORT)
  reindex      rebuild the search index of stored resources (after an upgrade says so)
  audit verify check the audit trail's hash chain; prints its head, names the first broken link
  audit export [--since T] [--out FILE]: the audit trail as NDJSON in chain order (stdout by default)
  deadletters  list | show ID: inbound messages kept because they could not be stored

Run "ferry <command> --help" for the options of a command.
`;

function serveUsage(): string {
  const flagWidth = Math.max(...settings.map((s) => s.flag.length));
  const envWidth = Math.max(...settings.map((s) => s.env.length));
  const lines = settings.map(
    (s) =>
      `  --${s.flag.padEnd(flagWidth)} ${s.env.padEnd(envWidth)} ${s.help} (default: ${s.default || 'unset'})`,
  );
  return `Usage: ferry serve [options]\n\nEach option overrides its environment variable.\n\n${lines.join('\n')}\n`;
}

/** Prints one line and exits non-zero: the contract for every failure of the CLI. */
function fail(message: string, code = 1): never {
  process.stderr.write(`ferry: ${message}\n`);
  process.exit(code);
}

/** The configuration of the environment, for the commands that work on the store; one line on error. */
function configFromEnv(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
}

async function serve(args: string[]): Promise<void> {
  const options = Object.fromEntries(settings.map((s) => [s.flag, { type: 'string' as const }]));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n${serveUsage()}`, 2);
  }
  if (parsed.values.help) {
    process.stdout.write(serveUsage());
    return;
  }
  const overrides: Partial<Record<SettingName, string>> = {};
  for (const s of settings) {
    const v = (parsed.values as Record<string, unknown>)[s.flag];
    if (typeof v === 'string') overrides[s.env] = v;
  }
  let config;
  try {
    config = loadConfig(process.env, overrides);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
  const log = createLogger(config.logLevel);
  let gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    fail(`cannot start: ${error instanceof Error ? error.message : String(error)}`);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    log.info('gateway.signal', { signal });
    if (stopping) return; // already draining; a repeated signal changes nothing
    stopping = true;
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('gateway.stop_failed', { message: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `ferry reindex [--type A,B]`: the store of the current configuration, reindexed in place. */
async function reindexCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { type: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    fail((error as Error).message, 2);
  }
  if (parsed.values.help) {
    process.stdout.write(
      'Usage: ferry reindex [--type A,B]\n\nRecomputes the search index of every current resource (of the given\ntypes) in the store that FERRY_DATA_DIR / FERRY_STORE name; the gateway may keep running.\n',
    );
    return;
  }
  const config = configFromEnv();
  const log = createLogger(config.logLevel);
  const store = openStore(config);
  try {
    const types = parsed.values.type?.split(',').filter((t) => t !== '');
    const result = await reindex(
      { store, baseUrl: config.baseUrl, log, now: () => new Date() },
      { ...(types ? { types } : {}), onProgress: (n) => process.stderr.write(`\rreindexed ${n}`) },
    );
    process.stderr.write('\n');
    process.stdout.write(
      `reindexed ${result.resources} resources in ${result.seconds.toFixed(1)} s` +
        ` (${Math.round(result.resources / Math.max(result.seconds, 0.001))}/s)\n`,
    );
  } finally {
    await store.close();
  }
}

/** `ferry audit export [--since T] [--out FILE]`: NDJSON in chain order, for a SIEM. */
async function auditExportCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { since: { type: 'string' }, out: { type: 'string' } } });
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const { since, out } = parsed.values;
  const sinceDate = since === undefined ? undefined : new Date(since);
  if (sinceDate && (!/^\d{4}-\d{2}-\d{2}/.test(since ?? '') || Number.isNaN(sinceDate.getTime())))
    fail(`--since '${since ?? ''}' is not a date or instant such as 2026-01-31T12:00:00Z`, 2);
  const config = configFromEnv();
  const store = openStore(config);
  const sink = out === undefined ? process.stdout : createWriteStream(out);
  const write = (line: string): Promise<void> | void => {
    if (sink.write(line)) return;
    return new Promise((resolve) => sink.once('drain', () => resolve()));
  };
  try {
    const n = await exportAudit(store, sinceDate ? { since: sinceDate } : {}, write);
    if (sink !== process.stdout) {
      await new Promise<void>((resolve, reject) =>
        (sink as WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())),
      );
    }
    process.stderr.write(`exported ${n} audit records${out === undefined ? '' : ` to ${out}`}\n`);
  } finally {
    await store.close();
  }
}

/** `ferry audit verify`: exit 0 with the head of an intact chain, 1 naming the first break. */
async function auditCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'export') {
    await auditExportCommand(rest);
    return;
  }
  if (sub !== 'verify' || rest.length > 0)
    fail('usage: ferry audit verify | ferry audit export [--since T] [--out FILE]', 2);
  const config = configFromEnv();
  const store = openStore(config);
  let report;
  try {
    report = await verifyAuditChain(store);
  } finally {
    await store.close();
  }
  const head = report.head ? `head ${report.head.sequence} ${report.head.hash}` : 'empty';
  if (report.broken) {
    const where = report.broken.sequence === undefined ? '' : ` at record ${report.broken.sequence}`;
    fail(
      `audit trail broken${where}: ${report.broken.reason} (${report.records} intact records before it; ${head})`,
    );
  }
  process.stdout.write(`audit trail intact: ${report.records} records; ${head}\n`);
}

/** `ferry deadletters list | show ID`. */
async function deadLettersCommand(args: string[]): Promise<void> {
  const [sub, id, ...rest] = args;
  if (rest.length > 0 || !(sub === 'list' ? id === undefined : sub === 'show' && id !== undefined)) {
    fail('usage: ferry deadletters list | ferry deadletters show ID', 2);
  }
  const config = configFromEnv();
  const store = openStore(config);
  try {
    if (sub === 'list') {
      for (const letter of await listDeadLetters(store)) {
        const what = [letter.messageType, letter.controlId, letter.sender].map((v) => v ?? '-').join(' ');
        process.stdout.write(
          `${letter.id}  ${letter.receivedAt}  ${letter.transport}  ${what}  ${letter.reason}\n`,
        );
      }
      return;
    }
    const letter = await readDeadLetter(store, id ?? '');
    if (!letter) fail(`no dead letter ${id ?? ''}`);
    const { text, ...about } = letter;
    process.stdout.write(`${JSON.stringify(about, null, 2)}\n${text.replace(/\r\n?/g, '\n')}\n`);
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest);
      return;
    case 'reindex':
      await reindexCommand(rest);
      return;
    case 'audit':
      await auditCommand(rest);
      return;
    case 'deadletters':
      await deadLettersCommand(rest);
      return;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage);
      return;
    default:
      fail(`unknown command '${command}'\n${usage}`, 2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
