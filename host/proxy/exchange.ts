// One client request and its upstream request: the proxy's per-request state machine.
//
//   client ─ uWS ─► Exchange ─► HttpStream (filters, request phases) ─► undici pool ─► upstream
//   client ◄ uWS ◄─ Exchange ◄─ HttpStream (filters, response phases) ◄─ undici handler
//
// The exchange is the StreamOwner of its HttpStream and the (legacy, raw-header) undici dispatch
// handler of its upstream request, so one object per request carries everything. Bodies stream
// with back-pressure both ways: a full upload pauses the client socket, a slow client pauses
// the upstream.

import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HttpResponse } from 'uWebSockets.js';
import { HeaderMap } from '../abi/header-map.js';
import type { Chain } from '../chain/chain.js';
import { HttpStream, type RequestInfo, type StreamOwner } from '../chain/http-stream.js';
import type { Endpoint } from './clusters.js';
import { isFraming, responseHeaderFlat, upstreamRequestHeaders } from './headers.js';
import type { ProxyContext } from './proxy-context.js';
import { classifyUpstreamError } from './upstream-errors.js';

const EMPTY = new Uint8Array(0);

/** Request body handed to undici; reading from it resumes the paused client socket. */
class UploadStream extends Readable {
  constructor(private readonly exchange: Exchange) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    this.exchange.resumeClient();
  }
}

export class Exchange implements StreamOwner, Dispatcher.DispatchHandler {
  readonly info: RequestInfo;
  readonly requestHeaders: HeaderMap;
  private readonly stream: HttpStream | undefined;
  private readonly method: string;
  private readonly hasBody: boolean;

  // client side
  private clientAborted = false;
  private clientPaused = false;
  private responseStarted = false;
  private responseEnded = false;
  private statusCode = 0;
  /** Body length the client was promised (content-length), or -1 to stream it chunked. */
  private responseLength = -1;
  private bytesSent = 0;
  private bytesReceived = 0;
  /** A response chunk uWS could not take yet, and the write offset it started at. */
  private pendingChunk: Uint8Array | undefined;
  private pendingOffset = 0;

  // upstream side
  private endpoint: Endpoint | undefined;
  private upload: UploadStream | undefined;
  private abortUpstream: ((reason?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private upstreamDone = false;
  private localResponse = false;
  private flags = '-';
  private upstreamLabel = '-';
  private clusterName = '-';

  constructor(
    private readonly res: HttpResponse,
    private readonly proxy: ProxyContext,
    chain: Chain,
    method: string,
    flat: string[],
    hasBody: boolean,
    info: RequestInfo,
  ) {
    this.method = method;
    this.hasBody = hasBody;
    this.info = info;
    this.requestHeaders = new HeaderMap(flat);
    this.stream = chain.slots.length === 0 ? undefined : new HttpStream(chain, this.requestHeaders, this, proxy.limits.maxBufferedBodyBytes);
    proxy.requestStarted();
  }

  /** Called synchronously from the uWS handler, after onAborted/onData are attached. */
  start(): void {
    if (this.stream === undefined) this.requestHeadersReady(!this.hasBody);
    else this.stream.start(!this.hasBody);
  }

  // ---- client events (uWS) ------------------------------------------------------------------

  onClientData(chunk: ArrayBuffer, isLast: boolean): void {
    // uWS reuses the chunk's memory once this callback returns: copy it.
    const data = new Uint8Array(chunk.slice(0));
    this.bytesReceived += data.length;
    if (this.stream !== undefined && (this.stream.inspectsRequestBody || this.upload === undefined)) {
      this.stream.pushRequestData(data, isLast);
      // Still in the request headers phase (a filter paused it): hold the client, not its bytes.
      if (this.upload === undefined && !isLast && !this.clientPaused && !this.localResponse) {
        this.clientPaused = true;
        this.res.pause();
      }
    } else {
      this.requestBodyReady(data, isLast);
    }
  }

  onClientAborted(): void {
    this.clientAborted = true;
    this.flags = this.flags === '-' ? 'DC' : this.flags;
    this.abortUpstream?.(new Error('client aborted'));
    this.upload?.destroy();
    this.complete();
  }

  resumeClient(): void {
    if (this.clientPaused && !this.clientAborted) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  // ---- StreamOwner: the chain's decisions ---------------------------------------------------

  requestHeadersReady(endOfStream: boolean): void {
    if (this.localResponse || this.clientAborted) return;
    const route = this.chooseEndpoint();
    if (route === undefined) return;
    this.endpoint = route;
    route.inFlight++;
    const headers = this.requestHeaders;
    const body = endOfStream ? null : (this.upload = new UploadStream(this));
    if (body !== null) this.resumeClient();
    const facts = { remoteAddress: this.info.remoteAddress, scheme: this.info.scheme };
    route.pool.dispatch(
      {
        method: headers.get(':method') ?? this.method,
        path: headers.get(':path') ?? '/',
        headers: upstreamRequestHeaders(headers.flat, facts),
        body,
      },
      this,
    );
  }

  requestBodyReady(data: Uint8Array, endOfStream: boolean): void {
    const upload = this.upload;
    if (upload === undefined || upload.destroyed) return;
    if (data.length > 0 && !upload.push(data) && !this.clientPaused && !endOfStream) {
      this.clientPaused = true;
      this.res.pause();
    }
    if (endOfStream) upload.push(null);
  }

  responseHeadersReady(endOfStream: boolean): void {
    if (this.clientAborted) return;
    const headers = this.stream?.responseHeaders ?? this.upstreamResponseHeaders!;
    this.writeResponseHead(headers, endOfStream);
  }

  responseBodyReady(data: Uint8Array, endOfStream: boolean): void {
    if (this.clientAborted || this.responseEnded) return;
    this.writeBody(data, endOfStream);
  }

  answeredLocally(): void {
    this.localResponse = true;
    this.upstreamLabel = '-';
    if (this.abortUpstream !== undefined && !this.upstreamDone) this.abortUpstream(new Error('answered by a filter'));
    this.upload?.destroy();
  }

  chainFailed(status: number, flag: string, reason: string): void {
    this.flags = flag;
    // Answer first: aborting undici from inside its own callback reports back through onError,
    // which must find the exchange already answered and not call it an upstream failure.
    this.respondWithError(status, reason);
    this.abortUpstream?.(new Error(reason));
    this.upload?.destroy();
  }

  resetByFilter(): void {
    this.flags = 'LR';
    if (!this.clientAborted && !this.responseEnded) {
      this.responseEnded = true;
      this.res.close();
    }
    this.abortUpstream?.(new Error('closed by a filter'));
    this.complete();
  }

  // ---- undici dispatch handler (legacy API: raw header arrays, no parsing we do not need) ---

  private upstreamResponseHeaders: HeaderMap | undefined;

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientAborted || this.localResponse) abort(new Error('request no longer wanted'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.resumeUpstream = resume;
    const map = new HeaderMap(responseHeaderFlat(statusCode, rawHeaders as Buffer[]));
    const endOfStream = this.method === 'HEAD' || statusCode === 204 || statusCode === 304 || map.get('content-length') === '0';
    if (this.stream === undefined) {
      this.upstreamResponseHeaders = map;
      this.responseHeadersReady(endOfStream);
    } else {
      this.stream.pushResponseHeaders(map, endOfStream);
    }
    return this.pendingChunk === undefined;
  }

  onData(chunk: Buffer): boolean {
    if (this.stream !== undefined) this.stream.pushResponseData(chunk, false);
    else this.responseBodyReady(chunk, false);
    // false pauses undici until onWritable calls resumeUpstream
    return this.pendingChunk === undefined;
  }

  onComplete(): void {
    this.upstreamDone = true;
    this.releaseEndpoint();
    if (this.stream !== undefined) this.stream.pushResponseData(EMPTY, true);
    else this.responseBodyReady(EMPTY, true);
  }

  onError(error: Error): void {
    this.upstreamDone = true;
    this.releaseEndpoint();
    // Aborted on purpose (client gone, answered locally, chain error): nothing more to say.
    if (this.clientAborted || this.localResponse || this.responseEnded) return;
    const { status, flag, reason } = classifyUpstreamError(error);
    this.flags = flag;
    if (this.responseStarted) {
      // Headers are out: the only honest signal left is to cut the connection.
      this.responseEnded = true;
      this.res.close();
      this.complete();
      return;
    }
    this.respondWithError(status, reason);
  }

  // ---- writing to the client ----------------------------------------------------------------

  private writeResponseHead(headers: HeaderMap, endOfStream: boolean): void {
    const status = Number(headers.get(':status') ?? 502);
    this.statusCode = status;
    this.responseStarted = true;
    const flat = headers.flat;
    let contentLength = -1;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`);
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i]!;
        if (name.charCodeAt(0) === 58 /* ':' */) continue;
        if (isFraming(name)) {
          if (name === 'content-length') contentLength = Number(flat[i + 1]);
          continue;
        }
        res.writeHeader(name, flat[i + 1]!);
      }
      if (this.proxy.draining) res.writeHeader('connection', 'close');
      if (endOfStream) {
        this.responseEnded = true;
        // HEAD keeps the length the upstream announced; 204/304 carry no length at all.
        if (this.method === 'HEAD' && contentLength >= 0) res.endWithoutBody(contentLength);
        else if (status === 204 || status === 304 || this.method === 'HEAD') res.endWithoutBody();
        else res.end();
      }
    });
    // The length the headers announce after the filters ran is the length the client is promised.
    // As in Envoy, a filter that changes a body's length removes content-length (then it goes chunked).
    if (contentLength >= 0) this.responseLength = contentLength;
    if (endOfStream) this.complete();
  }

  private writeBody(data: Uint8Array, endOfStream: boolean): void {
    const res = this.res;
    if (this.responseLength >= 0) {
      const remaining = this.responseLength - this.bytesSent;
      if (data.length > remaining) {
        // More bytes than content-length announced: send what was promised, cut the rest.
        this.flags = 'UPE';
        data = data.subarray(0, remaining);
      }
      if (data.length > 0 || endOfStream) {
        const offset = res.getWriteOffset();
        let ok = true;
        let done = false;
        res.cork(() => {
          [ok, done] = res.tryEnd(data, this.responseLength);
        });
        this.bytesSent += data.length;
        if (done) {
          this.responseEnded = true;
          this.complete();
        } else if (endOfStream && ok) {
          // The upstream sent fewer bytes than it announced: the client cannot be told otherwise.
          this.flags = 'UPE';
          this.responseEnded = true;
          res.close();
          this.complete();
        } else if (!ok) {
          this.waitWritable(data, offset);
        }
      }
      return;
    }
    res.cork(() => {
      if (data.length > 0 && !res.write(data)) this.waitWritable(undefined, 0);
      if (endOfStream) {
        this.responseEnded = true;
        res.end();
      }
    });
    this.bytesSent += data.length;
    if (endOfStream) this.complete();
  }

  /** Pauses the upstream until uWS drained what it buffered; resends the unsent tail of `chunk`. */
  private waitWritable(chunk: Uint8Array | undefined, offset: number): void {
    this.pendingChunk = chunk ?? EMPTY;
    this.pendingOffset = offset;
    this.res.onWritable((writeOffset) => {
      const pending = this.pendingChunk!;
      if (pending.length > 0 && this.responseLength >= 0) {
        const [ok, done] = this.res.tryEnd(pending.subarray(writeOffset - this.pendingOffset), this.responseLength);
        if (done) {
          this.pendingChunk = undefined;
          this.responseEnded = true;
          this.complete();
          return true;
        }
        if (!ok) return false;
      }
      this.pendingChunk = undefined;
      this.resumeUpstream?.();
      return true;
    });
  }

  private respondWithError(status: number, reason: string): void {
    if (this.clientAborted || this.responseEnded) return;
    if (this.responseStarted) {
      this.responseEnded = true;
      this.res.close();
      this.complete();
      return;
    }
    this.statusCode = status;
    this.responseStarted = true;
    this.responseEnded = true;
    const body = `${reason}\n`;
    this.bytesSent = body.length;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`);
      res.writeHeader('content-type', 'text/plain');
      if (this.proxy.draining) res.writeHeader('connection', 'close');
      if (this.method === 'HEAD') res.endWithoutBody(body.length);
      else res.end(body);
    });
    this.complete();
  }

  // ---- upstream selection ---------------------------------------------------------------------

  /** Applies what the filters decided (weft.upstream.cluster / weft.upstream.endpoint), else defaults. */
  private chooseEndpoint(): Endpoint | undefined {
    const clusterName = this.stream?.propertyText('weft.upstream.cluster') ?? this.proxy.defaultCluster;
    this.clusterName = clusterName ?? '-';
    const cluster = clusterName === undefined ? undefined : this.proxy.clusters.get(clusterName);
    if (cluster === undefined) {
      this.flags = 'NC';
      this.respondWithError(503, clusterName === undefined ? 'no cluster for this request' : `unknown cluster ${clusterName}`);
      return undefined;
    }
    const address = this.stream?.propertyText('weft.upstream.endpoint');
    const endpoint = address === undefined ? cluster.pick() : cluster.endpoint(address);
    if (endpoint === undefined) {
      this.flags = 'UH';
      this.respondWithError(503, `no healthy upstream in cluster ${cluster.name}`);
      return undefined;
    }
    this.upstreamLabel = endpoint.address;
    return endpoint;
  }

  private releaseEndpoint(): void {
    if (this.endpoint !== undefined) {
      this.endpoint.inFlight--;
      this.endpoint = undefined;
    }
  }

  private completed = false;

  /** The exchange is over: filters log, metrics and the access log line are written once. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    this.stream?.finish();
    this.proxy.requestFinished({
      method: this.method,
      path: this.requestHeaders.get(':path') ?? '',
      status: this.clientAborted && !this.responseStarted ? 0 : this.statusCode,
      startTimeMs: this.info.startTimeMs,
      cluster: this.clusterName,
      upstream: this.upstreamLabel,
      flags: this.stream?.failedFilter !== undefined && this.flags === '-' ? 'WF' : this.flags,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      requestId: this.requestHeaders.get('x-request-id'),
    });
  }
}
