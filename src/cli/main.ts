import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BackupError } from '../backup/format.js';
import { RestoreIncompleteError, restoreBackup } from '../backup/restore-backup.js';
import { writeBackup } from '../backup/write-backup.js';
import { createWriteStream, type WriteStream } from 'node:fs';
import { localAgent } from '../audit/access-audit.js';
import { exportAudit } from '../audit/export-audit.js';
import { ConfigError, loadConfig, parseBackupKey, settings, type SettingName } from '../config.js';
import { createLogger } from '../log.js';
import { openStore, startGateway } from '../main.js';
import { authCommand, authUsage } from './auth-commands.js';
import { cliAuditor, configFromEnv, fail, recordCommand } from './common.js';
import { exportCommand } from './export-command.js';
import { csvCatalog, csvIngestUsage, ingestCsvFiles } from './csv-commands.js';
import { hl7MessageAudit } from '../ingest/hl7v2/message-audit.js';
import { verifyAuditChain } from '../audit/verify-chain.js';
import { listDeadLetters, readDeadLetter } from '../ingest/dead-letters.js';
import { ingestHl7Text, replayDeadLetter } from '../ingest/hl7v2/ingest-file.js';
import { messageToBundle } from '../ingest/hl7v2/ingest-message.js';
import { replayCsvDeadLetter } from '../ingest/csv/replay-csv.js';
import { previewCsv } from '../ingest/csv/preview-csv.js';
import { readInbound } from '../ingest/hl7v2/inbound.js';
import { loadCatalog } from '../ingest/hl7v2/mapping/load-mappings.js';
import type { ServiceContext } from '../service/context.js';
import { reindex } from '../service/reindex.js';

const usage = `Usage: ferry <command> [options]

Commands:
  serve        run the gateway (FHIR REST on FERRY_PORT)
  reindex      rebuild the search index of stored resources (after an upgrade says so)
  audit verify check the audit trail's hash chain; prints its head, names the first broken link
  deadletters  list | show ID | replay (ID | --all): inbound messages kept because they could not
               be stored; replay runs them through the current mappings
  ingest       FILE… --mapping NAME: store HL7 v2 batch files or CSV files through a mapping
               (CSV: --atomic all or nothing, --report PATH of rejected rows, --restart;
               exit 3 when some rows were rejected)
  mappings     test NAME SAMPLE: print the Bundle a mapping makes of a sample message, storing nothing
  export       --out DIR [--type A,B] [--since T]: bulk export to NDJSON files
  backup       --out DIR: a full backup of the store, while the gateway runs
  restore      DIR [--force]: restore a backup into an empty store
  audit export [--since T] [--out FILE]: the audit trail as NDJSON in chain order (stdout by default)
${authUsage}
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
    // the trail is about to leave the store: on record first, so the export carries its own event
    await recordCommand(store, 'ferry audit export', {
      category: 'export',
      outcomeText: `audit trail export to ${out ?? 'standard output'}`,
      ...(since === undefined ? {} : { query: new URLSearchParams({ since }).toString() }),
    });
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
    const { sequence, id } = report.broken;
    const where =
      (sequence === undefined ? '' : ` at record ${sequence}`) +
      (id === undefined ? '' : ` (AuditEvent/${id})`);
    fail(
      `audit trail broken${where}: ${report.broken.reason} (${report.records} intact records before it; ${head})`,
    );
  }
  process.stdout.write(`audit trail intact: ${report.records} records; ${head}\n`);
}

const backupUsage = `Usage: ferry backup --out DIR [--key-file FILE]

Writes every version of every resource (deleted ones too), the audit trail and every keyed
record of the store that FERRY_DATA_DIR / FERRY_STORE name into DIR (new or empty), as gzip
NDJSON files and manifest.json (counts, SHA-256 per file), from one consistent snapshot; the
gateway may keep running. With FERRY_BACKUP_KEY or --key-file (32 bytes, base64 or hex) the
files are encrypted with AES-256-GCM.
`;

const restoreUsage = `Usage: ferry restore DIR [--force] [--key-file FILE]

Checks every file of the backup in DIR (checksums, and decryption with FERRY_BACKUP_KEY or
--key-file when it is encrypted) before writing anything, then restores it into the store that
FERRY_DATA_DIR / FERRY_STORE name, which must be empty. With --force a store that is not empty
is erased first (every resource, version, audit record and keyed record), once the backup has
been verified. Stop the gateway while restoring.
`;

/** The backup key: --key-file when given, else FERRY_BACKUP_KEY, else none. */
function backupKey(keyFile: string | undefined, config: ReturnType<typeof loadConfig>): Buffer | undefined {
  if (keyFile === undefined) return config.backup.key;
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch {
    fail(`--key-file: cannot read ${keyFile}`, 2);
  }
  const key = parseBackupKey(text);
  if (typeof key === 'string') fail(`--key-file: ${keyFile} ${key}`, 2);
  return key;
}

/** Parses the options of a backup or restore command, printing its usage on --help. */
function backupArgs(args: string[], usage: string, options: { out?: boolean; force?: boolean }) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        force: { type: 'boolean' },
        'key-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: !options.out,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`, 2);
  }
  if (parsed.values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  if ((!options.out && parsed.values.out !== undefined) || (!options.force && parsed.values.force)) {
    fail(`unknown option\n${usage}`, 2);
  }
  return parsed;
}

const showProgress = (text: string): void => {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`);
};

/** `ferry backup --out DIR [--key-file F]`. */
async function backupCommand(args: string[]): Promise<void> {
  const { values } = backupArgs(args, backupUsage, { out: true });
  if (values.out === undefined) fail(`--out DIR is required\n${backupUsage}`, 2);
  const config = configFromEnv();
  const key = backupKey(values['key-file'], config);
  const store = openStore(config);
  const started = performance.now();
  try {
    const dir = resolve(values.out);
    // a copy of every patient's data is about to leave the store: on record before the first file
    await recordCommand(store, 'ferry backup', {
      category: 'export',
      outcomeText: `backup of the whole store to ${dir}${key ? ' (encrypted)' : ''}`,
    });
    const manifest = await writeBackup(store, dir, {
      ...(key ? { key } : {}),
      onProgress: (n) => showProgress(`backed up ${n} versions`),
    });
    showProgress('\n');
    const seconds = (performance.now() - started) / 1000;
    const bytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0);
    const { counts } = manifest;
    const records = Object.values(counts.records).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `backup ${dir}: ${counts.versions} versions of ${counts.resources} resources (${counts.deleted} deleted), ` +
        `${counts.auditRecords} audit records, ${records} records; ${(bytes / 1e6).toFixed(1)} MB` +
        `${manifest.encryption ? ' encrypted' : ''} in ${seconds.toFixed(1)} s\n`,
    );
  } catch (error) {
    if (error instanceof BackupError) fail(`backup failed: ${error.message}`);
    throw error;
  } finally {
    await store.close();
  }
}

/** `ferry restore DIR [--force] [--key-file F]`. */
async function restoreCommand(args: string[]): Promise<void> {
  const { values, positionals } = backupArgs(args, restoreUsage, { force: true });
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) fail(`name one backup folder\n${restoreUsage}`, 2);
  const config = configFromEnv();
  const key = backupKey(values['key-file'], config);
  const store = openStore(config);
  const log = createLogger(config.logLevel, (line) => process.stderr.write(line));
  try {
    const report = await restoreBackup(
      { store, baseUrl: config.baseUrl, log, now: () => new Date() },
      resolve(dir),
      {
        ...(key ? { key } : {}),
        force: values.force === true,
        onProgress: (n, total) => showProgress(`restored ${n} of ${total} versions`),
      },
    );
    showProgress('\n');
    // the restored trail goes on with the restore itself (what was erased is in the backup)
    const broken = report.audit.broken
      ? `; the audit trail does not verify: ${report.audit.broken.reason}`
      : '';
    await recordCommand(store, 'ferry restore', {
      category: 'import',
      status: broken ? 500 : 200,
      outcomeText:
        `restored from ${resolve(dir)}: ${report.versions} versions, ${report.auditRecords} audit records` +
        `${report.erased ? ', the store erased first' : ''}${broken}`,
    });
    if (report.audit.broken) {
      fail(`restored, but the audit trail does not verify: ${report.audit.broken.reason}`);
    }
    process.stdout.write(
      `restored ${report.versions} versions of ${report.resources} resources, ${report.auditRecords} audit records ` +
        `and ${report.records} records in ${report.seconds.toFixed(1)} s` +
        ` (${Math.round(report.versions / Math.max(report.seconds, 0.001))} versions/s)` +
        `${report.erased ? '; the store was erased first' : ''}; audit trail intact\n`,
    );
  } catch (error) {
    if (error instanceof RestoreIncompleteError) fail(`restore failed: ${error.message}`);
    if (error instanceof BackupError) fail(`restore refused: ${error.message}`);
    throw error;
  } finally {
    await store.close();
  }
}

/** The HL7 v2 mappings and time zone, or one line naming what is wrong with them. */
function hl7Options(): { catalog: ReturnType<typeof loadCatalog>; timezone: string } {
  try {
    return { catalog: loadCatalog(), timezone: configFromEnv().hl7Timezone };
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    fail(error instanceof Error ? error.message : String(error));
  }
}

/** A service context on the store of the current configuration, for commands that write. */
function serviceContext(): ServiceContext {
  const config = configFromEnv();
  return {
    store: openStore(config),
    baseUrl: config.baseUrl,
    log: createLogger('error'),
    now: () => new Date(),
    validation: config.validation,
  };
}

/** `ferry deadletters list | show ID | replay (ID | --all)`. */
async function deadLettersCommand(args: string[]): Promise<void> {
  const [sub, id, ...rest] = args;
  const ok =
    rest.length === 0 &&
    (sub === 'list' ? id === undefined : (sub === 'show' || sub === 'replay') && id !== undefined);
  if (!ok) fail('usage: ferry deadletters list | show ID | replay (ID | --all)', 2);
  if (sub === 'replay') {
    const ctx = serviceContext();
    const auditor = cliAuditor(ctx.store);
    // a replayed message that is stored leaves its AuditEvent, as when it first arrived
    const options = {
      ...hl7Options(),
      ...(auditor ? { audit: hl7MessageAudit(auditor, () => localAgent('ferry deadletters replay')) } : {}),
    };
    try {
      const ids = id === '--all' ? (await listDeadLetters(ctx.store)).map((l) => l.id) : [id ?? ''];
      let stored = 0;
      let csv: ReturnType<typeof csvCatalog> | undefined;
      for (const one of ids) {
        const letter = await readDeadLetter(ctx.store, one);
        if (letter?.source === 'csv') {
          csv ??= csvCatalog();
          const result = await replayCsvDeadLetter(
            ctx,
            letter,
            csv,
            auditor ? { auditor, agent: localAgent('ferry deadletters replay') } : undefined,
          );
          if (result.stored) stored++;
          process.stdout.write(`${one}  ${result.stored ? 'stored' : `kept  ${result.reason ?? ''}`}\n`);
          continue;
        }
        const result = await replayDeadLetter(ctx, one, options);
        if (!result) fail(`no dead letter ${one}`);
        if (result.decision.code === 'AA') stored++;
        process.stdout.write(
          `${one}  ${result.decision.code}${result.decision.code === 'AA' ? ' stored' : `  ${result.decision.text ?? ''}`}\n`,
        );
      }
      if (ids.length > 1)
        process.stdout.write(`replayed ${ids.length}: ${stored} stored, ${ids.length - stored} kept\n`);
      if (stored < ids.length) process.exitCode = 1;
    } finally {
      await ctx.store.close();
    }
    return;
  }
  const config = configFromEnv();
  const store = openStore(config);
  try {
    if (sub === 'list') {
      for (const letter of await listDeadLetters(store)) {
        const what = letter.csv
          ? `csv ${letter.csv.mapping} ${letter.csv.file} row ${letter.csv.row}`
          : [letter.messageType, letter.controlId, letter.sender].map((v) => v ?? '-').join(' ');
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

/** `ferry mappings test NAME SAMPLE`: the transaction Bundle a message becomes, on stdout. */
async function mappingsCommand(args: string[]): Promise<void> {
  const [sub, name, sample, ...rest] = args;
  if (sub !== 'test' || name === undefined || sample === undefined || rest.length > 0)
    fail(
      'usage: ferry mappings test NAME SAMPLE   (NAME: a file in mappings/hl7v2/messages, e.g. ORU_R01, or in mappings/csv, e.g. lab-results)',
      2,
    );
  const csv = csvCatalog().mappings.get(name);
  if (csv) {
    let preview;
    try {
      preview = await previewCsv(csv, csvCatalog(), sample);
    } catch (error) {
      fail(`${sample}: ${error instanceof Error ? error.message : String(error)}`);
    }
    process.stdout.write(`${JSON.stringify(preview.bundle, null, 2)}\n`);
    for (const r of preview.rejected)
      process.stderr.write(`row ${r.row}${r.column ? `, column ${r.column}` : ''}: ${r.reason}\n`);
    if (preview.rejected.length > 0) process.exitCode = 3;
    return;
  }
  const { catalog, timezone } = hl7Options();
  if (!catalog.messages.has(name))
    fail(`no mapping ${name}; there are: ${[...catalog.messages.keys()].join(', ')}`, 2);
  let bytes: Buffer;
  try {
    bytes = readFileSync(sample);
  } catch {
    fail(`cannot read ${sample}`, 2);
  }
  const input = readInbound(bytes, 'file');
  if (!input.parsed.ok) fail(`${sample}: ${input.parsed.error.message}`);
  try {
    const mapped = messageToBundle(catalog, input.parsed.message, {
      timezone,
      receivedAt: input.receivedAt,
      mapName: name,
    });
    process.stdout.write(`${JSON.stringify(mapped.bundle, null, 2)}\n`);
  } catch (error) {
    fail(`${sample}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `ferry ingest FILE… --mapping NAME`: HL7 v2 files (or batches) through a mapping, with progress. */
async function ingestCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        mapping: { type: 'string' },
        atomic: { type: 'boolean' },
        report: { type: 'string' },
        restart: { type: 'boolean' },
        encoding: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const usageLine =
    'usage: ferry ingest FILE… --mapping NAME   (NAME: e.g. ORU_R01; see mappings/hl7v2/messages)\n' +
    `       ${csvIngestUsage.replace('usage: ', '')}   (NAME: a file in mappings/csv, e.g. lab-results)`;
  if (parsed.values.help) {
    process.stdout.write(`${usageLine}\n`);
    return;
  }
  const name = parsed.values.mapping;
  if (!name || parsed.positionals.length === 0) fail(usageLine, 2);
  const { values } = parsed;
  const csvFlags =
    values.atomic === true ||
    values.report !== undefined ||
    values.restart === true ||
    values.encoding !== undefined;
  if (csvFlags || csvCatalog().mappings.has(name)) {
    await ingestCsvFiles(parsed.positionals, name, {
      atomic: values.atomic === true,
      restart: values.restart === true,
      ...(values.report !== undefined ? { report: values.report } : {}),
      ...(values.encoding !== undefined ? { encoding: values.encoding } : {}),
    });
    return;
  }
  const options = hl7Options();
  if (!options.catalog.messages.has(name))
    fail(`no mapping ${name}; there are: ${[...options.catalog.messages.keys()].join(', ')}`, 2);
  const texts = parsed.positionals.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch {
      fail(`cannot read ${file}`, 2);
    }
  });
  const ctx = serviceContext();
  const auditor = cliAuditor(ctx.store);
  const started = Date.now();
  let failed = 0;
  try {
    for (const { file, text } of texts) {
      const summary = await ingestHl7Text(
        ctx,
        text,
        {
          ...options,
          mapName: name,
          ...(auditor ? { audit: hl7MessageAudit(auditor, () => localAgent('ferry ingest')) } : {}),
        },
        (done, total) => {
          const width = 30;
          const filled = Math.round((done / Math.max(total, 1)) * width);
          process.stderr.write(
            `\r${file} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
          );
        },
      );
      process.stderr.write('\n');
      for (const problem of summary.problems) process.stderr.write(`  batch: ${problem}\n`);
      for (const failure of summary.failures) process.stderr.write(`  ${failure}\n`);
      failed += summary.rejected + summary.refused;
      process.stdout.write(
        `${file}: ${summary.messages} messages: ${summary.stored} stored, ${summary.rejected} rejected (AE), ` +
          `${summary.refused} refused (AR); refused messages are dead letters\n`,
      );
    }
  } finally {
    await ctx.store.close();
  }
  process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  if (failed > 0) process.exitCode = 1;
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
    case 'export':
      await exportCommand(rest);
      return;
    case 'clients':
    case 'token':
    case 'keys':
      await authCommand(command, rest);
      return;
    case 'backup':
      await backupCommand(rest);
      return;
    case 'restore':
      await restoreCommand(rest);
      return;
    case 'ingest':
      await ingestCommand(rest);
      return;
    case 'mappings':
      await mappingsCommand(rest);
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
