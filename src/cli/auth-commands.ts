import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { JSONWebKeySet } from 'jose';
import { firstKeyFacts, localAgent, localEvent, recordAccess } from '../audit/access-audit.js';
import { clientSystem, signingKeySystem } from '../audit/audit-event.js';
import {
  addClient,
  listClients,
  newSecret,
  removeClient,
  validClientId,
  type RegisteredClient,
} from '../auth/clients.js';
import { KeyRing, rotateKeys } from '../auth/keys.js';
import { parseScope, splitScopes } from '../auth/scopes.js';
import { authEndpoints, issueToken } from '../auth/tokens.js';
import { openStore } from '../main.js';
import { RecordExistsError, type ResourceStore } from '../store/store.js';
import { cliAuditor, commandEvent, configFromEnv, fail } from './common.js';

export const authUsage = `  clients      add ID --scope "…" (--jwks-file F | --jwks-url U | --secret) [--patient P]
               | list | remove ID: the SMART clients that may ask for tokens
  token        --scope "…" [--patient P] [--ttl S] [--client ID]: mint an access token
  keys rotate  add a new signing key; the old one verifies until its tokens expire
`;

/** The longest a token can live (`ferry token --ttl` at most); a retired key verifies this long. */
const maxTtlSeconds = 86400;
const patientId = /^[A-Za-z0-9\-.]{1,64}$/;

async function withStore<T>(
  work: (store: ResourceStore, config: ReturnType<typeof configFromEnv>) => Promise<T>,
): Promise<T> {
  const config = configFromEnv();
  const store = openStore(config);
  try {
    return await work(store, config);
  } finally {
    await store.close();
  }
}

function checkScopes(text: string | undefined): string[] {
  const scopes = splitScopes(text);
  if (scopes.length === 0)
    fail('--scope is required, e.g. --scope "system/Observation.rs system/Patient.rs"', 2);
  for (const scope of scopes) {
    if (scope.includes('/') && !scope.startsWith('launch/') && !parseScope(scope)) {
      fail(`"${scope}" is not a SMART scope (context/Type.permissions, e.g. system/Observation.rs)`, 2);
    }
  }
  return scopes;
}

function checkPatient(patient: string | undefined): string | undefined {
  if (patient === undefined) return undefined;
  const id = patient.replace(/^Patient\//, '');
  if (!patientId.test(id)) fail(`--patient "${patient}" is not a Patient id`, 2);
  return id;
}

/** A JWKS file of public keys only, each with a kid. */
function readJwks(path: string): JSONWebKeySet {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet;
  } catch (error) {
    fail(`cannot read the JWKS in ${path}: ${error instanceof Error ? error.message : String(error)}`, 2);
  }
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0)
    fail(`${path} is not a JWKS: it needs a "keys" array`, 2);
  for (const [i, key] of jwks.keys.entries()) {
    if ('d' in key) fail(`${path}: key ${i} holds private key material; register public keys only`, 2);
    if (key.kty !== 'RSA' && key.kty !== 'EC') fail(`${path}: key ${i} is not an RSA or EC key`, 2);
  }
  return jwks;
}

async function clients(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    await withStore(async (store) => {
      for (const c of await listClients(store)) {
        const how = c.jwksUrl
          ? `jwks-url ${c.jwksUrl}`
          : c.jwks
            ? `jwks (${c.jwks.keys.length} keys)`
            : 'secret';
        const patient = c.patient ? `  patient ${c.patient}` : '';
        process.stdout.write(`${c.id}  ${how}  ${c.scope.join(' ')}${patient}\n`);
      }
    });
    return;
  }
  if (sub === 'remove') {
    const [id, ...extra] = rest;
    if (id === undefined || extra.length > 0) fail('usage: ferry clients remove ID', 2);
    const removed = await withStore((store) =>
      removeClient(
        store,
        id,
        commandEvent(store, 'ferry clients remove', {
          category: 'clients',
          securityObject: { system: clientSystem, value: id },
          outcomeText: `client ${id} removed`,
        }),
      ),
    );
    if (!removed) fail(`no client ${id}`);
    process.stdout.write(`removed client ${id}; tokens it already holds stay valid until they expire\n`);
    return;
  }
  if (sub !== 'add') fail(`usage: ferry clients add ID … | list | remove ID\n${authUsage}`, 2);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        scope: { type: 'string' },
        'jwks-file': { type: 'string' },
        'jwks-url': { type: 'string' },
        secret: { type: 'boolean' },
        patient: { type: 'string' },
      },
    });
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const [id, ...extra] = parsed.positionals;
  if (id === undefined || extra.length > 0)
    fail('usage: ferry clients add ID --scope "…" (--jwks-file F | --jwks-url U | --secret)', 2);
  if (!validClientId(id)) fail(`client id "${id}" may hold only letters, digits and . _ ~ - (1-128)`, 2);
  const v = parsed.values;
  const methods = [v['jwks-file'], v['jwks-url'], v.secret ? true : undefined].filter((m) => m !== undefined);
  if (methods.length !== 1) fail('give exactly one of --jwks-file, --jwks-url or --secret', 2);
  const client: RegisteredClient = { id, scope: checkScopes(v.scope), createdAt: new Date().toISOString() };
  const patient = checkPatient(v.patient);
  if (patient !== undefined) client.patient = patient;
  let secret: string | undefined;
  if (v['jwks-file'] !== undefined) client.jwks = readJwks(v['jwks-file']);
  if (v['jwks-url'] !== undefined) {
    let url: URL;
    try {
      url = new URL(v['jwks-url']);
    } catch {
      fail(`--jwks-url "${v['jwks-url']}" is not a URL`, 2);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('--jwks-url must be an https URL', 2);
    client.jwksUrl = url.href;
  }
  if (v.secret) {
    const made = await newSecret();
    client.secret = made.hash;
    secret = made.secret;
  }
  await withStore(async (store) => {
    try {
      const how = client.jwksUrl ? 'jwks-url' : client.jwks ? 'jwks' : 'secret';
      const patientContext = client.patient !== undefined ? ` (Patient/${client.patient})` : '';
      await addClient(
        store,
        client,
        commandEvent(store, 'ferry clients add', {
          category: 'clients',
          securityObject: { system: clientSystem, value: id },
          outcomeText: `client ${id} added (${how}): ${client.scope.join(' ')}${patientContext}`,
        }),
      );
    } catch (error) {
      if (error instanceof RecordExistsError) fail(`client ${id} already exists; remove it first`);
      throw error;
    }
  });
  process.stdout.write(`added client ${id} with scopes: ${client.scope.join(' ')}\n`);
  if (secret !== undefined) {
    process.stdout.write(`client secret (shown once, keep it safe): ${secret}\n`);
  }
}

async function token(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        scope: { type: 'string' },
        patient: { type: 'string' },
        ttl: { type: 'string' },
        client: { type: 'string' },
      },
    });
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const v = parsed.values;
  const scopes = checkScopes(v.scope);
  const patient = checkPatient(v.patient);
  const clientId = v.client ?? 'ferry-cli';
  if (!validClientId(clientId)) fail(`--client "${clientId}" is not a client id`, 2);
  const issued = await withStore(async (store, config) => {
    const ttl = v.ttl === undefined ? config.tokenTtlSeconds : Number(v.ttl);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > maxTtlSeconds)
      fail(`--ttl must be 1-${maxTtlSeconds} seconds`, 2);
    const auditor = cliAuditor(store);
    const ring = await KeyRing.open(store, Date.now, (key) =>
      localEvent(auditor, 'ferry token', firstKeyFacts(key.kid)),
    );
    const token = await issueToken(ring, authEndpoints(config.baseUrl), {
      clientId,
      scopes,
      ttlSeconds: ttl,
      ...(patient !== undefined ? { patient } : {}),
    });
    // a token minted here is on record, like one the token endpoint issues, before it is shown
    if (auditor) {
      const context = patient !== undefined ? ` (Patient/${patient})` : '';
      await recordAccess(
        auditor,
        { ...localAgent('ferry token'), clientId },
        {
          category: 'token',
          interaction: 'operation',
          status: 200,
          outcomeText: `token issued: ${scopes.join(' ')}${context}`.slice(0, 200),
        },
      );
    }
    return token;
  });
  process.stdout.write(`${issued.token}\n`);
}

async function keys(args: string[]): Promise<void> {
  if (args.length !== 1 || args[0] !== 'rotate') fail('usage: ferry keys rotate', 2);
  const result = await withStore((store) =>
    rotateKeys(store, maxTtlSeconds, Date.now(), (r) =>
      commandEvent(store, 'ferry keys rotate', {
        category: 'keys',
        securityObject: { system: signingKeySystem, value: r.added.kid },
        outcomeText:
          `signing key ${r.added.kid} added` +
          (r.retiring.length ? `; retiring ${r.retiring.map((k) => k.kid).join(', ')}` : '') +
          (r.removed.length ? `; removed ${r.removed.join(', ')}` : ''),
      }),
    ),
  );
  process.stdout.write(`new signing key ${result.added.kid}\n`);
  for (const key of result.retiring) {
    process.stdout.write(`key ${key.kid} verifies until ${new Date(key.retiresAt ?? 0).toISOString()}\n`);
  }
  for (const kid of result.removed) process.stdout.write(`key ${kid} removed (its tokens have expired)\n`);
}

export async function authCommand(command: 'clients' | 'token' | 'keys', args: string[]): Promise<void> {
  if (command === 'clients') await clients(args);
  else if (command === 'token') await token(args);
  else await keys(args);
}
