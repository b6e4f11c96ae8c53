import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, RequestHandler, Response } from 'express';
import { recordAccess, type Auditor } from '../audit/access-audit.js';
import { Access, forbidden } from '../auth/access.js';
import type { Principal } from '../auth/principal.js';
import { invalid, notFound, tooLarge, unsupportedMediaType } from '../errors.js';
import { ingestCsv } from '../ingest/csv/ingest-csv.js';
import { summaryLine, summaryOutcome } from '../ingest/csv/csv-report.js';
import { csvEncoding, typesWritten } from '../ingest/csv/load-csv-mappings.js';
import type { CsvCatalog, CsvMapping } from '../ingest/csv/model.js';
import { HeaderError } from '../ingest/csv/read-csv.js';
import type { ServiceContext } from '../service/context.js';
import { requestAgent } from './audit-access.js';
import { sendOutcome } from './respond.js';

/**
 * `POST /ingest/csv/{mapping}` (body `text/csv`): the file is received whole (to a temporary
 * file, hashed on the way), then ingested like `ferry ingest`; the answer is the summary as an
 * OperationOutcome — 200 when the file was taken (rejected rows are issues in it), 422 when its
 * header does not fit the mapping or an atomic file had a bad row (nothing stored).
 */

export interface CsvRouteDeps {
  ctx: ServiceContext;
  catalog: CsvCatalog;
  maxBodyBytes: number;
  /** Where uploads are kept while they are ingested (under the data directory: tmp may be small). */
  uploadDir?: string;
  auditor?: Auditor;
}

const csvTypes = new Set(['text/csv', 'application/csv', 'text/plain']);

/** The mapping with the request's charset (`charset=iso-8859-1` reads Latin-1). */
function withCharset(mapping: CsvMapping, contentType: string | undefined): CsvMapping {
  const charset = /;\s*charset="?([^";]+)"?/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset === undefined) return mapping;
  const encoding = csvEncoding(charset);
  if (!encoding)
    throw unsupportedMediaType(`charset ${charset.slice(0, 40)} is not read here: send UTF-8 or ISO-8859-1`);
  return { ...mapping, read: { ...mapping.read, encoding } };
}

/** The request body to a file; its SHA-256. 413 beyond the limit. */
async function receive(req: Request, path: string, max: number): Promise<string> {
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > max) {
        done(tooLarge(`The CSV is larger than ${max} bytes (FERRY_CSV_MAX_BODY)`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(req, count, createWriteStream(path));
  return hash.digest('hex');
}

function fileNameOf(req: Request, mapping: string): string {
  const disposition = req.get('content-disposition') ?? '';
  const m = /filename\*?="?(?:UTF-8'')?([^";]+)"?/i.exec(disposition);
  const name = m?.[1] ? decodeURIComponent(m[1]).replace(/[\\/]/g, '_') : `${mapping}-upload.csv`;
  return name.slice(0, 200);
}

export function csvIngestRoute(deps: CsvRouteDeps): RequestHandler {
  return async function csvIngest(req: Request, res: Response): Promise<void> {
    const name = String(req.params.mapping ?? '');
    const found = deps.catalog.mappings.get(name);
    if (!found)
      throw notFound(
        `No CSV mapping '${name.slice(0, 60)}'; there are: ${[...deps.catalog.mappings.keys()].join(', ')}`,
      );
    const access = new Access(res.locals.principal as Principal);
    const types = typesWritten(found);
    for (const type of types)
      for (const permission of ['c', 'u'] as const)
        if (!access.unrestricted(type, permission))
          throw forbidden(
            `The mapping ${name} writes ${types.join(', ')}; the access token needs create and update on each (e.g. system/${type}.cu)`,
          );
    const mediaType = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!csvTypes.has(mediaType))
      throw unsupportedMediaType(
        `POST /ingest/csv takes text/csv, not ${mediaType.slice(0, 60) || 'no body type'}`,
      );
    const mapping = withCharset(found, req.get('content-type'));
    const atomic = req.query.atomic === 'true';
    const parent = deps.uploadDir ?? tmpdir();
    await mkdir(parent, { recursive: true });
    const dir = await mkdtemp(join(parent, 'csv-'));
    try {
      const path = join(dir, 'upload.csv');
      const sha256 = await receive(req, path, deps.maxBodyBytes);
      const agent = requestAgent(req, res);
      let summary;
      try {
        summary = await ingestCsv(
          deps.ctx,
          { name: fileNameOf(req, name), sha256, open: () => createReadStream(path) },
          {
            mapping,
            catalog: deps.catalog,
            transport: 'http',
            atomic,
            resume: true,
            ...(deps.auditor ? { audit: { auditor: deps.auditor, agent } } : {}),
          },
        );
      } catch (error) {
        if (error instanceof HeaderError)
          throw invalid([{ severity: 'error', code: 'structure', diagnostics: error.message }]);
        throw error;
      }
      const status = summary.committed ? 200 : 422;
      if (deps.auditor)
        await recordAccess(deps.auditor, agent, {
          interaction: 'operation',
          status,
          outcomeText: `CSV ingest ${name} over http: ${summaryLine(summary)}`.slice(0, 200),
        });
      sendOutcome(req, res, status, summaryOutcome(summary));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
