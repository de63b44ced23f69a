// HTTP/1.1 to one endpoint: a keep-alive pool of connections, one request at a time on each
// (no pipelining), for clusters of protocol http1, plain or TLS. It replaces undici's Pool on
// the proxy's hot path: a request is written as one string and its response read by
// h1-response-parser.ts straight from the socket's 'data' events, where undici builds a Request
// object, validates it field by field a second time, and parses with llhttp through a callback
// per header (bench/RESULTS.md, issue 21: ~3 µs of CPU per request on the bench machine).
//
// It is an undici Dispatcher, taking the same dispatch() calls and handler callbacks as
// h2-upstream.ts (upstream-attempt.ts, and http_call through Dispatcher.request()), so the
// exchange does not know which client an endpoint has. Connections are made by undici's
// connectors (upstream-tls.ts for TLS), which time connects out and name TLS refusals.

import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Dispatcher } from 'undici';
import { isToken, isValidFieldValue } from '../net/http-syntax.js';
import { connectEndpoint, type EndpointPoolOptions } from './endpoint-pool.js';
import { handshakeRefusal } from './upstream-tls.js';
import { ResponseParser, type RawFields, type ResponseEvents } from './h1-response-parser.js';

/** Past maxConnections requests wait for a free connection (stats.pending); idleTimeoutMs is cut short by the upstream's Keep-Alive hint. */
export interface Http1UpstreamOptions extends EndpointPoolOptions {
  /** For requests that give none (http_call's); the proxy's requests keep their own time (0). */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** A response head (or trailer section) larger than this is refused: undici's default, Node's maxHeaderSize. */
  maxHeadBytes: number;
}

type Handler = Dispatcher.DispatchHandler;
type DispatchOptions = Dispatcher.DispatchOptions;

/** An upstream's Keep-Alive hint is cut by this much, as undici does: reuse must not race the upstream's own close. */
const KEEP_ALIVE_MARGIN_MS = 2_000;
/** How often idle connections past their time are closed (reuse checks the time itself, exactly). */
const IDLE_SWEEP_MS = 1_000;

/** A request target may hold no space or control (undici's invalidPathRegex). */
const BAD_PATH = /[^\u0021-\u00ff]/;
/** Methods whose requests carry a body by definition: without one, they say content-length: 0 (as undici does). */
const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

function invalidArgument(message: string): Error {
  return Object.assign(new Error(message), { code: 'UND_ERR_INVALID_ARG' });
}

function socketError(message: string): Error {
  return Object.assign(new Error(message), { code: 'UND_ERR_SOCKET' });
}

interface Waiting {
  options: DispatchOptions;
  handler: Handler;
}

export class Http1Upstream extends Dispatcher {
  private readonly connections = new Set<Connection>();
  /** Connected and free, most recently used last. */
  private readonly idle: Connection[] = [];
  /** Requests waiting for a connection. */
  private readonly waiting: Waiting[] = [];
  private connecting = 0;
  private closed = false;
  private readonly closing: Array<() => void> = [];
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly options: Http1UpstreamOptions) {
    super();
    this.sweeper = setInterval(() => this.closeExpired(), IDLE_SWEEP_MS);
    this.sweeper.unref();
  }

  /** Requests waiting for a connection (the cluster guard's max_pending_requests counts them). */
  get stats(): { pending: number } {
    return { pending: this.waiting.length };
  }

  override dispatch(options: DispatchOptions, handler: Handler): boolean {
    if (this.closed) {
      handler.onError?.(Object.assign(new Error('the endpoint was removed'), { code: 'UND_ERR_CLOSED' }));
      return true;
    }
    const connection = this.takeIdle();
    if (connection !== undefined) connection.send(options, handler);
    else {
      this.waiting.push({ options, handler });
      this.openForWaiting();
    }
    return true;
  }

  /** Stops taking requests; those in flight and waiting finish first (as undici's close). */
  override close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      this.closing.push(resolve);
      this.closeIfDone();
    });
  }

  override async destroy(): Promise<void> {
    this.closed = true;
    for (const { handler } of this.waiting.splice(0)) handler.onError?.(Object.assign(new Error('the endpoint was destroyed'), { code: 'UND_ERR_DESTROYED' }));
    for (const connection of [...this.connections]) connection.destroy(socketError('the endpoint was destroyed'));
    this.closeIfDone();
  }

  /** A connection is free: it takes the next waiting request, or waits idle for one. */
  released(connection: Connection): void {
    const next = this.waiting.shift();
    if (next !== undefined) {
      connection.send(next.options, next.handler);
      return;
    }
    if (this.closed) {
      connection.destroy();
      return;
    }
    this.idle.push(connection);
  }

  /** A connection closed (by either side): forgotten, and a replacement opened for waiting requests. */
  lost(connection: Connection): void {
    this.connections.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    this.openForWaiting();
    this.closeIfDone();
  }

  private takeIdle(): Connection | undefined {
    const now = performance.now();
    for (let connection = this.idle.pop(); connection !== undefined; connection = this.idle.pop()) {
      if (connection.usableAt(now)) return connection;
      connection.destroy();
    }
    return undefined;
  }

  private closeExpired(): void {
    const now = performance.now();
    for (const connection of [...this.idle]) if (!connection.usableAt(now)) connection.destroy();
  }

  /** One connect per waiting request not yet covered by one, within maxConnections. */
  private openForWaiting(): void {
    if (this.waiting.length > this.connecting && this.connections.size + this.connecting < this.options.maxConnections) this.open();
  }

  private open(): void {
    this.connecting++;
    connectEndpoint(this.options, (error, socket) => {
      this.connecting--;
      if (error !== null) {
        // The oldest waiting request fails; the others get a connect of their own (or a free connection).
        this.waiting.shift()?.handler.onError?.(error);
        this.openForWaiting();
        this.closeIfDone();
        return;
      }
      const connection = new Connection(this, socket as Socket);
      this.connections.add(connection);
      this.released(connection);
    });
  }

  private closeIfDone(): void {
    if (!this.closed || this.waiting.length > 0 || this.connecting > 0) return;
    for (const connection of [...this.idle]) connection.destroy();
    if (this.connections.size > 0) return;
    clearInterval(this.sweeper);
    for (const resolve of this.closing.splice(0)) resolve();
  }
}

/** Where a connection is with its request. */
const enum Phase {
  /** In the pool's idle list, or between requests. */
  Free,
  /** A request is on it and its response not complete. */
  Busy,
  /** The response is complete; settle() reuses or drops the connection once the parser has returned. */
  Answered,
}

/** One connection and the request on it, if any. */
class Connection implements ResponseEvents {
  private readonly parser: ResponseParser;
  private phase = Phase.Free;
  private handler: Handler | undefined;
  /** Something of the current request went out: aborting it now takes the connection with it. */
  private written = false;
  /** The whole request went out (its body too): only then may the connection be reused. */
  private requestSent = false;
  private body: Readable | undefined;
  private timer: NodeJS.Timeout | undefined;
  private bodyTimeoutMs = 0;
  /** When it became idle (performance.now(); a new connection is idle from its start), and how long it may stay so. */
  private idleSince = performance.now();
  private idleLimitMs: number;
  private dead = false;
  private socketError: Error | undefined;

  constructor(
    private readonly pool: Http1Upstream,
    private readonly socket: Socket,
  ) {
    this.parser = new ResponseParser(this, pool.options.maxHeadBytes);
    this.idleLimitMs = pool.options.idleTimeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    // 'close' follows, and tells the request what ended the connection: a refused TLS handshake
    // (upstream-tls.ts), else the socket's last error.
    socket.on('error', (error) => (this.socketError = error));
    socket.on('close', () => this.closed());
    socket.on('drain', () => this.body?.resume());
  }

  usableAt(now: number): boolean {
    return !this.dead && now - this.idleSince < this.idleLimitMs;
  }

  send(options: DispatchOptions, handler: Handler): void {
    this.phase = Phase.Busy;
    this.handler = handler;
    this.written = false;
    this.requestSent = false;
    handler.onConnect?.((reason) => this.abort(handler, reason));
    if (this.handler !== handler) return; // aborted in onConnect (before anything was written)
    let head: string;
    try {
      head = requestHead(options);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.parser.expect(options.method);
    const headersTimeout = options.headersTimeout ?? this.pool.options.headersTimeoutMs;
    this.bodyTimeoutMs = options.bodyTimeout ?? this.pool.options.bodyTimeoutMs;
    this.restartTimer(headersTimeout, 'headers');
    this.written = true;
    const body = options.body;
    const headers = options.headers as string[];
    if (body === null || body === undefined) {
      const framing = EXPECTS_BODY.has(options.method) && !hasHeader(headers, 'content-length') ? 'content-length: 0\r\n' : '';
      writeThisTurn(this.socket, `${head}${framing}\r\n`);
      this.requestSent = true;
    } else if (body instanceof Readable) {
      this.sendStream(head, body, hasHeader(headers, 'content-length'));
    } else {
      const bytes = typeof body === 'string' ? Buffer.from(body) : (body as Uint8Array);
      const framing = hasHeader(headers, 'content-length') ? '' : `content-length: ${bytes.length}\r\n`;
      this.socket.cork();
      this.socket.write(`${head}${framing}\r\n`, 'latin1');
      this.socket.write(bytes);
      this.socket.uncork();
      this.requestSent = true;
    }
  }

  /** A streamed body: as it is under a Content-Length, else chunked; paced by the socket's buffer. */
  private sendStream(head: string, body: Readable, sized: boolean): void {
    this.body = body;
    this.socket.write(sized ? `${head}\r\n` : `${head}transfer-encoding: chunked\r\n\r\n`, 'latin1');
    body.on('data', (chunk: Buffer) => {
      if (this.body !== body || chunk.length === 0) return;
      const more = sized ? this.socket.write(chunk) : this.writeChunk(chunk);
      if (!more) body.pause();
    });
    body.on('end', () => {
      if (this.body !== body) return;
      this.body = undefined;
      if (!sized) this.socket.write('0\r\n\r\n', 'latin1');
      this.requestSent = true;
    });
    body.on('error', (error) => {
      if (this.body === body && this.handler !== undefined) this.abort(this.handler, error);
    });
  }

  private writeChunk(chunk: Buffer): boolean {
    this.socket.cork();
    this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    this.socket.write(chunk);
    const more = this.socket.write('\r\n', 'latin1');
    this.socket.uncork();
    return more;
  }

  // ---- the response (ResponseEvents, called from inside the parser) ---------------------------

  onHead(status: number, rawHeaders: RawFields): void {
    this.restartTimer(this.bodyTimeoutMs, 'body');
    const resume = (): void => this.resume();
    // undici's handlers type raw headers as Buffers; strings serve them alike (see parseFields).
    if (this.handler?.onHeaders?.(status, rawHeaders as Buffer[], resume, '') === false) this.pause();
  }

  onBody(chunk: Buffer): boolean {
    this.timer?.refresh();
    const more = this.handler?.onData?.(chunk) !== false;
    if (!more) this.pause();
    return more;
  }

  onComplete(trailers: RawFields): void {
    this.stopTimer();
    const handler = this.handler;
    this.handler = undefined;
    this.phase = Phase.Answered;
    handler?.onComplete?.(trailers as unknown as string[]);
  }

  /**
   * After the parser returned: a complete response frees the connection for the next request,
   * unless the connection cannot carry one (the upstream closes it, or the request body is
   * still going out: an answer that came first ends the connection, not the upload).
   */
  private settle(): void {
    if (this.phase !== Phase.Answered) return;
    this.phase = Phase.Free;
    this.body = undefined;
    if (this.dead || !this.requestSent || !this.parser.keepAlive) {
      this.destroy();
      return;
    }
    const hint = this.parser.keepAliveHintMs;
    const idleTimeoutMs = this.pool.options.idleTimeoutMs;
    this.idleLimitMs = hint > 0 ? Math.min(idleTimeoutMs, hint - KEEP_ALIVE_MARGIN_MS) : idleTimeoutMs;
    if (this.idleLimitMs <= 0) {
      this.destroy();
      return;
    }
    this.idleSince = performance.now();
    this.pool.released(this);
  }

  private received(chunk: Buffer): void {
    if (this.phase !== Phase.Busy) {
      // Bytes nobody asked for (or after an abort): the connection's state is unknown now.
      this.destroy();
      return;
    }
    try {
      this.parser.execute(chunk);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.settle();
  }

  private pause(): void {
    this.stopTimer();
    this.socket.pause();
  }

  private resume(): void {
    if (this.phase !== Phase.Busy) return;
    if (this.bodyTimeoutMs > 0 && this.timer === undefined) this.restartTimer(this.bodyTimeoutMs, 'body');
    try {
      this.parser.resume();
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.settle();
    // Reading goes on for the rest of this response, or for the next request's on this connection.
    if (!this.parser.isPaused && !this.dead) this.socket.resume();
  }

  private closed(): void {
    this.dead = true;
    this.stopTimer();
    if (this.phase === Phase.Busy && this.written) {
      // A body read until the connection closes ends here; anything else was cut short.
      let complete = false;
      try {
        complete = this.parser.close();
      } catch (error) {
        this.fail(error as Error);
      }
      if (!complete) this.fail(handshakeRefusal(this.socket) ?? this.socketError ?? socketError('other side closed'));
    }
    this.settle();
    this.pool.lost(this);
  }

  private timedOut(phase: 'headers' | 'body'): void {
    this.timer = undefined;
    const code = phase === 'headers' ? 'UND_ERR_HEADERS_TIMEOUT' : 'UND_ERR_BODY_TIMEOUT';
    this.fail(Object.assign(new Error(phase === 'headers' ? 'headers timeout' : 'body timeout'), { code }));
  }

  private restartTimer(ms: number, phase: 'headers' | 'body'): void {
    this.stopTimer();
    if (ms > 0) this.timer = setTimeout(() => this.timedOut(phase), ms);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The request ends with `error`. Once something of it went out the connection cannot be
   * trusted and goes with it; before that (a refused header, an abort in onConnect) it is free.
   */
  private fail(error: Error): void {
    const handler = this.handler;
    if (handler === undefined) return;
    this.handler = undefined;
    this.stopTimer();
    this.body = undefined;
    this.phase = Phase.Free;
    if (this.written) this.destroy();
    handler.onError?.(error);
    if (!this.written && !this.dead) this.pool.released(this);
  }

  private abort(handler: Handler, reason: Error | undefined): void {
    if (this.handler !== handler) return;
    this.fail(reason ?? Object.assign(new Error('request aborted'), { code: 'UND_ERR_ABORTED' }));
  }

  /** Closes the connection; a request on it ends with `error` (the pool's destroy()). */
  destroy(error?: Error): void {
    this.dead = true;
    this.body = undefined;
    this.stopTimer();
    this.socket.destroy();
    if (error !== undefined) this.fail(error);
  }
}

/** Whether the flat [name, value, ...] array has a header of this (lowercase) name. */
function hasHeader(flat: readonly string[] | null | undefined, name: string): boolean {
  if (flat === null || flat === undefined) return false;
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.length === name.length && flat[i]!.toLowerCase() === name) return true;
  return false;
}

/** The request line and header lines (without the final CRLF); throws UND_ERR_INVALID_ARG for what cannot be sent. */
function requestHead(options: DispatchOptions): string {
  const { method, path } = options;
  if (!isToken(method)) throw invalidArgument(`invalid request method ${JSON.stringify(method)}`);
  if (path.charCodeAt(0) !== 0x2f /* '/' */ && path !== '*') throw invalidArgument('path must start with a slash');
  if (BAD_PATH.test(path)) throw invalidArgument('invalid request path');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  const flat = (options.headers ?? []) as string[];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    if (!isToken(name)) throw invalidArgument(`invalid header name ${JSON.stringify(name)}`);
    if (!isValidFieldValue(value)) throw invalidArgument(`invalid ${name} header`);
    head += `${name}: ${value}\r\n`;
  }
  // HTTP/1.0 upstreams close unless asked; HTTP/1.1 ones keep the connection anyway.
  return `${head}connection: keep-alive\r\n`;
}

/**
 * Body-less requests (most of them) go out together once per turn of the event loop, after
 * everything the turn read, instead of one by one as each is proxied: an upstream woken once
 * for a batch of requests costs it, and the kernel, less than woken for each (as undici's
 * client, which writes in a setImmediate). Measured in bench/RESULTS.md (issue 21): the
 * quickstart chain ~10 % less CPU per request. The order on a socket is kept: a connection
 * carries one request at a time, and requests with a body write their head at once.
 */
let pendingWrites: Array<Socket | string> = [];

function writeThisTurn(socket: Socket, text: string): void {
  if (pendingWrites.length === 0) setImmediate(flushWrites);
  pendingWrites.push(socket, text);
}

function flushWrites(): void {
  const writes = pendingWrites;
  pendingWrites = [];
  for (let i = 0; i < writes.length; i += 2) {
    const socket = writes[i] as Socket;
    // A request aborted meanwhile took its connection with it.
    if (!socket.destroyed) socket.write(writes[i + 1] as string, 'latin1');
  }
}
