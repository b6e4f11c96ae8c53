import { Router, type Request, type Response } from 'express';
import { auditAppend, recordAccess, type Auditor } from '../audit/access-audit.js';
import { Access, forbidden } from '../auth/access.js';
import type { Principal } from '../auth/principal.js';
import { notFound } from '../errors.js';
import type { CsvCatalog } from '../ingest/csv/model.js';
import { replayCsvDeadLetter } from '../ingest/csv/replay-csv.js';
import { listDeadLetters, readDeadLetter, updateDeadLetter } from '../ingest/dead-letters.js';
import { replayDeadLetter } from '../ingest/hl7v2/ingest-file.js';
import type { Hl7IngestOptions } from '../ingest/hl7v2/ingest-message.js';
import type { Permission } from '../auth/scopes.js';
import type { ServiceContext } from '../service/context.js';
import { requestAgent } from './audit-access.js';

/**
 * The dead letters over HTTP, for operators and their console (`/ingest/deadletters`): the list
 * (without the messages), one letter whole, a replay through the current mappings, a discard.
 * A dead letter holds what a sender sent about any patient, so reading takes a token that reads
 * every type ingest writes, and replaying or discarding one takes create/update or delete too.
 * Each access leaves an AuditEvent.
 */

export interface DeadLetterRouteDeps {
  ctx: ServiceContext;
  hl7v2: Hl7IngestOptions;
  csv: CsvCatalog;
  /** Every type HL7 v2 and CSV ingest write. */
  types: readonly string[];
  auditor?: Auditor;
}

export function deadLetterRoutes(deps: DeadLetterRouteDeps): Router {
  const router = Router();
  const need = (res: Response, permissions: Permission[]): void => {
    const access = new Access(res.locals.principal as Principal);
    for (const type of deps.types)
      for (const permission of permissions)
        if (!access.unrestricted(type, permission))
          throw forbidden(
            `Dead letters hold messages about ${deps.types.join(', ')}; this needs ${permissions.join('')} on each (e.g. system/*.${permissions.join('')})`,
          );
  };
  const audit = async (req: Request, res: Response, status: number, text: string): Promise<void> => {
    if (deps.auditor)
      await recordAccess(deps.auditor, requestAgent(req, res), {
        interaction: 'operation',
        status,
        outcomeText: text.slice(0, 200),
      });
  };
  const letterOf = async (req: Request) => {
    const id = String(req.params.id ?? '');
    const letter = await readDeadLetter(deps.ctx.store, id);
    if (!letter) throw notFound(`No dead letter ${id.slice(0, 60)}`);
    return letter;
  };

  router.get('/', async (req, res) => {
    need(res, ['r']);
    const letters = (await listDeadLetters(deps.ctx.store)).map(({ text: _text, ...about }) => about);
    await audit(req, res, 200, `dead letters listed: ${letters.length}`);
    res.json({ deadLetters: letters });
  });
  router.get('/:id', async (req, res) => {
    need(res, ['r']);
    const letter = await letterOf(req);
    await audit(req, res, 200, `dead letter read: ${letter.id}`);
    res.json(letter);
  });
  router.post('/:id/replay', async (req, res) => {
    need(res, ['r', 'c', 'u']);
    const letter = await letterOf(req);
    let result: { stored: boolean; reason?: string; code?: string };
    if (letter.source === 'csv') {
      const agent = requestAgent(req, res);
      result = await replayCsvDeadLetter(
        deps.ctx,
        letter,
        deps.csv,
        deps.auditor ? { auditor: deps.auditor, agent } : undefined,
      );
    } else {
      const replay = await replayDeadLetter(deps.ctx, letter.id, deps.hl7v2, requestAgent(req, res));
      const code = replay?.decision.code ?? 'AR';
      result = {
        stored: code === 'AA',
        code,
        ...(replay?.decision.text ? { reason: replay.decision.text } : {}),
      };
    }
    await audit(
      req,
      res,
      200,
      `dead letter replayed: ${letter.id} ${result.stored ? 'stored' : `kept: ${result.reason ?? ''}`}`,
    );
    res.json({ id: letter.id, ...result });
  });
  router.delete('/:id', async (req, res) => {
    need(res, ['r', 'd']);
    const letter = await letterOf(req);
    // the discard and its event in one commit
    const events = deps.auditor
      ? [
          auditAppend(deps.auditor, requestAgent(req, res), {
            interaction: 'operation',
            status: 204,
            outcomeText: `dead letter discarded: ${letter.id}`.slice(0, 200),
          }),
        ]
      : [];
    await updateDeadLetter(deps.ctx.store, letter.id, null, events);
    res.status(204).end();
  });
  return router;
}
