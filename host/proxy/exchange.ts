// One client request and its upstream request: the proxy's per-request state machine.
//
//   client ─ uWS ─► Exchange ─► HttpStream (filters, request phases) ─► endpoint pool ─► upstream
//   client ◄ uWS ◄─ Exchange ◄─ HttpStream (filters, response phases) ◄─ UpstreamAttempt
//
// The exchange is the StreamOwner of its HttpStream and the owner of its upstream attempts (one,
// or more when the route retries). Bodies stream with back-pressure both ways: a full upload
// pauses the client socket, a slow client pauses the upstream.

import { HeaderMap } from '../abi/header-map.js';
import type { Chain } from '../chain/chain.js';
import { grpcReplyHeaders, grpcTimeoutMs, hostErrorGrpcStatus, isGrpc, percentEncode } from '../chain/grpc-reply.js';
import { HttpStream, type RequestInfo, type StreamOwner } from '../chain/http-stream.js';
import type { Admission, OverloadRefusal } from '../overload/cluster-guard.js';
import type { ClientResponse } from './client-response.js';
import type { Cluster, Endpoint } from './clusters.js';
import { isFraming, responseHeaderFlat, statusLine, trailerFlat, upstreamRequestHeaders } from './headers.js';
import type { AttemptTrace, FinishedRequest, ProxyContext, RequestTrace } from './proxy-context.js';
import type { Refusal } from './request-intake.js';
import { retriesFailure, retriesGrpcStatus, retriesStatus, routePolicy, type RoutePolicy } from './route-policy.js';
import { UploadStream, UpstreamAttempt, UpstreamTimeoutError, type AttemptOwner } from './upstream-attempt.js';
import { classifyUpstreamError } from './upstream-errors.js';

const EMPTY = new Uint8Array(0);

export class Exchange implements StreamOwner, AttemptOwner {
  readonly info: RequestInfo;
  readonly requestHeaders: HeaderMap;
  private readonly stream: HttpStream | undefined;
  private readonly method: string;
  private readonly hasBody: boolean;
  /** A gRPC call (content-type application/grpc…): errors answer as gRPC statuses, and its grpc-status is logged. */
  private readonly grpc: boolean;
  private grpcStatus: number | undefined;
  /** The call's whole deadline, from its grpc-timeout header; undefined without one. */
  private grpcDeadline: NodeJS.Timeout | undefined;

  // client side
  private clientAborted = false;
  private clientPaused = false;
  private responseStarted = false;
  private responseEnded = false;
  private statusCode = 0;
  /** Body length the client was promised (content-length), or -1 to stream it chunked. */
  private responseLength = -1;
  bytesSent = 0;
  bytesReceived = 0;
  /** A response chunk uWS could not take yet, and the write offset it started at. */
  private pendingChunk: Uint8Array | undefined;
  private pendingOffset = 0;

  // upstream side
  private cluster: Cluster | undefined;
  private policy: Readonly<RoutePolicy> | undefined;
  private attempt: UpstreamAttempt | undefined;
  private attemptsMade = 0;
  /** When the route's (or cluster's) timeout runs out, in Date.now() ms; 0 until the first attempt's clock starts, or with no timeout. */
  private deadlineMs = 0;
  /** Request body kept while a retry may still need to send it again (bounded). */
  private replay: Uint8Array[] | undefined;
  private replayBytes = 0;
  private requestComplete = false;
  private upstreamResponseHeaders: HeaderMap | undefined;
  /** A response head waiting to leave together with the first body bytes (see writeResponseHead). */
  private pendingHead: HeaderMap | undefined;
  private localResponse = false;
  private flags = '-';
  /** The text of an error the host answered itself (respondWithError), for the access log. */
  private errorReason: string | undefined;
  private upstreamLabel = '-';
  private clusterName = '-';
  /** The cluster guard's admission (host/overload), given back when the exchange completes. */
  private admission: Admission | undefined;
  private admittedMs = 0;
  /** Set when the overload manager sheds this request: it never reaches the filters. */
  private readonly shed: OverloadRefusal | undefined;
  /** Spans of this request and of its current attempt; undefined when tracing is off. */
  private readonly trace: RequestTrace | undefined;
  private attemptTrace: AttemptTrace | undefined;

  /**
   * `chain` is undefined when the host refuses the request before any filter (`refusal`
   * says why: request-intake.ts).
   */
  constructor(
    private readonly res: ClientResponse,
    private readonly proxy: ProxyContext,
    chain: Chain | undefined,
    method: string,
    flat: string[],
    hasBody: boolean,
    info: RequestInfo,
    private readonly refusal?: Refusal,
  ) {
    this.method = method;
    this.hasBody = hasBody;
    this.info = info;
    this.requestHeaders = new HeaderMap(flat);
    this.grpc = isGrpc(this.requestHeaders.get('content-type'));
    this.shed = refusal === undefined ? proxy.overload?.shed() : undefined;
    this.stream = chain === undefined || chain.slots.length === 0 || this.shed !== undefined ? undefined : new HttpStream(chain, this.requestHeaders, this, proxy.limits.maxBufferedBodyBytes);
    this.trace = proxy.tracer?.startRequest(this.requestHeaders, info);
    proxy.requestStarted();
  }

  /** Called synchronously from the uWS handler, after onAborted/onData are attached. */
  start(): void {
    if (this.refusal !== undefined) {
      // Downstream protocol error: the connection is closed after the answer, as its framing is in doubt.
      this.flags = 'DPE';
      this.respondWithError(this.refusal.status, this.refusal.reason, true);
      return;
    }
    if (this.shed !== undefined) this.refuse(this.shed);
    else if (this.stream === undefined) this.requestHeadersReady(!this.hasBody);
    else this.stream.start(!this.hasBody);
  }

  // ---- client events (uWS) ------------------------------------------------------------------

  /**
   * Request body bytes from the client; the transport hands over memory the exchange may keep.
   * With the last bytes come the request's trailers where the transport reads them (node's
   * listeners: name, value, ...; uWS does not expose them).
   */
  onClientData(data: Uint8Array, isLast: boolean, trailers?: readonly string[]): void {
    if (isLast && trailers !== undefined && trailers.length > 0 && this.stream !== undefined) {
      // The trailers end the request: the last bytes go on without an end of stream.
      if (data.length > 0) this.onClientData(data, false);
      this.stream.pushRequestTrailers(new HeaderMap(trailerFlat(trailers)));
      return;
    }
    this.bytesReceived += data.length;
    if (this.stream !== undefined && (this.stream.inspectsRequestBody || this.policy === undefined)) {
      this.stream.pushRequestData(data, isLast);
      // Still in the request headers phase (a filter paused it): hold the client, not its bytes.
      if (this.policy === undefined && !isLast && !this.clientPaused && !this.localResponse) {
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
    this.abandonAttempt('client aborted');
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
    const endpoint = this.chooseEndpoint();
    if (endpoint === undefined || !this.admitted()) return;
    const policy = (this.policy = routePolicy(this.stream, this.cluster!.timeoutMs));
    if (this.grpc) this.startGrpcDeadline();
    this.requestComplete = endOfStream;
    if (policy.retries > 0 && !endOfStream) this.replay = [];
    this.sendAttempt(endpoint);
  }

  requestBodyReady(data: Uint8Array, endOfStream: boolean): void {
    // A filter ended the request with its headers (ContinueAndEndStream): the client's body is dropped.
    if (this.requestComplete && this.policy !== undefined) return;
    if (endOfStream) this.requestComplete = true;
    if (this.replay !== undefined && data.length > 0) {
      this.replayBytes += data.length;
      // Past the bound the body cannot be sent again: this request gets no retry.
      if (this.replayBytes > this.proxy.limits.maxBufferedBodyBytes) this.replay = undefined;
      else this.replay.push(data);
    }
    const attempt = this.attempt;
    if (endOfStream && attempt !== undefined) this.startTimer(attempt);
    const upload = attempt?.upload;
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

  /** Request trailers are not sent upstream (h1-upstream.ts ends a body with none): the filters saw them; the upstream gets the body's end. */
  requestTrailersReady(): void {
    this.requestBodyReady(EMPTY, true);
  }

  responseTrailersReady(trailers: HeaderMap): void {
    if (this.clientAborted || this.responseEnded) return;
    if (this.grpc) this.noteGrpcStatus(trailers.get('grpc-status'));
    this.writeBody(EMPTY, true, trailers);
  }

  answeredLocally(): void {
    this.localResponse = true;
    this.upstreamLabel = '-';
    this.abandonAttempt('answered by a filter');
  }

  chainFailed(status: number, flag: string, reason: string): void {
    this.flags = flag;
    this.abandonAttempt(reason);
    this.respondWithError(status, reason);
  }

  resetByFilter(): void {
    this.flags = 'LR';
    this.abandonAttempt('closed by a filter');
    if (!this.clientAborted && !this.responseEnded) {
      this.responseEnded = true;
      this.res.close();
    }
    this.complete();
  }

  // ---- upstream attempts --------------------------------------------------------------------

  private sendAttempt(endpoint: Endpoint): void {
    const headers = this.requestHeaders;
    const upload = this.hasBody ? new UploadStream(() => this.resumeClient()) : undefined;
    const attempt = (this.attempt = new UpstreamAttempt(this, endpoint, performance.now(), upload));
    this.attemptsMade++;
    this.upstreamLabel = endpoint.address;
    this.stream?.setUpstreamAddress(endpoint.address);
    if (upload !== undefined) {
      // A retry sends again what the first attempt already sent.
      if (this.attemptsMade > 1) for (const chunk of this.replay!) upload.push(chunk);
      if (this.requestComplete) upload.push(null);
      // The rest of the body flows now; when a filter ended the request early it is read and dropped.
      this.resumeClient();
    }
    const upstreamHeaders = upstreamRequestHeaders(headers.flat, this.info);
    this.attemptTrace = this.trace?.startAttempt(endpoint.address, this.attemptsMade, upstreamHeaders);
    endpoint.pool.dispatch(
      {
        method: headers.get(':method') ?? this.method,
        path: headers.get(':path') ?? '/',
        headers: upstreamHeaders,
        body: upload ?? null,
        // The attempt keeps the time (startTimer); the pool's own timeouts are for http_call.
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      attempt,
    );
    if (this.requestComplete) this.startTimer(attempt);
  }

  /**
   * Starts an attempt's clock once the whole request is on its way (as Envoy starts the route
   * timeout): the response head is due by the request's deadline, or sooner by the per-try
   * timeout; body chunks may then be at most the per-try (else the route's) timeout apart.
   */
  private startTimer(attempt: UpstreamAttempt): void {
    const { timeoutMs, perTryTimeoutMs } = this.policy!;
    const now = Date.now();
    if (timeoutMs > 0 && this.deadlineMs === 0) this.deadlineMs = now + timeoutMs;
    const untilDeadline = this.deadlineMs === 0 ? 0 : Math.max(1, this.deadlineMs - now);
    const perTry = perTryTimeoutMs > 0 && (untilDeadline === 0 || perTryTimeoutMs < untilDeadline);
    attempt.startTimer(perTry ? perTryTimeoutMs : untilDeadline, perTry, perTryTimeoutMs > 0 ? perTryTimeoutMs : timeoutMs);
  }

  /**
   * grpc-timeout bounds the whole call, streams included, from the moment it is sent upstream
   * (the route timeout bounds the wait for each answer): past it the call ends
   * DEADLINE_EXCEEDED, as trailers-only before the response head, in trailers after it.
   */
  private startGrpcDeadline(): void {
    const ms = grpcTimeoutMs(this.requestHeaders.get('grpc-timeout'));
    if (ms === undefined || this.grpcDeadline !== undefined) return;
    this.grpcDeadline = setTimeout(() => {
      this.grpcDeadline = undefined;
      if (this.completed) return;
      this.abandonAttempt('grpc-timeout passed');
      this.flags = 'UT';
      this.respondWithError(504, 'grpc-timeout passed');
    }, ms);
  }

  /** Whether a failed attempt may be tried again: policy, attempts left, a body we can resend, time left. */
  private mayRetry(): boolean {
    const policy = this.policy;
    if (policy === undefined || this.attemptsMade > policy.retries || this.clientAborted || this.responseStarted) return false;
    if (this.hasBody && (!this.requestComplete || this.replay === undefined)) return false;
    return this.deadlineMs === 0 || Date.now() < this.deadlineMs;
  }

  private retry(failed: UpstreamAttempt): void {
    this.abandonAttempt('retrying');
    const next = this.cluster!.pick(failed.endpoint) ?? failed.endpoint;
    this.sendAttempt(next);
  }

  private abandonAttempt(reason: string): void {
    const attempt = this.attempt;
    this.attempt = undefined;
    attempt?.abort(new Error(reason));
    this.endAttemptTrace(reason);
  }

  private endAttemptTrace(failure?: string): void {
    this.attemptTrace?.end(failure);
    this.attemptTrace = undefined;
  }

  attemptHeaders(attempt: UpstreamAttempt, statusCode: number, rawHeaders: Buffer[]): boolean {
    if (attempt !== this.attempt) return false;
    this.attemptTrace?.responded(statusCode);
    if (statusCode === 502 || statusCode === 503 || statusCode === 504) attempt.endpoint.recordGatewayFailure(Date.now());
    // performance.now(): Date.now() counts whole ms, so a loopback answer measured 0 and left the endpoint unmeasured.
    else attempt.endpoint.recordResponse(performance.now() - attempt.startMs);
    if (retriesStatus(this.policy!, statusCode) || (this.grpc && this.policy!.retryGrpcStatuses !== 0 && retriesGrpcStatus(this.policy!, trailersOnlyGrpcStatus(rawHeaders)))) {
      if (this.mayRetry()) {
        this.retry(attempt);
        return false;
      }
      // The last attempt's failure goes to the client as it is, marked as retries exhausted.
      if (this.attemptsMade > 1) this.flags = 'URX';
    }
    const map = new HeaderMap(responseHeaderFlat(statusCode, rawHeaders));
    const endOfStream = this.method === 'HEAD' || statusCode === 204 || statusCode === 304 || map.get('content-length') === '0';
    if (this.stream === undefined) {
      this.upstreamResponseHeaders = map;
      this.responseHeadersReady(endOfStream);
    } else {
      this.stream.pushResponseHeaders(map, endOfStream);
    }
    return this.pendingChunk === undefined;
  }

  attemptData(attempt: UpstreamAttempt, chunk: Buffer): boolean {
    if (attempt !== this.attempt) return false;
    if (this.stream !== undefined) this.stream.pushResponseData(chunk, false);
    else this.responseBodyReady(chunk, false);
    // false pauses the pool's reading until onWritable resumes the attempt
    return this.pendingChunk === undefined;
  }

  attemptComplete(attempt: UpstreamAttempt, rawTrailers: ReadonlyArray<Buffer | string>): void {
    if (attempt !== this.attempt) return;
    this.endAttemptTrace();
    const trailers = rawTrailers.length === 0 ? undefined : new HeaderMap(trailerFlat(rawTrailers));
    if (this.stream !== undefined) {
      if (trailers === undefined) this.stream.pushResponseData(EMPTY, true);
      else this.stream.pushResponseTrailers(trailers);
    } else if (trailers === undefined) this.responseBodyReady(EMPTY, true);
    else this.responseTrailersReady(trailers);
  }

  attemptError(attempt: UpstreamAttempt, error: Error): void {
    // Abandoned on purpose (client gone, answered locally, chain error, retried): nothing to say.
    if (attempt !== this.attempt || this.clientAborted || this.localResponse || this.responseEnded) return;
    const failure = classifyUpstreamError(error);
    this.endAttemptTrace(failure.flag);
    if (failure.unsendable !== true) attempt.endpoint.recordGatewayFailure(Date.now());
    const finalTimeout = error instanceof UpstreamTimeoutError && !error.retriable;
    if (failure.unsendable !== true && !finalTimeout && retriesFailure(this.policy!, failure.flag) && this.mayRetry()) {
      this.retry(attempt);
      return;
    }
    this.flags = this.attemptsMade > 1 ? 'URX' : failure.flag;
    this.respondWithError(failure.status, failure.reason);
  }

  // ---- writing to the client ----------------------------------------------------------------

  /**
   * Takes the response head. With a body to follow, the head waits for the first body bytes so
   * that head and body leave in one write (one syscall for a small response instead of two); a
   * microtask sends it alone when the body does not come in the same turn (a streaming upstream).
   */
  private writeResponseHead(headers: HeaderMap, endOfStream: boolean): void {
    const status = Number(headers.get(':status') ?? 502);
    this.statusCode = status;
    this.responseStarted = true;
    if (this.grpc) this.noteGrpcStatus(headers.get('grpc-status')); // a trailers-only response
    const contentLength = headers.get('content-length');
    // The length the headers announce after the filters ran is the length the client is promised.
    // As in Envoy, a filter that changes a body's length removes content-length (then it goes chunked).
    if (contentLength !== undefined) this.responseLength = Number(contentLength);
    if (!endOfStream) {
      this.pendingHead = headers;
      queueMicrotask(() => this.flushHead());
      return;
    }
    this.responseEnded = true;
    const res = this.res;
    res.cork(() => {
      this.writeHead(headers);
      // HEAD keeps the length the upstream announced; 204/304 carry no length at all.
      if (this.method === 'HEAD' && this.responseLength >= 0) res.endWithoutBody(this.responseLength);
      else if (status === 204 || status === 304 || this.method === 'HEAD') res.endWithoutBody();
      else res.end();
    });
    this.complete();
  }

  private flushHead(): void {
    const headers = this.pendingHead;
    if (headers === undefined || this.clientAborted || this.responseEnded) return;
    this.res.cork(() => this.writeHead(headers));
  }

  /** Status line and headers, inside a cork; framing headers are uWS's to write. */
  private writeHead(headers: HeaderMap): void {
    this.pendingHead = undefined;
    const res = this.res;
    const status = this.statusCode;
    const flat = headers.flat;
    res.writeStatus(statusLine(status));
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      if (name.charCodeAt(0) === 58 /* ':' */ || isFraming(name)) continue;
      res.writeHeader(name, flat[i + 1]!);
    }
    if (this.proxy.draining) res.writeHeader('connection', 'close');
  }

  private writeBody(data: Uint8Array, endOfStream: boolean, trailers?: HeaderMap): void {
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
          if (this.pendingHead !== undefined) this.writeHead(this.pendingHead);
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
      if (this.pendingHead !== undefined) this.writeHead(this.pendingHead);
      if (data.length > 0 && !res.write(data)) this.waitWritable(undefined, 0);
      if (endOfStream) {
        this.responseEnded = true;
        // HTTP/1.1 carries trailers only on a chunked body, which this one is.
        if (trailers !== undefined) res.writeTrailers?.(trailers.flat);
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
      this.attempt?.resume();
      return true;
    });
  }

  private respondWithError(status: number, reason: string, closeConnection = false, retryAfterS = 0): void {
    if (this.clientAborted || this.responseEnded) return;
    this.errorReason = reason;
    if (this.responseStarted && this.pendingHead === undefined) {
      this.responseEnded = true;
      const res = this.res;
      if (this.grpc && this.responseLength < 0 && res.writeTrailers !== undefined) {
        // A gRPC response ends in trailers: the call ends with the error's status after the
        // messages that came (an upstream that failed: UNAVAILABLE; a deadline: DEADLINE_EXCEEDED).
        const grpcStatus = (this.grpcStatus = hostErrorGrpcStatus(status));
        res.cork(() => {
          res.writeTrailers!(['grpc-status', String(grpcStatus), 'grpc-message', percentEncode(Buffer.from(reason))]);
          res.end();
        });
      } else {
        // Headers are out: the only honest signal left is to cut the connection.
        res.close();
      }
      this.complete();
      return;
    }
    this.pendingHead = undefined; // a head not yet sent is replaced by the error
    this.responseStarted = true;
    this.responseEnded = true;
    if (this.grpc) {
      this.respondWithGrpcError(status, reason, closeConnection, retryAfterS);
      return;
    }
    this.statusCode = status;
    const body = `${reason}\n`;
    this.bytesSent = body.length;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      res.writeHeader('content-type', 'text/plain');
      if (retryAfterS > 0) res.writeHeader('retry-after', String(retryAfterS));
      if (this.proxy.draining) res.writeHeader('connection', 'close');
      if (this.method === 'HEAD') res.endWithoutBody(body.length, closeConnection);
      else res.end(body, closeConnection);
    });
    this.complete();
  }

  private noteGrpcStatus(value: string | undefined): void {
    if (value !== undefined && /^\d+$/.test(value)) this.grpcStatus = Number(value);
  }

  /** The host's error to a gRPC client: a trailers-only reply (HTTP 200, the status as grpc-status). */
  private respondWithGrpcError(status: number, reason: string, closeConnection: boolean, retryAfterS: number): void {
    this.statusCode = 200;
    const grpcStatus = (this.grpcStatus = hostErrorGrpcStatus(status));
    const flat = grpcReplyHeaders(status, grpcStatus, Buffer.from(reason));
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(200));
      for (let i = 2; i < flat.length; i += 2) res.writeHeader(flat[i]!, flat[i + 1]!);
      if (retryAfterS > 0) res.writeHeader('retry-after', String(retryAfterS));
      if (this.proxy.draining) res.writeHeader('connection', 'close');
      res.endWithoutBody(0, closeConnection);
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
    this.cluster = cluster;
    const address = this.stream?.propertyText('weft.upstream.endpoint');
    const endpoint = address === undefined ? cluster.pick() : cluster.endpoint(address);
    if (endpoint === undefined) {
      this.flags = 'UH';
      this.respondWithError(503, `no healthy upstream in cluster ${cluster.name}`);
      return undefined;
    }
    return endpoint;
  }

  /** Circuit breakers and adaptive concurrency of the chosen cluster (host/overload), when it has them. */
  private admitted(): boolean {
    const guard = this.cluster!.guard;
    if (guard === undefined) return true;
    const decision = guard.admit(this.stream);
    if (decision.refused) {
      this.refuse(decision);
      return false;
    }
    this.admission = decision;
    this.admittedMs = performance.now();
    return true;
  }

  /** 503 at once, before any upstream work: overload protection said no. */
  private refuse(refusal: OverloadRefusal): void {
    this.flags = refusal.flag;
    this.respondWithError(503, refusal.reason, false, refusal.retryAfterS);
  }

  private completed = false;

  /** The exchange is over: filters log, metrics and the access log line are written once. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    if (this.grpcDeadline !== undefined) clearTimeout(this.grpcDeadline);
    const status = this.clientAborted && !this.responseStarted ? 0 : this.statusCode;
    if (this.flags === '-') this.flags = this.stream?.propertyText('weft.response.flags') ?? (this.stream?.failedFilter !== undefined ? 'WF' : '-');
    this.stream?.finish(status, this.flags);
    // Only a request that went through cleanly tells the adaptive limit how fast the upstream is.
    this.admission?.guard.release(this.admission, this.admittedMs, this.flags === '-');
    this.endAttemptTrace();
    const finished: FinishedRequest = {
      method: this.method,
      path: this.requestHeaders.get(':path') ?? '',
      status,
      startTimeMs: this.info.startTimeMs,
      cluster: this.clusterName,
      upstream: this.upstreamLabel,
      flags: this.flags,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      requestId: this.requestHeaders.get('x-request-id'),
      route: this.stream?.propertyText('weft.route.name'),
      reason: this.errorReason,
      details: this.stream === undefined ? (this.upstreamResponseHeaders === undefined ? undefined : 'via_upstream') : this.stream.codeDetails,
      grpcStatus: this.grpcStatus,
    };
    this.trace?.end(finished, finished.route);
    this.proxy.requestFinished(finished);
  }
}

/** The grpc-status in a response head (a trailers-only gRPC answer), or -1. */
function trailersOnlyGrpcStatus(rawHeaders: Buffer[]): number {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 11 && name.toString('latin1').toLowerCase() === 'grpc-status') return Number(rawHeaders[i + 1]!.toString('latin1'));
  }
  return -1;
}
