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

const plainHeaders = { accept: 'application/fhir+json' };
const plainJsonHeaders = { ...plainHeaders, 'content-type': 'application/fhir+json' };

/** node:http with a keep-alive Agent holding at most `sockets` connections. */
function agentClient(origin: string, sockets: number, token?: string): Client {
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const headers = { ...plainHeaders, ...auth };
  const jsonHeaders = { ...plainJsonHeaders, ...auth };
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
function fetchClient(origin: string, token?: string): Client {
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const headers = { ...plainHeaders, ...auth };
  const jsonHeaders = { ...plainJsonHeaders, ...auth };
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

/** A client of the chosen kind for `origin`, for up to `sockets` concurrent requests, sending `token`. */
export function createClient(kind: ClientKind, origin: string, sockets: number, token?: string): Client {
  return kind === 'agent' ? agentClient(origin, sockets, token) : fetchClient(origin, token);
}
