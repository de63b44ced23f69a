// The client side of an exchange, as the part of uWebSockets.js's HttpResponse the exchange uses.
// The uWS listener hands uWS's own object over (no wrapper on the hot path); the node listeners
// (node:http where no uWS binary loads, node:https for TLS, whose peer certificate uWS does not
// expose) adapt node's request/response pair to this shape with NodeClientResponse.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { headerObject } from './headers.js';

export interface ClientResponse {
  cork(write: () => void): unknown;
  writeStatus(status: string): unknown;
  writeHeader(name: string, value: string): unknown;
  /** Chunked body write; false = buffered beyond the socket, wait for onWritable. */
  write(chunk: Uint8Array): boolean;
  end(body?: string | Uint8Array, closeConnection?: boolean): unknown;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): unknown;
  /** Body write against a known total length: [accepted, finished]. */
  tryEnd(chunk: Uint8Array, totalSize: number): [boolean, boolean];
  getWriteOffset(): number;
  onWritable(handler: (offset: number) => boolean): unknown;
  /** Stop / restart reading the request body from the client. */
  pause(): void;
  resume(): void;
  /** Cut the connection (a response that cannot be completed honestly). */
  close(): unknown;
  /**
   * Trailers for a chunked response, written by the end() that follows. Absent on uWS, which
   * has no way to write them (README: Trailers).
   */
  writeTrailers?(flat: readonly string[]): void;
}

/** Headers that only describe an HTTP/1.1 connection. */
const H2_CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** The response headers node:http2 allows once only (its kSingleValueHeaders, lib/internal/http2/util.js). */
const H2_SINGLE_VALUE_HEADERS = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

export class NodeClientResponse implements ClientResponse {
  private status = 200;
  private statusMessage = '';
  private readonly headers: Record<string, string | string[]> = {};
  private headSent = false;
  private offset = 0;
  /** An HTTP/2 stream (node:http2's compatibility response): no reason phrase, no connection headers. */
  private readonly h2: boolean;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.h2 = req.httpVersionMajor === 2;
  }

  cork(write: () => void): void {
    write();
  }

  writeStatus(status: string): this {
    const space = status.indexOf(' ');
    this.status = Number(space < 0 ? status : status.slice(0, space));
    this.statusMessage = space < 0 ? '' : status.slice(space + 1);
    return this;
  }

  writeHeader(name: string, value: string): this {
    // HTTP/2 has no connection-specific headers (RFC 9113 8.2.2): the connection: close a
    // draining proxy adds, or one a filter set, is left out (node:http2 would throw on it).
    if (this.h2 && H2_CONNECTION_HEADERS.has(name)) return this;
    const existing = this.headers[name];
    if (existing === undefined) this.headers[name] = value;
    // node:http2 refuses a second value of these; the first stands.
    else if (this.h2 && H2_SINGLE_VALUE_HEADERS.has(name)) return this;
    else if (Array.isArray(existing)) existing.push(value);
    else this.headers[name] = [existing, value];
    return this;
  }

  write(chunk: Uint8Array): boolean {
    this.sendHead();
    this.offset += chunk.length;
    return this.res.write(chunk);
  }

  end(body?: string | Uint8Array, closeConnection?: boolean): this {
    if (closeConnection) this.res.shouldKeepAlive = false;
    if (!this.headSent && body !== undefined) this.headers['content-length'] = String(Buffer.byteLength(body));
    this.sendHead();
    this.res.end(body);
    return this;
  }

  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): this {
    if (closeConnection) this.res.shouldKeepAlive = false;
    if (reportedContentLength !== undefined) this.headers['content-length'] = String(reportedContentLength);
    this.sendHead();
    this.res.end();
    return this;
  }

  tryEnd(chunk: Uint8Array, totalSize: number): [boolean, boolean] {
    if (!this.headSent) this.headers['content-length'] = String(totalSize);
    this.sendHead();
    this.offset += chunk.length;
    // node buffers the whole chunk even when write() answers false, so nothing is ever left to resend.
    const accepted = this.res.write(chunk);
    const finished = this.offset >= totalSize;
    if (finished) this.res.end();
    return [accepted, finished];
  }

  getWriteOffset(): number {
    return this.offset;
  }

  onWritable(handler: (offset: number) => boolean): this {
    this.res.once('drain', () => {
      if (!handler(this.offset)) this.onWritable(handler);
    });
    return this;
  }

  writeTrailers(flat: readonly string[]): void {
    this.sendHead();
    if (this.h2) {
      // node:http2's compatibility response takes trailers as an object only.
      this.res.addTrailers(headerObject(flat));
      return;
    }
    const trailers: Array<[string, string]> = [];
    for (let i = 0; i < flat.length; i += 2) trailers.push([flat[i]!, flat[i + 1]!]);
    this.res.addTrailers(trailers);
  }

  pause(): void {
    this.req.pause();
  }

  resume(): void {
    this.req.resume();
  }

  close(): this {
    this.res.destroy();
    return this;
  }

  private sendHead(): void {
    if (this.headSent) return;
    this.headSent = true;
    if (this.h2) {
      // HTTP/2 has no reason phrase. The head is set, not written: node:http2 then sends it with
      // the first bytes, or, for a response without a body, as one HEADERS frame that ends the
      // stream, which gRPC's trailers-only replies must be (writeHead would send HEADERS, then
      // an empty DATA frame to end the stream, which gRPC clients read as a call with no status).
      this.res.statusCode = this.status;
      for (const name in this.headers) this.res.setHeader(name, this.headers[name]!);
      return;
    }
    this.res.writeHead(this.status, this.statusMessage, this.headers);
  }
}

/** The answer to a request whose line and headers pass limits.max_request_headers_kb, on every engine. */
export function answerHeadersTooLarge(res: ClientResponse): void {
  res.cork(() => {
    res.writeStatus('431 Request Header Fields Too Large');
    res.writeHeader('content-type', 'text/plain');
    res.end('request headers too large\n');
  });
}
