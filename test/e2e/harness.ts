import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));

export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  /** The FHIR base, e.g. http://127.0.0.1:41234/fhir */
  base: string;
  dataDir: string;
  process: ChildProcess;
  /** Every stdout line the server wrote (JSON log lines). */
  logs: string[];
  stderr: string[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** fetch against the FHIR base with a JSON body when given, as a fully authorized client. */
  fhir(path: string, init?: FhirInit): Promise<Response>;
  /** Headers for a request made with plain fetch, carrying the authorization `fhir()` uses. */
  headers(extra?: ConstructorParameters<typeof Headers>[0]): Headers;
}

export interface FhirInit extends Omit<RequestInit, 'body'> {
  json?: unknown;
  body?: string;
}

/**
 * Starts the real gateway (`ferry serve`) in a child process on a free port with a fresh data
 * directory, and waits until it says it is listening.
 */
export async function startServer(
  env: Record<string, string> = {},
  options: { keepDataDir?: string } = {},
): Promise<RunningServer> {
  const dataDir = options.keepDataDir ?? mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      FERRY_PORT: '0',
      FERRY_MLLP_PORT: '0',
      FERRY_DATA_DIR: dataDir,
      FERRY_BASE_URL: 'http://localhost/fhir',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const stderr: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr.join('')}`)), 15000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        try {
          const event = JSON.parse(line) as { event?: string; port?: number };
          if (event.event === 'gateway.listening' && event.port) {
            clearTimeout(timer);
            resolve(event.port);
          }
        } catch {
          // not a log line
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => stderr.push(chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${String(code)}: ${stderr.join('')}`));
    });
  });
  const origin = `http://127.0.0.1:${port}`;
  const base = `${origin}/fhir`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    origin,
    base,
    dataDir,
    process: child,
    logs,
    stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const code = await exited;
      if (!options.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
    headers(extra?: ConstructorParameters<typeof Headers>[0]) {
      return new Headers(extra);
    },
    fhir(path: string, init: FhirInit = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined && !headers.has('content-type'))
        headers.set('content-type', 'application/fhir+json');
      return fetch(`${base}${path}`, {
        ...rest,
        headers,
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      });
    },
  };
}
