// Listeners on node's own HTTP server: node:http for the plain listener where no uWebSockets.js
// binary loads (or `listen.engine: node`), node:https for TLS (tls-transport.ts adds
// certificates and their reload). Both read a request the same way and hand the exchange
// node's request/response pair through NodeClientResponse, so every engine feeds the Exchange
// the same AcceptedRequest.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, ServerHttp2Session } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import type { TlsConnectionInfo } from '../chain/http-stream.js';
import { assertAddressFree } from '../net/address.js';
import { connectionFacts } from '../net/connection-facts.js';
import { answerHeadersTooLarge, NodeClientResponse } from './client-response.js';
import { answerParseError } from './parse-refusal.js';
import type { ProxyListener, Transport } from './listener.js';
import { HEADER_BYTES_CEILING } from './proxy-context.js';

const EMPTY = new Uint8Array(0);

/** Server options both flavours share: node parses up to the ceiling, Weft answers 431 below it. */
export const NODE_SERVER_OPTIONS = { maxHeaderSize: HEADER_BYTES_CEILING } as const;

/** A server that emits node's (or node:http2's compatibility) request/response pairs. */
export type RequestServer = Server | Http2Server | Http2SecureServer;

export class NodeTransport implements Transport {
  /** Every connection (raw TCP sockets, so TLS handshakes in progress too), for closeAll. */
  private readonly sockets = new Set<Socket>();
  /** HTTP/2 connections: a drain tells their clients with GOAWAY (HTTP/2 has no connection: close). */
  private readonly h2Sessions = new Set<ServerHttp2Session>();

  constructor(
    protected readonly host: string,
    protected readonly port: number,
    protected readonly listener: ProxyListener,
    /** The listening server: a request server, or a net server handing connections to them (h2-transport.ts). */
    protected readonly server: RequestServer | NetServer,
    private readonly scheme: 'http' | 'https',
    private readonly requestServers: readonly RequestServer[] = [server as RequestServer],
  ) {
    for (const requests of requestServers) {
      requests.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
      // An Expect other than 100-continue: node would answer a bare 417; the intake answers it with its reason.
      requests.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
      // What node's parser refuses never becomes a request: answer it as the intake would.
      requests.on('clientError', answerParseError);
      requests.on('session', (session: ServerHttp2Session) => {
        this.h2Sessions.add(session);
        session.once('close', () => this.h2Sessions.delete(session));
      });
    }
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    // Worker threads share the address (SO_REUSEPORT, Node 22.12+); the main thread checked it is free before starting them.
    const reusePort = this.listener.reusePort;
    if (!reusePort) await assertAddressFree(this.host, this.port);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.port, host: this.host, ...(reusePort ? { reusePort } : {}) }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  stopAccepting(): void {
    this.server.close();
  }

  async goAway(): Promise<void> {
    // session.close() sends GOAWAY, lets the streams in flight finish, then closes the
    // connection once their last frames are out (closeAll would cut what is still queued).
    // Node 24's server.close() has already called it: `closed` is then true while the session
    // is still finishing, so the wait is for its 'close' event, not for `closed`.
    await Promise.all(
      [...this.h2Sessions].map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) return resolve();
            session.once('close', () => resolve());
            if (!session.closed) session.close();
          }),
      ),
    );
  }

  closeAll(): void {
    for (const requests of this.requestServers) if ('closeAllConnections' in requests) requests.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
  }

  /** The TLS facts of a request's connection; none on plain HTTP. */
  protected tlsInfo(_req: IncomingMessage): TlsConnectionInfo | undefined {
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const raw = req.rawHeaders;
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const flat = [':method', method, ':path', url, ':authority', '', ':scheme', this.scheme];
    let hasBody = false;
    let hasHost = false;
    // Counted as uws-transport.ts counts it (name, value, ": " and CRLF), so both engines refuse alike.
    let headerBytes = method.length + url.length + 12;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      headerBytes += name.length + value.length + 4;
      if (name.charCodeAt(0) === 58 /* ':' */) {
        // HTTP/2 pseudo-headers: :method, :path and :scheme are read above; :authority is the Host.
        if (name === ':authority' && !hasHost) {
          flat[5] = value;
          hasHost = true;
        }
        continue;
      }
      if (name === 'host' && !hasHost) {
        flat[5] = value; // a second Host stays an entry, for the intake to refuse
        hasHost = true;
        continue;
      }
      if (name === 'content-length') hasBody = value !== '0';
      else if (name === 'transfer-encoding') hasBody = true;
      flat.push(name, value);
    }
    // HTTP/2 needs no length header: a request has a body unless its HEADERS frame ended the stream.
    if (req.httpVersionMajor === 2) hasBody = !(req as unknown as Http2ServerRequest).stream.endAfterHeaders;
    const client = new NodeClientResponse(req, res);
    if (headerBytes > this.listener.limits.maxRequestHeaderBytes) {
      answerHeadersTooLarge(client);
      return;
    }
    const tls = this.tlsInfo(req);
    const exchange = this.listener.accept(client, {
      method,
      flat,
      hasBody,
      info: {
        ...connectionFacts(req.socket),
        scheme: this.scheme,
        startTimeMs: Date.now(),
        ...(tls === undefined ? {} : { tls }),
      },
    });
    res.once('close', () => {
      if (!res.writableFinished) exchange.onClientAborted();
    });
    if (hasBody) {
      req.on('data', (chunk: Buffer) => exchange.onClientData(chunk, false));
      req.once('end', () => exchange.onClientData(EMPTY, true, req.rawTrailers));
    }
    exchange.start();
  }
}

/** The plain listener on node:http. */
export function httpTransport(host: string, port: number, listener: ProxyListener): NodeTransport {
  return new NodeTransport(host, port, listener, createHttpServer(NODE_SERVER_OPTIONS), 'http');
}
