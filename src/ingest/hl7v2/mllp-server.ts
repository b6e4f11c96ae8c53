import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { buildAck, rejectWith } from './ack.js';
import { Hl7Error } from './hl7-error.js';
import { answer, newControlId, readInbound, type Hl7Handler } from './inbound.js';
import { encodeFrame, MllpDecoder, type MllpEvent } from './mllp-framer.js';
import { readHeader } from './parse.js';

/**
 * The MLLP listener: the thin socket layer over MllpDecoder and the handler. Per connection,
 * messages are handled one at a time in arrival order and each gets its ACK in that order;
 * reading pauses while too many decoded messages wait.
 */
export interface MllpOptions {
  port: number;
  host?: string;
  /** PEM certificate and key: serve MLLP over TLS. */
  tls?: { cert: Buffer; key: Buffer };
  /** Largest frame accepted; a larger one is dropped and answered AR when its MSH is readable. */
  maxFrameBytes: number;
  /** A connection with nothing pending that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /** Messages waiting on one connection before its reading pauses (default 32). */
  maxPending?: number;
}

/** The listener options a configuration asks for (`tls` holds the files' contents, read by the caller). */
export function mllpOptions(config: Readonly<Config>, tls?: { cert: Buffer; key: Buffer }): MllpOptions {
  return {
    port: config.mllpPort,
    host: config.host,
    maxFrameBytes: config.mllpMaxFrameBytes,
    idleTimeoutMs: config.mllpIdleTimeoutSeconds * 1000,
    ...(tls ? { tls } : {}),
  };
}

export interface MllpListener {
  /** The port listened on (the real one when 0 was asked for). */
  port: number;
  /** Open connections now. */
  readonly connections: number;
  /**
   * Stops accepting, lets each connection finish and acknowledge what it has, then closes it.
   * After `graceMs` (when given) connections still busy are cut.
   */
  close(graceMs?: number): Promise<void>;
}

interface Connection {
  socket: Socket;
  /** Ends the connection once its queue is empty. */
  finish(): void;
}

/** Starts listening; resolves once the port is bound. */
export async function startMllpListener(
  options: MllpOptions,
  handler: Hl7Handler,
  log: Logger,
): Promise<MllpListener> {
  const open = new Set<Connection>();
  const maxPending = options.maxPending ?? 32;
  let closing = false;

  const onSocket = (socket: Socket): void => {
    const remoteAddress = socket.remoteAddress ?? '';
    const decoder = new MllpDecoder(options.maxFrameBytes);
    let tail: Promise<void> = Promise.resolve();
    let pending = 0;
    let paused = false;
    let ending = false;

    // end our side once the ACKs are flushed, and do not wait for the peer to end its side
    const endSocket = (): void => {
      if (!socket.destroyed) socket.end(() => socket.destroy());
    };
    const finish = (): void => {
      ending = true;
      socket.pause();
      if (pending === 0) endSocket();
    };
    const connection: Connection = { socket, finish };
    open.add(connection);

    const enqueue = (work: () => Promise<Buffer | undefined>): void => {
      pending++;
      if (pending >= maxPending && !paused) {
        paused = true;
        socket.pause();
      }
      tail = tail
        .then(work)
        .then((frame) => {
          if (frame && !socket.destroyed) socket.write(frame);
        })
        .catch((error: unknown) => {
          log.error('mllp.failed', {
            error: error instanceof Error ? error.message.slice(0, 200) : 'unknown',
          });
        })
        .finally(() => {
          pending--;
          if (ending) {
            if (pending === 0) endSocket();
          } else if (paused && pending <= maxPending / 2) {
            paused = false;
            socket.resume();
          }
        });
    };

    const onEvent = (event: MllpEvent): void => {
      if (event.type === 'frame') {
        const receivedAt = new Date();
        enqueue(async () => {
          try {
            const input = readInbound(event.payload, 'mllp', { remoteAddress, receivedAt });
            const response = await answer(input, handler, log);
            return response === undefined
              ? undefined
              : encodeFrame(response, input.charset === 'latin1' ? 'latin1' : 'utf8');
          } catch (error) {
            // never leave a sender waiting: a failure here still gets an ACK
            log.error('mllp.ack_failed', {
              error: error instanceof Error ? error.message.slice(0, 200) : 'unknown',
            });
            const failure = new Hl7Error(207, 'the message could not be acknowledged');
            return encodeFrame(
              buildAck(undefined, 'AR', rejectWith(failure), { controlId: newControlId(), now: new Date() }),
            );
          }
        });
        return;
      }
      log.warn('mllp.framing_error', { kind: event.kind, bytes: event.bytes, remoteAddress });
      if (event.kind === 'frame-too-large' && event.head) {
        const header = readHeader(event.head.toString('latin1'));
        const error = new Hl7Error(207, `the message is larger than ${options.maxFrameBytes} bytes`);
        const ack = buildAck(header, 'AR', rejectWith(error), { controlId: newControlId(), now: new Date() });
        enqueue(() => Promise.resolve(encodeFrame(ack)));
      }
    };

    // ACKs are small writes answering pipelined messages: do not let Nagle hold them back
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('timeout', () => {
      if (pending > 0) return;
      log.info('mllp.idle_timeout', { remoteAddress });
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      if (ending) return;
      for (const event of decoder.push(chunk)) onEvent(event);
    });
    // the peer stopped sending: acknowledge what is queued, then close our side
    socket.on('end', finish);
    socket.on('error', (error) => log.debug('mllp.socket_error', { remoteAddress, error: error.message }));
    socket.on('close', () => {
      open.delete(connection);
      if (decoder.inFrame) log.warn('mllp.cut_frame', { remoteAddress });
    });
    if (closing) finish();
  };

  const server: Server = options.tls
    ? createTlsServer({ cert: options.tls.cert, key: options.tls.key, allowHalfOpen: true }, onSocket)
    : createNetServer({ allowHalfOpen: true }, onSocket);
  server.on('tlsClientError', (error: Error) => log.warn('mllp.tls_error', { error: error.message }));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.error('mllp.server_error', { error: error.message }));
  const port = (server.address() as AddressInfo).port;
  log.info('mllp.listening', { port, tls: Boolean(options.tls) });

  let closed: Promise<void> | undefined;
  return {
    port,
    get connections() {
      return open.size;
    },
    close(graceMs?: number) {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        const cut =
          graceMs === undefined
            ? undefined
            : setTimeout(() => {
                for (const connection of open) connection.socket.destroy();
              }, graceMs);
        server.close(() => {
          if (cut) clearTimeout(cut);
          log.info('mllp.stopped', {});
          resolve();
        });
        for (const connection of open) connection.finish();
      });
      return closed;
    },
  };
}
