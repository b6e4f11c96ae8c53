import express, { Router } from 'express';
import { unsupportedMediaType, badRequest } from '../errors.js';
import { answer, type Hl7Handler } from '../ingest/hl7v2/inbound.js';
import { readHttpMessages } from '../ingest/hl7v2/http-framing.js';
import { requestAgent } from './audit-access.js';

/**
 * `/ingest` routes. `POST /ingest/hl7v2`: the body's messages go to the handler one by one, in
 * order; the response is their ACKs, each ended by CR, with status 200 whatever the ACK codes
 * (AE and AR are answers, not transport failures). 4xx only when the body cannot be taken at all.
 */
export function ingestRoutes(hl7v2: Hl7Handler, limits: { maxBodyBytes: number }): Router {
  const router = Router();
  const body = express.raw({ type: () => true, limit: limits.maxBodyBytes });
  router.post('/hl7v2', body, async (req, res) => {
    const raw: unknown = req.body;
    const read = readHttpMessages(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0), req.get('content-type'));
    if (!read.ok) throw read.status === 415 ? unsupportedMediaType(read.text) : badRequest(read.text);
    for (const problem of read.problems)
      req.log.warn('hl7v2.batch_problem', { code: problem.code, text: problem.message });
    const acks: string[] = [];
    const sender = requestAgent(req, res);
    for (const message of read.messages) {
      const from = { ...message, sender, ...(sender.address ? { remoteAddress: sender.address } : {}) };
      const ack = await answer(from, hl7v2, req.log);
      if (ack !== undefined) acks.push(ack);
    }
    res
      .status(200)
      .type(`${read.mediaType}; charset=utf-8`)
      .send(Buffer.from(acks.join(''), 'utf8'));
  });
  return router;
}
