import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AuditEvent } from 'fhir/r4.js';
import { buildAuditEvent } from '../audit/audit-event.js';
import { readLink, recordHash, withLink } from './audit-chain.js';

const link = { sequence: 42, previous: 'ab'.repeat(32) };

const event = (): AuditEvent =>
  buildAuditEvent({
    interaction: 'search-type',
    status: 200,
    query: 'Observation?code=1234-5&patient=Patient/p1',
    patient: 'Patient/p1',
    agent: { clientId: 'lab', user: 'alice', address: '10.0.0.9' },
    source: { site: 'https://ferry.example.org/fhir', name: 'ferry-1' },
    recorded: new Date('2026-01-02T03:04:05.678Z'),
  });

describe('audit chain records', () => {
  it('hashes a record as SHA-256 of its JSON, hex', () => {
    const json = JSON.stringify(withLink(event(), link));
    assert.deepEqual(readLink(JSON.parse(json) as AuditEvent), link);
    assert.equal(recordHash(json), createHash('sha256').update(json).digest('hex'));
    assert.equal(recordHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(recordHash('é'), createHash('sha256').update('é', 'utf8').digest('hex'));
  });
});
