import { Agent, request } from 'node:http';

/** What the load loops need from a response. */
export interface Reply {
  status: number;
  body: string;
}

/** A keep-alive HTTP/1.1 client for one origin. */
export interface Client {
  send(method: 'GET' | 'POST', path: string, body?: string): Promise<Reply>;
  close(): Promise<void>;
}

export type ClientKind = 'agent' | 'fetch';

const headers = { accept: 'application/fhir+json' };
const jsonHeaders = { ...headers, 'content-type': 'application/fhir+json' };

/** node:http with a keep-alive Agent holding at most `sockets` connections. */
function agentClient(origin: string, sockets: number): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(origin);
  return {
    send: (method, path, body) =>
      new Promise((resolve, reject) => {
        const req = request(
          { hostname, port, method, path, agent, headers: body === undefined ? headers : jsonHeaders },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => {
      agent.destroy();
      return Promise.resolve();
    },
  };
}

/** Node's built-in fetch (undici), which keeps connections alive by default. */
function fetchClient(origin: string): Client {
  return {
    send: async (method, path, body) => {
      const res = await fetch(`${origin}${path}`, {
        method,
        headers: body === undefined ? headers : jsonHeaders,
        body: body ?? null,
      });
      return { status: res.status, body: await res.text() };
    },
    close: () => Promise.resolve(),
  };
}

/** A client of the chosen kind for `origin`, for up to `sockets` concurrent requests. */
export function createClient(kind: ClientKind, origin: string, sockets: number): Client {
  return kind === 'agent' ? agentClient(origin, sockets) : fetchClient(origin);
}
