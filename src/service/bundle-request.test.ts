import assert from 'node:assert/strict';
import type { BundleEntry } from 'fhir/r4.js';
import { FhirError } from '../errors.js';
import { parseEntry } from './bundle-request.js';
import { referencesIn, rewriteReferences, conditionalReference } from './bundle-references.js';

const base = 'http://localhost/fhir';
const get = (url: string): BundleEntry => ({ request: { method: 'GET', url } });
const kind = (entry: BundleEntry): string => parseEntry(entry, 0, base).request.kind;

function errorOf(entry: BundleEntry): FhirError {
  try {
    parseEntry(entry, 3, base);
  } catch (error) {
    if (error instanceof FhirError) return error;
    throw error;
  }
  throw new Error('no error');
}

describe('bundle entry requests', () => {
  it('reads every GET form as the interaction it names', () => {
    assert.equal(kind(get('Patient/1')), 'read');
    assert.equal(kind(get('Patient/1/_history/2')), 'vread');
    assert.equal(kind(get('Patient/1/_history')), 'history');
    assert.equal(kind(get('Patient/_history')), 'history');
    assert.equal(kind(get('_history')), 'history');
    assert.equal(kind(get('Patient?name=lee')), 'search');
    assert.equal(kind(get('Patient')), 'search');
    assert.equal(kind(get('?_type=Patient')), 'search');
    assert.equal(kind(get('Patient/1/Observation?code=x')), 'search');
    assert.equal(kind(get(`${base}/Patient/1`)), 'read');
  });

  it('keeps query parameters in order, repeated names included', () => {
    const parsed = parseEntry(get('Observation?date=ge2020&date=lt2021&code=a,b'), 0, base).request;
    assert.equal(parsed.kind, 'search');
    assert.deepEqual(parsed.params, [
      ['date', 'ge2020'],
      ['date', 'lt2021'],
      ['code', 'a,b'],
    ]);
  });

  it('tells conditional writes from writes by id', () => {
    const patient = { resourceType: 'Patient' as const };
    assert.equal(kind({ resource: patient, request: { method: 'PUT', url: 'Patient/1' } }), 'update');
    assert.equal(
      kind({ resource: patient, request: { method: 'PUT', url: 'Patient?identifier=a|b' } }),
      'conditional-update',
    );
    assert.equal(kind({ request: { method: 'DELETE', url: 'Patient/1' } }), 'delete');
    assert.equal(
      kind({ request: { method: 'DELETE', url: 'Patient?identifier=a|b' } }),
      'conditional-delete',
    );
    const create = parseEntry(
      {
        resource: patient,
        request: { method: 'POST', url: 'Patient', ifNoneExist: 'Patient?identifier=a|b' },
      },
      0,
      base,
    ).request;
    assert.deepEqual(create.kind === 'create' && create.ifNoneExist, [['identifier', 'a|b']]);
  });

  it('decodes a Binary JSON Patch and takes a Parameters FHIRPath Patch', () => {
    const ops = [{ op: 'remove', path: '/gender' }];
    const binary = parseEntry(
      {
        resource: {
          resourceType: 'Binary',
          contentType: 'application/json-patch+json',
          data: Buffer.from(JSON.stringify(ops)).toString('base64'),
        },
        request: { method: 'PATCH', url: 'Patient/1' },
      },
      0,
      base,
    ).request;
    assert.deepEqual(binary.kind === 'patch' && binary.patch, ops);
    const fhirpath = parseEntry(
      {
        resource: { resourceType: 'Parameters', parameter: [] },
        request: { method: 'PATCH', url: 'Patient?name=x' },
      },
      0,
      base,
    ).request;
    assert.equal(fhirpath.kind, 'conditional-patch');
  });

  it('names the entry and the element of every malformed request', () => {
    assert.deepEqual(errorOf({ resource: { resourceType: 'Patient' } }).outcome.issue[0]?.expression, [
      'Bundle.entry[3].request',
    ]);
    assert.deepEqual(errorOf({ request: { method: 'POST', url: 'Patient' } }).outcome.issue[0]?.expression, [
      'Bundle.entry[3].resource',
    ]);
    assert.deepEqual(
      errorOf(get('http://elsewhere.example.org/fhir/Patient/1')).outcome.issue[0]?.expression,
      ['Bundle.entry[3].request.url'],
    );
    assert.deepEqual(
      errorOf({
        request: { method: 'PUT', url: 'Patient/1', ifMatch: 'seven' },
        resource: { resourceType: 'Patient' },
      }).outcome.issue[0]?.expression,
      ['Bundle.entry[3].request.ifMatch'],
    );
    assert.equal(errorOf({ request: { method: 'DELETE', url: 'Patient' } }).status, 400);
    assert.deepEqual(errorOf(null as unknown as BundleEntry).outcome.issue[0]?.expression, [
      'Bundle.entry[3]',
    ]);
    assert.equal(
      errorOf({ resource: { resourceType: 'Patient' }, request: { method: 'PATCH', url: 'Patient/1' } })
        .status,
      400,
    );
  });
});

describe('bundle references', () => {
  it('finds references at any depth and rewrites only the mapped ones', () => {
    const resource = {
      resourceType: 'Observation',
      subject: { reference: 'urn:uuid:a' },
      performer: [{ reference: 'Practitioner/1' }],
      extension: [{ url: 'x', valueReference: { reference: 'urn:uuid:a' } }],
      text: {
        status: 'generated',
        div: '<div><a href="urn:uuid:a">p</a><img src=\'urn:uuid:a\'/> urn:uuid:a</div>',
      },
    };
    assert.deepEqual(referencesIn(resource).sort(), ['Practitioner/1', 'urn:uuid:a', 'urn:uuid:a']);
    rewriteReferences(resource, new Map([['urn:uuid:a', 'Patient/9']]));
    assert.equal(resource.subject.reference, 'Patient/9');
    assert.equal(resource.extension[0]?.valueReference.reference, 'Patient/9');
    assert.equal(resource.performer[0]?.reference, 'Practitioner/1');
    assert.equal(
      resource.text.div,
      '<div><a href="Patient/9">p</a><img src=\'Patient/9\'/> urn:uuid:a</div>',
    );
  });

  it('recognises conditional references', () => {
    assert.deepEqual(conditionalReference('Patient?identifier=a|b&name=x'), {
      type: 'Patient',
      criteria: [
        ['identifier', 'a|b'],
        ['name', 'x'],
      ],
    });
    assert.equal(conditionalReference('Patient/1'), undefined);
    assert.equal(conditionalReference('http://x.org/Patient?x=1'), undefined);
  });
});
