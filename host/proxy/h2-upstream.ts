// HTTP/2 to one endpoint, on node:http2, for clusters of protocol h2 (TLS, ALPN h2) and h2c
// (prior knowledge). undici's HTTP/2 client runs a request whose body is a stream only when no
// other request is in flight on its connection (client-h2.js, busy()), and a gRPC call's body
// always streams: every call would take a connection of its own, and past the pool's
// connections a long-lived stream would wait for one to free. Here one connection carries up
// to the streams its peer allows, and another opens only when those are taken.
//
// It is an undici Dispatcher, taking the same dispatch() calls and handler callbacks as the
// HTTP/1.1 pools (upstream-attempt.ts, and http_call through Dispatcher.request()), so the
// exchange does not know which protocol an endpoint speaks. Connections are made by undici's
// connectors (upstream-tls.ts for TLS), which time connects out and name TLS refusals.

import { connect as connectHttp2, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Dispatcher } from 'undici';
import { connectEndpoint, type EndpointPoolOptions } from './endpoint-pool.js';
import { headerObject } from './headers.js';
import { handshakeRefusal } from './upstream-tls.js';

/** Streams opened on one connection at most: 100, the floor RFC 9113 recommends for SETTINGS_MAX_CONCURRENT_STREAMS. */
const STREAMS_PER_CONNECTION = 100;

interface Connection {
  session: ClientHttp2Session | undefined;
  /** Its socket once connected: a TLS upstream that refused the client certificate is known by it (handshakeRefusal). */
  socket: Socket | undefined;
  /** Streams open or waiting for the session. */
  streams: number;
  /** Dispatches waiting for the session to connect. */
  waiting: Array<(session: ClientHttp2Session | Error) => void>;
  /** GOAWAY received or closed: no new streams. */
  closing: boolean;
}

/** The connector offers h2 in ALPN on TLS; past maxConnections, streams share the least busy connection (the peer queues them). */
export type Http2UpstreamOptions = EndpointPoolOptions;

type Handler = Dispatcher.DispatchHandler;

export class Http2Upstream extends Dispatcher {
  private readonly connections: Connection[] = [];
  private closed = false;

  constructor(private readonly options: Http2UpstreamOptions) {
    super();
  }

  /** Requests waiting for a connection (the cluster guard's max_pending_requests counts them). */
  get stats(): { pending: number } {
    let pending = 0;
    for (const connection of this.connections) pending += connection.waiting.length;
    return { pending };
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    if (this.closed) {
      handler.onError?.(Object.assign(new Error('the endpoint was removed'), { code: 'UND_ERR_CLOSED' }));
      return true;
    }
    const connection = this.connectionWithRoom();
    connection.streams++;
    if (connection.session !== undefined) this.startStream(connection, connection.session, options, handler);
    else
      connection.waiting.push((session) => {
        if (session instanceof Error) {
          connection.streams--;
          handler.onError?.(session);
        } else this.startStream(connection, session, options, handler);
      });
    return true;
  }

  override async close(): Promise<void> {
    this.closed = true;
    // Streams in flight finish first, as undici's close waits for its requests.
    await Promise.all(this.connections.map((connection) => new Promise<void>((resolve) => (connection.session === undefined || connection.session.closed ? resolve() : connection.session.close(resolve)))));
  }

  override async destroy(): Promise<void> {
    this.closed = true;
    for (const connection of this.connections) connection.session?.destroy();
  }

  private connectionWithRoom(): Connection {
    let leastBusy: Connection | undefined;
    for (const connection of this.connections) {
      if (connection.closing) continue;
      const allowed = Math.min(STREAMS_PER_CONNECTION, connection.session?.remoteSettings.maxConcurrentStreams ?? STREAMS_PER_CONNECTION);
      if (connection.streams < allowed) return connection;
      if (leastBusy === undefined || connection.streams < leastBusy.streams) leastBusy = connection;
    }
    if (leastBusy !== undefined && this.connections.length >= this.options.maxConnections) return leastBusy;
    return this.open();
  }

  private open(): Connection {
    const connection: Connection = { session: undefined, socket: undefined, streams: 0, waiting: [], closing: false };
    this.connections.push(connection);
    const { host, port, tls } = this.options;
    const origin = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const forget = (): void => {
      connection.closing = true;
      const at = this.connections.indexOf(connection);
      if (at >= 0) this.connections.splice(at, 1);
    };
    const fail = (error: Error): void => {
      forget();
      for (const waiting of connection.waiting.splice(0)) waiting(error);
    };
    connectEndpoint(this.options, (error, socket) => {
      if (error !== null) return fail(error);
      if (tls && (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol !== 'h2') {
        socket!.destroy();
        // A 502 (flag UF) whose text says why: the cluster is misconfigured or the upstream is not what it claims.
        return fail(Object.assign(new Error(`it did not agree to HTTP/2 in the TLS handshake (ALPN: ${(socket as { alpnProtocol?: string | false }).alpnProtocol || 'none'}), which protocol h2 needs`), { code: 'WEFT_UPSTREAM_NO_H2' }));
      }
      const session = connectHttp2(origin, { createConnection: () => socket! });
      connection.socket = socket!;
      connection.session = session;
      session.on('error', () => {}); // each stream reports its own end; the session's error adds nothing
      session.on('goaway', forget);
      session.on('close', () => {
        forget();
        const closed = handshakeRefusal(socket!) ?? Object.assign(new Error('upstream closed the HTTP/2 connection'), { code: 'ECONNRESET' });
        for (const waiting of connection.waiting.splice(0)) waiting(closed);
      });
      session.setTimeout(this.options.idleTimeoutMs, () => {
        if (connection.streams === 0) session.close();
      });
      if (this.closed) session.close();
      for (const waiting of connection.waiting.splice(0)) waiting(session);
    });
    return connection;
  }

  private startStream(connection: Connection, session: ClientHttp2Session, options: Dispatcher.DispatchOptions, handler: Handler): void {
    let stream: ClientHttp2Stream | undefined;
    let ended = false;
    const end = (error: Error | undefined, trailers?: IncomingHttpHeaders): void => {
      if (ended) return;
      ended = true;
      if (error !== undefined) handler.onError?.(error);
      else handler.onComplete?.(trailers === undefined ? null : (flatHeaders(trailers) as unknown as string[]));
    };
    const abort = (reason?: Error): void => {
      if (ended) return;
      stream?.close(constants.NGHTTP2_CANCEL);
      end(reason ?? Object.assign(new Error('request aborted'), { code: 'UND_ERR_ABORTED' }));
    };
    handler.onConnect?.(abort);
    if (ended) {
      connection.streams--;
      return;
    }
    const body = options.body;
    const endStream = body === null || body === undefined || (typeof body !== 'string' && !(body instanceof Readable) && (body as Uint8Array).length === 0);
    try {
      stream = session.request(requestHeaders(options, this.options.tls), { endStream });
    } catch (error) {
      // A header node:http2 refuses (a name or value HTTP/2 does not allow): not sendable.
      connection.streams--;
      end(Object.assign(error as Error, { code: 'UND_ERR_INVALID_ARG' }));
      return;
    }
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (headers) => {
      if (ended) return;
      const resume = (): void => void stream!.resume();
      if (handler.onHeaders?.(Number(headers[':status']), flatHeaders(headers), resume, '') === false) stream!.pause();
    });
    stream.on('data', (chunk: Buffer) => {
      if (!ended && handler.onData?.(chunk) === false) stream!.pause();
    });
    stream.on('trailers', (received) => (trailers = received));
    let streamError: Error | undefined;
    // A stream whose connection went also ends, with a reset code: that is no clean end.
    stream.on('end', () => {
      const code = stream!.rstCode;
      if (code === undefined || code === constants.NGHTTP2_NO_ERROR) end(undefined, trailers);
      else end(closedError(connection, code, streamError));
    });
    stream.on('error', (error) => (streamError = error));
    stream.on('close', () => {
      connection.streams--;
      if (!ended) end(closedError(connection, stream!.rstCode, streamError));
    });
    if (endStream) return;
    if (body instanceof Readable) {
      body.on('error', (error) => abort(error));
      body.pipe(stream);
    } else stream.end(body as string | Uint8Array);
  }
}

/** The request's head for node:http2 from undici's flat [name, value, ...] array: Host becomes :authority. */
function requestHeaders(options: Dispatcher.DispatchOptions, tls: boolean): OutgoingHttpHeaders {
  const headers = headerObject(options.headers as string[], { ':method': options.method, ':path': options.path, ':scheme': tls ? 'https' : 'http' });
  // The intake lets one Host through; node:http2 sends it as :authority.
  const host = headers['host'];
  if (host !== undefined) {
    headers[':authority'] = host;
    delete headers['host'];
  }
  return headers;
}

/** node:http2's headers object as undici's raw [name, value, ...] Buffers, pseudo-headers left out. */
function flatHeaders(headers: IncomingHttpHeaders): Buffer[] {
  const raw: Buffer[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const value = headers[name];
    if (Array.isArray(value)) for (const one of value) raw.push(Buffer.from(name), Buffer.from(one));
    else if (value !== undefined) raw.push(Buffer.from(name), Buffer.from(String(value)));
  }
  return raw;
}

/**
 * Why a stream closed before its end: the TLS upstream refused the client certificate (it
 * closes after the handshake, TLS 1.3: 502 UF), else a reset (the upstream reset the stream, or
 * its connection went: UR).
 */
function closedError(connection: Connection, rstCode: number | undefined, cause: Error | undefined): Error {
  return (connection.socket === undefined ? undefined : handshakeRefusal(connection.socket)) ?? resetError(rstCode, cause);
}

/** A stream that closed before its end: the upstream reset it, or its connection went (classified as a reset, UR). */
function resetError(rstCode: number | undefined, cause: Error | undefined): Error {
  const why = cause?.message ?? `upstream reset the HTTP/2 stream (code ${rstCode ?? 'none'})`;
  return Object.assign(new Error(why), { code: 'ECONNRESET' });
}
