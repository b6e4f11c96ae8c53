import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordAccess, type Auditor } from '../audit/access-audit.js';
import { hl7MessageAudit } from './hl7v2/message-audit.js';
import type { Logger } from '../log.js';
import type { ServiceContext } from '../service/context.js';
import { ReportFile, summaryLine } from './csv/csv-report.js';
import { fileSource } from './csv/csv-source.js';
import { ingestCsv, IngestStopped, type CsvSummary } from './csv/ingest-csv.js';
import type { CsvCatalog } from './csv/model.js';
import { HeaderError } from './csv/read-csv.js';
import { ingestHl7Text, type IngestSummary } from './hl7v2/ingest-file.js';
import type { Hl7IngestOptions } from './hl7v2/ingest-message.js';

/**
 * Watched inboxes (FERRY_INBOX_DIR): one folder per CSV mapping, and `hl7v2/` for HL7 v2 batch
 * files. A file is taken once it is complete — its size and time held still for one look, and
 * its name does not end in `.part` or `.tmp` nor start with `.` (write under such a name, then
 * rename) — by moving it into `.processing/`. It is ingested, then moved to `processed/` or
 * `failed/` with a report beside it (`NAME.report.json`, and `NAME.rejected.csv` for rejected
 * rows). A file left in `.processing/` by a stop is resumed at start-up after its last stored
 * chunk (CSV), or sent again message by message (HL7 v2: a stored message is not stored twice).
 */

export interface InboxOptions {
  dir: string;
  pollMs: number;
  ctx: ServiceContext;
  csv: CsvCatalog;
  hl7v2: Hl7IngestOptions;
  auditor?: Auditor;
  log: Logger;
}

export interface Inbox {
  /** Stops looking; resolves once the file under way stopped at a chunk boundary. */
  close(): Promise<void>;
  /** One look at every folder now, ingesting what is ready (tests; the timer does this). */
  poll(): Promise<void>;
}

const processing = '.processing';

const ignored = (name: string): boolean =>
  name.startsWith('.') || /\.(part|tmp|partial|crdownload)$/i.test(name) || name.endsWith('~');

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Starts watching; makes the folders (one per mapping, and hl7v2/) when they do not exist. */
export function startInbox(options: InboxOptions): Inbox {
  const { dir, ctx, log } = options;
  const folders = [...options.csv.mappings.keys(), 'hl7v2'];
  for (const f of folders)
    for (const sub of ['', processing, 'processed', 'failed'])
      mkdirSync(join(dir, f, sub), { recursive: true });

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  /** Size and time of each waiting file at the last look. */
  const seen = new Map<string, string>();

  const finish = async (
    folder: string,
    name: string,
    to: 'processed' | 'failed',
    report: object,
  ): Promise<void> => {
    const target = `${stamp(ctx.now())}-${name}`;
    await writeFile(join(dir, folder, to, `${target}.report.json`), `${JSON.stringify(report, null, 2)}\n`);
    await rename(join(dir, folder, processing, name), join(dir, folder, to, target));
    log.info('inbox.file_done', { folder, file: name, to });
  };

  const audit = async (status: number, text: string): Promise<void> => {
    if (options.auditor)
      await recordAccess(
        options.auditor,
        { user: 'inbox' },
        { interaction: 'operation', status, outcomeText: text.slice(0, 200) },
      );
  };

  const ingestCsvFile = async (folder: string, name: string): Promise<void> => {
    const mapping = options.csv.mappings.get(folder);
    if (!mapping) return;
    const path = join(dir, folder, processing, name);
    const rejected = new ReportFile(join(dir, folder, processing, `${name}.rejected.csv`), true);
    let summary: CsvSummary;
    try {
      summary = await ingestCsv(ctx, await fileSource(path, name), {
        mapping,
        catalog: options.csv,
        transport: 'file',
        resume: true,
        onRejected: (r) => rejected.write(r),
        shouldStop: () => stopped,
        ...(options.auditor ? { audit: { auditor: options.auditor, agent: { user: 'inbox' } } } : {}),
      });
    } catch (error) {
      await rejected.close();
      if (error instanceof IngestStopped) return; // resumed at the next start
      if (!(error instanceof HeaderError)) throw error;
      await audit(422, `CSV ingest ${folder} from the inbox: ${name} refused: ${error.message}`);
      await finish(folder, name, 'failed', { file: name, mapping: folder, refused: error.message });
      return;
    }
    const wrote = await rejected.close();
    // a file with some rows stored is processed (its rejected rows are in the report); one that
    // stored nothing it had (every row rejected, or an atomic file with a bad row) failed
    const to = !summary.committed || (summary.rows > 0 && summary.stored === 0) ? 'failed' : 'processed';
    const target = `${stamp(ctx.now())}-${name}`;
    if (wrote) await rename(rejected.path, join(dir, folder, to, `${target}.rejected.csv`));
    await audit(
      summary.rejected > 0 ? 206 : 200,
      `CSV ingest ${folder} from the inbox: ${summaryLine(summary)}`,
    );
    await finish(folder, name, to, { ...summary, summary: summaryLine(summary) });
  };

  const ingestHl7File = async (name: string): Promise<void> => {
    const path = join(dir, 'hl7v2', processing, name);
    const text = await readFile(path, 'utf8');
    const summary: IngestSummary = await ingestHl7Text(
      ctx,
      text,
      options.auditor
        ? { ...options.hl7v2, audit: hl7MessageAudit(options.auditor, () => ({ user: 'inbox' })) }
        : options.hl7v2,
    );
    const line = `${name}: ${summary.messages} messages: ${summary.stored} stored, ${summary.rejected} rejected (AE), ${summary.refused} refused (AR)`;
    await audit(summary.stored === summary.messages ? 200 : 206, `HL7 v2 ingest from the inbox: ${line}`);
    await finish('hl7v2', name, summary.stored > 0 || summary.messages === 0 ? 'processed' : 'failed', {
      ...summary,
      summary: line,
    });
  };

  const ingestOne = async (folder: string, name: string): Promise<void> => {
    try {
      if (folder === 'hl7v2') await ingestHl7File(name);
      else await ingestCsvFile(folder, name);
    } catch (error) {
      // the store is down or the disk full: the file stays in .processing/ and is tried again
      log.error('inbox.file_failed', {
        folder,
        file: name,
        message: error instanceof Error ? error.message : String(error),
      });
    }
  };

  const look = async (): Promise<void> => {
    for (const folder of folders) {
      // interrupted files first, then what has arrived and stood still since the last look
      for (const name of readdirSync(join(dir, folder, processing)).filter(
        (n) => !n.endsWith('.rejected.csv'),
      )) {
        if (stopped) return;
        await ingestOne(folder, name);
      }
      for (const name of readdirSync(join(dir, folder)).sort()) {
        if (stopped) return;
        if (ignored(name) || ['processed', 'failed'].includes(name)) continue;
        const path = join(dir, folder, name);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile()) continue;
        const key = `${folder}/${name}`;
        const now = `${info.size}:${info.mtimeMs}`;
        if (seen.get(key) !== now) {
          seen.set(key, now);
          continue;
        }
        seen.delete(key);
        // a file of the same name still under way (its store was down): it goes first
        if (existsSync(join(dir, folder, processing, name))) continue;
        try {
          await rename(path, join(dir, folder, processing, name));
        } catch {
          continue; // taken by another process, or removed
        }
        log.info('inbox.file_taken', { folder, file: name, bytes: info.size });
        await ingestOne(folder, name);
      }
    }
  };

  const poll = (): Promise<void> => {
    running ??= look().finally(() => {
      running = undefined;
    });
    return running;
  };

  const tick = (): void => {
    timer = setTimeout(() => {
      poll()
        .catch((error: unknown) =>
          log.error('inbox.poll_failed', { message: error instanceof Error ? error.message : String(error) }),
        )
        .finally(() => {
          if (!stopped) tick();
        });
    }, options.pollMs);
    timer.unref();
  };
  tick();

  return {
    poll,
    close: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
