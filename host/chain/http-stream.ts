// One HTTP request/response pair running through a chain: the host side of every filter's
// HTTP context. It runs the request phases in filter order and the response phases in reverse,
// holds the stream while a filter pauses, applies what filters asked for once their callback
// returns (local response, continue, close), and turns traps into the filter's on_error policy.
//
// The proxy owns the sockets; it drives this object and is driven back through StreamOwner.

import { FilterHeadersStatus, FilterDataStatus, StreamType, WasmResult } from '../abi/enums.js';
import type { BodyBuffer, HttpContextHost, VmHost } from '../abi/host-api.js';
import { HeaderMap, indexOfName } from '../abi/header-map.js';
import { decodeString } from '../abi/properties.js';
import type { WasmVm } from '../abi/vm.js';
import type { Chain } from './chain.js';
import type { FilterSlot } from './filter-slot.js';
import { isHostFact, streamProperty } from './stream-properties.js';
import { grpcReplyHeaders, isGrpc, isGrpcReplyOwn } from './grpc-reply.js';
import { LiveStreams } from './live-streams.js';

/** What the stream needs from the proxy side of the exchange. */
export interface StreamOwner {
  /** Request headers passed every filter: open the upstream request. */
  requestHeadersReady(endOfStream: boolean): void;
  /** Request body bytes that passed every filter, in order. */
  requestBodyReady(data: Uint8Array, endOfStream: boolean): void;
  /** Response headers (upstream or local) passed every filter: write them to the client. */
  responseHeadersReady(endOfStream: boolean): void;
  /** Response body bytes that passed every filter, in order. */
  responseBodyReady(data: Uint8Array, endOfStream: boolean): void;
  /** Request trailers passed every filter: they end the request. */
  requestTrailersReady(trailers: HeaderMap): void;
  /** Response trailers passed every filter: they end the response. */
  responseTrailersReady(trailers: HeaderMap): void;
  /** A filter answered locally: drop any upstream request, the local response follows through the response phases. */
  answeredLocally(): void;
  /** The chain cannot go on (a filter failed, a body over its bound): answer with this error. */
  chainFailed(status: number, flag: string, reason: string): void;
  /** A filter closed the stream: reset the client connection. */
  resetByFilter(): void;
  /** Facts about the connection and request for properties. */
  readonly info: RequestInfo;
  /** Body bytes received from the client so far (request.size without content-length). */
  readonly bytesReceived: number;
  /** Body bytes sent to the client so far (response.size). */
  readonly bytesSent: number;
}

export interface RequestInfo {
  readonly remoteAddress: string;
  /** The peer's port, where the transport tells it (not uWebSockets.js). */
  readonly remotePort?: number | undefined;
  /** The address the connection arrived on (uWebSockets.js: the listen address). */
  readonly localAddress: string;
  readonly localPort: number;
  /** Shared by every request of one connection, where the transport tells connections apart (not uWebSockets.js). */
  readonly connectionId?: number;
  readonly scheme: string;
  readonly startTimeMs: number;
  /** Set on a TLS listener: the connection's TLS facts and the client's certificate identity. */
  readonly tls?: TlsConnectionInfo;
}

export interface TlsConnectionInfo {
  readonly version: string;
  /** The client presented a certificate that chains to the listener's CA. */
  readonly mtls: boolean;
  readonly peer?: PeerIdentity;
}

/** What a client certificate says about who is calling. */
export interface PeerIdentity {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  readonly subject: string;
  /** SHA-256 of the certificate (DER), lowercase hex without colons. */
  readonly sha256: string;
}

/** Values index FilterSlot.phaseTimers (PHASES there; 4 is log). */
const enum Phase {
  RequestHeaders = 0,
  RequestBody = 1,
  ResponseHeaders = 2,
  ResponseBody = 3,
  RequestTrailers = 5,
  ResponseTrailers = 6,
}

/** callFilter's answer when the filter failed and the chain must not go on. */
const STOPPED = -1;
/** callFilter's answer when the filter failed under fail_open: skip it. */
const SKIPPED = -2;

const EMPTY = new Uint8Array(0);

let nextStreamId = 2; // 1 is every VM's root context

/** Streams running now: one registry for every filter, which VMs consult by id (liveStream). */
const liveStreams = new LiveStreams<HttpStream>();

/** The running stream with this id, if any (FilterSlot.liveStream). */
export function liveStream(id: number): HttpStream | undefined {
  return liveStreams.get(id);
}

function allocateStreamId(): number {
  const id = nextStreamId;
  // Context ids are u32 on the guest side; wrap long before that, skipping the root id.
  nextStreamId = nextStreamId >= 0x7fff_fff0 ? 2 : nextStreamId + 1;
  return id;
}

interface LocalResponse {
  status: number;
  body: Uint8Array;
  headers: Array<[string, string]>;
  /** 0..16, or -1 for none. */
  grpcStatus: number;
}

/** Where a paused direction resumes: the phase and the filter that paused it. */
interface Pause {
  readonly phase: Phase;
  readonly at: number;
  readonly endOfStream: boolean;
}

/** A body chunk as one filter sees it in one callback; filters may rewrite it. */
class BodyView implements BodyBuffer {
  constructor(public data: Uint8Array) {}

  bytes(): Uint8Array {
    return this.data;
  }

  set(start: number, size: number, data: Uint8Array): WasmResult {
    const current = this.data;
    if (start === 0) {
      const kept = size >= current.length ? EMPTY : current.subarray(size);
      this.data = concat(data, kept);
      return WasmResult.Ok;
    }
    if (start >= current.length) {
      this.data = concat(current, data);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }
}

/** The bytes a paused filter holds, read and rewritten in place (held[at]). */
class HeldBody implements BodyBuffer {
  constructor(
    private readonly held: Array<Uint8Array | undefined>,
    private readonly at: number,
  ) {}

  bytes(): Uint8Array {
    return this.held[this.at] ?? EMPTY;
  }

  set(start: number, size: number, data: Uint8Array): WasmResult {
    const view = new BodyView(this.bytes());
    const result = view.set(start, size, data);
    this.held[this.at] = view.data;
    return result;
  }
}

export class HttpStream implements HttpContextHost {
  readonly id = allocateStreamId();
  responseHeaders: HeaderMap | undefined;
  /** Trailers (maps 1 and 3), once they arrived; they end their direction. */
  requestTrailers: HeaderMap | undefined;
  responseTrailers: HeaderMap | undefined;
  upstreamAddress: string | undefined;
  finalStatus = 0;
  finalFlags: string | undefined;
  /** Set when a filter failed: the flag for the access log (WF). */
  failedFilter: string | undefined;
  /** Envoy's response.code_details: via_upstream, or the details a filter gave its local response. */
  codeDetails: string | undefined;

  private readonly slots: readonly FilterSlot[];
  /** Whether this stream's filter callbacks are timed for the phase histogram (one stream in TIMING_SAMPLE_EVERY). */
  private readonly timed: boolean;
  /** The VM each filter runs this stream in; null once a fail_open filter failed (skipped). */
  private readonly vms: Array<WasmVm | null>;
  /** How many filters saw the request; the response phases run over these, last first. */
  private reached = 0;
  private properties: Map<string, Uint8Array> | undefined;

  /** The body the filter being called sees (request or response body phases). */
  private currentBody: BodyView | undefined;
  /** Bytes a filter holds (StopIterationAndBuffer), per filter index, per direction. */
  private readonly heldRequest: Array<Uint8Array | undefined>;
  private readonly heldResponse: Array<Uint8Array | undefined>;
  private readonly bufferLimit: number;

  /** Index of the filter in a callback, or -1. Actions it asks for are applied after it returns. */
  private calling = -1;
  private pendingLocal: LocalResponse | undefined;
  /** proxy_continue_stream calls made during the callback, per direction. */
  private continueRequest = false;
  private continueResponse = false;
  private pendingClose = false;
  /** A filter asked for a local response (the first call wins; Envoy's rule). */
  private localRequested = false;

  /** Each direction pauses on its own (a request body may still be held while the response flows). */
  private pausedRequest: Pause | undefined;
  private pausedResponse: Pause | undefined;
  /** Request phases finished (the upstream may be opened); response headers phase finished. */
  private requestHeadersDone = false;
  private responseHeadersDone = false;
  /** Body that arrived while the headers phase of its direction was still running (or paused). */
  private waitingRequestData: Uint8Array[] | undefined;
  private waitingRequestEnd = false;
  private waitingResponseData: Uint8Array[] | undefined;
  private waitingResponseEnd = false;
  /** Trailers that arrived while the headers phase of their direction was still running (or paused). */
  private waitingRequestTrailers = false;
  private waitingResponseTrailers = false;
  private localResponseStarted = false;
  /** A filter ended a direction in its headers phase (ContinueAndEndStream): later body bytes are dropped. */
  private requestEndedByFilter = false;
  private responseEndedByFilter = false;
  private finished = false;

  constructor(
    private readonly chain: Chain,
    readonly requestHeaders: HeaderMap,
    private readonly owner: StreamOwner,
    maxBufferedBodyBytes: number,
  ) {
    chain.acquire();
    liveStreams.add(this);
    this.slots = chain.slots;
    this.timed = chain.sampleTiming();
    this.bufferLimit = maxBufferedBodyBytes;
    const count = this.slots.length;
    this.vms = new Array(count);
    this.heldRequest = new Array(count);
    this.heldResponse = new Array(count);
    for (let i = 0; i < count; i++) {
      const slot = this.slots[i]!;
      const vm = slot.currentVm();
      this.vms[i] = vm;
      try {
        vm.createHttpContext(this);
      } catch (error) {
        slot.recordTrap('context_create', error);
        this.vms[i] = null;
        if (!slot.failOpen) this.failedFilter ??= slot.pluginName;
      }
    }
  }

  // ---- driven by the proxy -------------------------------------------------------------------

  /** Runs the request headers phase. A failure while creating contexts answers 500 here. */
  start(endOfStream: boolean): void {
    if (this.failedFilter !== undefined) {
      this.owner.chainFailed(500, 'WF', `filter ${this.failedFilter} failed`);
      return;
    }
    this.runRequestHeaders(0, endOfStream);
  }

  /** Request body from the client. */
  pushRequestData(data: Uint8Array, endOfStream: boolean): void {
    if (this.finished || this.requestEndedByFilter) return;
    if (!this.requestHeadersDone) {
      (this.waitingRequestData ??= []).push(data);
      this.waitingRequestEnd ||= endOfStream;
      if (totalLength(this.waitingRequestData) > this.bufferLimit) this.tooLarge(Phase.RequestBody);
      return;
    }
    this.runBody(Phase.RequestBody, 0, data, endOfStream);
  }

  /** Upstream response headers arrived (`:status` first). */
  pushResponseHeaders(headers: HeaderMap, endOfStream: boolean): void {
    if (this.finished || this.localResponseStarted) return;
    this.responseHeaders = headers;
    this.codeDetails = 'via_upstream';
    this.runResponseHeaders(this.reached - 1, endOfStream);
  }

  /** Upstream response body; dropped once a local response replaced the upstream's. */
  pushResponseData(data: Uint8Array, endOfStream: boolean): void {
    if (this.finished || this.localResponseStarted || this.responseEndedByFilter) return;
    this.acceptResponseData(data, endOfStream);
  }

  private acceptResponseData(data: Uint8Array, endOfStream: boolean): void {
    if (!this.responseHeadersDone) {
      (this.waitingResponseData ??= []).push(data);
      this.waitingResponseEnd ||= endOfStream;
      if (totalLength(this.waitingResponseData) > this.bufferLimit) this.tooLarge(Phase.ResponseBody);
      return;
    }
    this.runBody(Phase.ResponseBody, this.reached - 1, data, endOfStream);
  }

  /** The client's request trailers: the end of the request (its last body chunk came without end of stream). */
  pushRequestTrailers(trailers: HeaderMap): void {
    if (this.finished || this.requestEndedByFilter) return;
    this.requestTrailers = trailers;
    if (!this.requestHeadersDone) this.waitingRequestTrailers = true;
    else this.runTrailers(true, 0);
  }

  /** The upstream's response trailers: the end of the response. */
  pushResponseTrailers(trailers: HeaderMap): void {
    if (this.finished || this.localResponseStarted || this.responseEndedByFilter) return;
    this.responseTrailers = trailers;
    if (!this.responseHeadersDone) this.waitingResponseTrailers = true;
    else this.runTrailers(false, this.reached - 1);
  }

  /** The endpoint the request went to (upstream.address). */
  setUpstreamAddress(address: string): void {
    this.upstreamAddress = address;
  }

  /**
   * The exchange is over (answered, failed or aborted): on_log, on_done, on_delete in every VM.
   * `status` (0 when the client left before any response) and the access-log `flags` are what
   * on_log reads as response.code and response.flags, also when the host answered itself.
   */
  finish(status: number, flags: string): void {
    if (this.finished) return;
    this.finished = true;
    this.finalStatus = status;
    this.finalFlags = flags;
    for (let i = 0; i < this.vms.length; i++) {
      const vm = this.vms[i];
      if (vm === null || vm === undefined || vm.broken) continue;
      const slot = this.slots[i]!;
      this.calling = i;
      try {
        if (this.timed) {
          const start = performance.now();
          vm.onLog(this);
          slot.phaseTimers[4]!.observe((performance.now() - start) / 1000);
        } else {
          vm.onLog(this);
        }
        vm.onDone(this);
        vm.onDelete(this);
      } catch (error) {
        slot.recordTrap('log', error);
      }
      this.vms[i] = null; // its context is gone (hasContextIn)
      this.calling = -1;
    }
    liveStreams.delete(this);
    this.chain.release();
  }

  /** Whether `vm` runs a filter of this stream and its context there was not deleted. */
  hasContextIn(vm: WasmVm): boolean {
    return this.vms.indexOf(vm) >= 0;
  }

  /** True when any filter of the chain reads request bodies (else they bypass the stream). */
  get inspectsRequestBody(): boolean {
    return this.chain.inspectsRequestBody;
  }

  // ---- HttpContextHost: what filters call --------------------------------------------------

  headerMap(map: number): HeaderMap | undefined {
    switch (map) {
      case 0:
        return this.requestHeaders;
      case 1:
        return this.requestTrailers ?? this.trailersForLastBody(true);
      case 2:
        return this.responseHeaders;
      case 3:
        return this.responseTrailers ?? this.trailersForLastBody(false);
      default:
        return undefined;
    }
  }

  body(buffer: number): BodyBuffer | undefined {
    const phase = this.callingPhase;
    if (buffer === 0 && phase === Phase.RequestBody) return this.currentBody;
    if (buffer === 1 && phase === Phase.ResponseBody) return this.currentBody;
    // From a callback outside the stream (http_call response, with set_effective_context): the
    // body the paused filter holds, as Envoy hands a paused filter its buffered body
    // (ext-authz with the body: buffer it, call out, read or replace it, continue).
    if (this.calling < 0 && (buffer === 0 || buffer === 1)) return this.heldBody(buffer === 0);
    return undefined;
  }

  /**
   * Envoy's addDecodedTrailers / addEncodedTrailers: in the body callback that ends a message
   * without trailers, the trailer map exists (empty) and what the filter puts there follows the
   * body; the filters after it see the body without end of stream, then the trailers.
   */
  private trailersForLastBody(request: boolean): HeaderMap | undefined {
    if (this.calling < 0 || !this.callingEndOfStream || this.callingPhase !== (request ? Phase.RequestBody : Phase.ResponseBody)) return undefined;
    const map = new HeaderMap();
    if (request) {
      this.requestTrailers = map;
      this.requestTrailersAddedBy = this.calling;
    } else {
      this.responseTrailers = map;
      this.responseTrailersAddedBy = this.calling;
    }
    return map;
  }

  private heldBody(request: boolean): BodyBuffer | undefined {
    const pause = request ? this.pausedRequest : this.pausedResponse;
    if (pause === undefined || pause.phase !== (request ? Phase.RequestBody : Phase.ResponseBody)) return undefined;
    return new HeldBody(request ? this.heldRequest : this.heldResponse, pause.at);
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.properties?.get(key) ?? streamProperty(this, key);
  }

  setProperty(key: string, value: Uint8Array): WasmResult {
    // What the host knows about the request and the connection is not the filters' to change:
    // a filter must not be able to claim another caller's mTLS identity or address. The call
    // still answers Ok, as Envoy's does (it keeps such a value apart from its attributes), and
    // because the Rust SDK panics on any other answer.
    if (isHostFact(key)) return WasmResult.Ok;
    (this.properties ??= new Map()).set(key, value); // the host call's copy, ours to keep
    return WasmResult.Ok;
  }

  /** A property a filter set (weft.upstream.cluster, ...), as text; for the proxy. */
  propertyText(key: string): string | undefined {
    const value = this.properties?.get(key);
    return value === undefined ? undefined : decodeString(value);
  }

  /**
   * As Envoy's proxy-wasm context does: the first call wins (a second gets BadArgument); once
   * response headers went to the client the call answers Ok and resets the stream, the only
   * signal left; any three-digit status is taken as it is.
   */
  sendLocalResponse(status: number, details: string, body: Uint8Array, headers: Array<[string, string]>, grpcStatus: number): WasmResult {
    if (status < 100 || status > 999 || this.localRequested) return WasmResult.BadArgument;
    this.localRequested = true;
    this.codeDetails = details;
    if (this.responseHeadersDone) {
      if (this.calling >= 0) this.pendingClose = true;
      else queueMicrotask(() => this.resetNow());
      return WasmResult.Ok;
    }
    const local = { status, body: body.slice(), headers, grpcStatus };
    if (this.calling >= 0) this.pendingLocal = local;
    else queueMicrotask(() => this.applyLocalResponse(local, this.reached - 1));
    return WasmResult.Ok;
  }

  continueStream(stream: StreamType, caller?: VmHost): WasmResult {
    if (stream !== StreamType.HttpRequest && stream !== StreamType.HttpResponse) return WasmResult.Unimplemented;
    const request = stream === StreamType.HttpRequest;
    if (this.calling < 0) this.resumeLater(request, caller);
    else if (request) this.continueRequest = true;
    else this.continueResponse = true;
    return WasmResult.Ok;
  }

  closeStream(stream: StreamType): WasmResult {
    if (stream !== StreamType.HttpRequest && stream !== StreamType.HttpResponse) return WasmResult.Unimplemented;
    if (this.calling >= 0) this.pendingClose = true;
    else queueMicrotask(() => this.resetNow());
    return WasmResult.Ok;
  }

  private resetNow(): void {
    if (!this.finished) this.owner.resetByFilter();
  }

  /** For stream-properties.ts. */
  get requestInfo() {
    return this.owner.info;
  }

  get bytesReceived(): number {
    return this.owner.bytesReceived;
  }

  get bytesSent(): number {
    return this.owner.bytesSent;
  }

  // ---- phases ----------------------------------------------------------------------------------

  private callingPhase: Phase | -1 = -1;
  private callingEndOfStream = false;
  /** The filter whose last body callback gave the message trailers (trailersForLastBody), or -1. */
  private requestTrailersAddedBy = -1;
  private responseTrailersAddedBy = -1;

  private runRequestHeaders(from: number, endOfStream: boolean): void {
    for (let i = from; i < this.vms.length; i++) {
      this.reached = i + 1;
      const vm = this.vms[i];
      if (vm === null || !vm!.has.requestHeaders) continue;
      // Counted per filter: the one before may have added or removed headers.
      const status = this.callFilter(i, Phase.RequestHeaders, this.requestHeaders.size, endOfStream);
      if (status === STOPPED) return;
      if (status === SKIPPED) continue;
      if (vm!.endedContext(true, status)) this.vms[i] = null;
      if (this.applyPending(i, Phase.RequestHeaders)) return;
      if (status === FilterHeadersStatus.ContinueAndEndStream && !endOfStream) {
        endOfStream = true;
        this.requestEndedByFilter = true;
        this.waitingRequestData = undefined;
        endsWithHeaders(this.requestHeaders);
      } else if (status !== FilterHeadersStatus.Continue && status !== FilterHeadersStatus.ContinueAndEndStream) {
        this.pause(Phase.RequestHeaders, i, endOfStream);
        return;
      }
      this.takeContinue(true);
    }
    this.requestHeadersDone = true;
    this.owner.requestHeadersReady(endOfStream);
    // The proxy may have ended the exchange right there (no endpoint: 503): nothing more runs.
    if (this.finished) return;
    const waiting = this.waitingRequestData;
    if (waiting !== undefined) {
      this.waitingRequestData = undefined;
      this.runBody(Phase.RequestBody, 0, concatAll(waiting), this.waitingRequestEnd);
    }
    if (this.waitingRequestTrailers && !this.finished) {
      this.waitingRequestTrailers = false;
      this.runTrailers(true, 0);
    }
  }

  private runResponseHeaders(from: number, endOfStream: boolean): void {
    const headers = this.responseHeaders!;
    for (let i = from; i >= 0; i--) {
      const vm = this.vms[i];
      if (vm === null || !vm!.has.responseHeaders) continue;
      const status = this.callFilter(i, Phase.ResponseHeaders, headers.size, endOfStream);
      if (status === STOPPED) return;
      if (status === SKIPPED) continue;
      if (vm!.endedContext(false, status)) this.vms[i] = null;
      if (this.applyPending(i, Phase.ResponseHeaders)) return;
      if (status === FilterHeadersStatus.ContinueAndEndStream && !endOfStream) {
        endOfStream = true;
        this.responseEndedByFilter = true;
        this.waitingResponseData = undefined;
        endsWithHeaders(headers);
      } else if (status !== FilterHeadersStatus.Continue && status !== FilterHeadersStatus.ContinueAndEndStream) {
        this.pause(Phase.ResponseHeaders, i, endOfStream);
        return;
      }
      this.takeContinue(false);
    }
    this.responseHeadersDone = true;
    this.owner.responseHeadersReady(endOfStream);
    if (this.finished) return;
    const waiting = this.waitingResponseData;
    if (waiting !== undefined) {
      this.waitingResponseData = undefined;
      this.runBody(Phase.ResponseBody, this.reached - 1, concatAll(waiting), this.waitingResponseEnd);
    }
    if (this.waitingResponseTrailers && !this.finished) {
      this.waitingResponseTrailers = false;
      this.runTrailers(false, this.reached - 1);
    }
  }

  /**
   * Runs the trailers of one direction through the filters, from filter `from` (request:
   * upwards; response: downwards). As in Envoy, a filter that holds body bytes (it buffered,
   * waiting for an end of stream the body never carried) hands them on once its trailers
   * callback lets the trailers pass; a filter that stops pauses the trailers. `resumed`: filter
   * `from` paused them and has continued (its callback is not called again).
   */
  private runTrailers(request: boolean, from: number, resumed = false): void {
    const trailers = request ? this.requestTrailers! : this.responseTrailers!;
    const phase = request ? Phase.RequestTrailers : Phase.ResponseTrailers;
    const held = request ? this.heldRequest : this.heldResponse;
    const step = request ? 1 : -1;
    const end = request ? this.vms.length : -1;
    for (let i = from; i !== end; i += step) {
      const vm = this.vms[i];
      if (vm === null) continue;
      if (!(resumed && i === from) && (request ? vm!.has.requestTrailers : vm!.has.responseTrailers)) {
        const status = this.callFilter(i, phase, trailers.size, true);
        if (status === STOPPED) return;
        if (status === SKIPPED) continue;
        if (this.applyPending(i, phase)) return;
        if (status !== FilterHeadersStatus.Continue) {
          this.pause(phase, i, true);
          return;
        }
        this.takeContinue(request);
      }
      const bytes = held[i];
      if (bytes !== undefined) {
        held[i] = undefined;
        this.runBody(request ? Phase.RequestBody : Phase.ResponseBody, i + step, bytes, false);
        if (this.finished) return;
      }
    }
    if (request) this.owner.requestTrailersReady(trailers);
    else this.owner.responseTrailersReady(trailers);
  }

  /**
   * Runs body bytes through the body filters of one direction, starting at filter `from`
   * (request: upwards; response: downwards). A filter that stops holds the bytes; the next
   * chunk is appended and the filter called again with the total, as Envoy does.
   */
  private runBody(phase: Phase.RequestBody | Phase.ResponseBody, from: number, data: Uint8Array, endOfStream: boolean): void {
    const request = phase === Phase.RequestBody;
    const held = request ? this.heldRequest : this.heldResponse;
    const step = request ? 1 : -1;
    const end = request ? this.vms.length : -1;
    for (let i = from; i !== end; i += step) {
      const vm = this.vms[i];
      if (vm === null || !(request ? vm!.has.requestBody : vm!.has.responseBody)) continue;
      const before = held[i];
      const view = new BodyView(before === undefined ? data : concat(before, data));
      held[i] = undefined;
      this.currentBody = view;
      // After a filter gave the message trailers, the body no longer ends it.
      const last = endOfStream && (request ? this.requestTrailersAddedBy : this.responseTrailersAddedBy) < 0;
      const status = this.callFilter(i, phase, view.data.length, last);
      this.currentBody = undefined;
      if (status === STOPPED) return;
      if (status === SKIPPED) continue;
      data = view.data;
      if (this.applyPending(i, phase)) return;
      if (status === FilterDataStatus.StopIterationNoBuffer) {
        // Envoy: the filter keeps what it wants itself; the host holds nothing and the next
        // chunk arrives alone. At the end of the stream the filter must continue it.
        if (last) this.pause(phase, i, true);
        else this.holdUntilMore(request, endOfStream);
        return;
      }
      if (status !== FilterDataStatus.Continue) {
        if (data.length > this.bufferLimit) {
          this.tooLarge(phase);
          return;
        }
        held[i] = data;
        // At the end of the stream nothing more will arrive to re-call the filter: it must continue it.
        if (last) this.pause(phase, i, true);
        else this.holdUntilMore(request, endOfStream);
        return;
      }
      this.takeContinue(request);
    }
    const addedBy = request ? this.requestTrailersAddedBy : this.responseTrailersAddedBy;
    if (request) this.owner.requestBodyReady(data, endOfStream && addedBy < 0);
    else this.owner.responseBodyReady(data, endOfStream && addedBy < 0);
    if (endOfStream) this.runAddedTrailers(request);
  }

  /** A filter holds body bytes and waits for more: the next chunk, or the trailers a filter added. */
  private holdUntilMore(request: boolean, endOfStream: boolean): void {
    this.takeContinue(request);
    if (endOfStream) this.runAddedTrailers(request);
  }

  /** The trailers a last body callback gave the message follow it, from the filter after the one that added them. */
  private runAddedTrailers(request: boolean): void {
    const addedBy = request ? this.requestTrailersAddedBy : this.responseTrailersAddedBy;
    if (addedBy < 0) return;
    if (request) this.requestTrailersAddedBy = -1;
    else this.responseTrailersAddedBy = -1;
    this.runTrailers(request, addedBy + (request ? 1 : -1));
  }

  /** Calls one filter phase; a trap becomes the filter's on_error policy. */
  private callFilter(i: number, phase: Phase, size: number, endOfStream: boolean): number {
    // After on_delete no callback may reach the context (SDKs panic on an unknown context id).
    if (this.finished) return STOPPED;
    const vm = this.vms[i]!;
    const slot = this.slots[i]!;
    if (vm.broken) return this.filterFailed(i, phase, new Error('its VM trapped in another request'));
    this.calling = i;
    this.callingPhase = phase;
    this.callingEndOfStream = endOfStream;
    const start = this.timed ? performance.now() : 0;
    let status: number;
    try {
      switch (phase) {
        case Phase.RequestHeaders:
          status = vm.onRequestHeaders(this, size, endOfStream);
          break;
        case Phase.RequestBody:
          status = vm.onRequestBody(this, size, endOfStream);
          break;
        case Phase.ResponseHeaders:
          status = vm.onResponseHeaders(this, size, endOfStream);
          break;
        case Phase.ResponseBody:
          status = vm.onResponseBody(this, size, endOfStream);
          break;
        case Phase.RequestTrailers:
          status = vm.onRequestTrailers(this, size);
          break;
        case Phase.ResponseTrailers:
          status = vm.onResponseTrailers(this, size);
          break;
      }
    } catch (error) {
      this.calling = -1;
      this.callingPhase = -1;
      return this.filterFailed(i, phase, error);
    }
    if (this.timed) slot.phaseTimers[phase]!.observe((performance.now() - start) / 1000);
    this.calling = -1;
    this.callingPhase = -1;
    return status;
  }

  private filterFailed(i: number, phase: Phase, error: unknown): number {
    const slot = this.slots[i]!;
    slot.recordTrap(PHASE_NAMES[phase], error);
    this.vms[i] = null;
    this.pendingLocal = undefined;
    this.continueRequest = this.continueResponse = false;
    this.pendingClose = false;
    if (slot.failOpen) return SKIPPED;
    this.failedFilter = slot.pluginName;
    this.owner.chainFailed(500, 'WF', `filter ${slot.pluginName} failed`);
    return STOPPED;
  }

  /**
   * Applies what filter `i` asked for during its callback in `phase`. True when the phase must
   * stop. A continue for the phase's own direction is left for the caller (pause() takes it; a
   * filter that returned Continue spends it); a continue for the other direction resumes that
   * one if it is paused, and is a no-op otherwise (Envoy: continueDecoding/continueEncoding on a
   * direction that is not stopped does nothing).
   */
  private applyPending(i: number, phase: Phase): boolean {
    const request = isRequestPhase(phase);
    if (request ? this.continueResponse : this.continueRequest) {
      if (request) this.continueResponse = false;
      else this.continueRequest = false;
      this.resumeLater(!request, this.slots[i]);
    }
    if (this.pendingClose) {
      this.pendingClose = false;
      this.continueRequest = this.continueResponse = false;
      this.owner.resetByFilter();
      return true;
    }
    const local = this.pendingLocal;
    if (local !== undefined) {
      this.pendingLocal = undefined;
      this.continueRequest = this.continueResponse = false;
      this.applyLocalResponse(local, i);
      return true;
    }
    return false;
  }

  /** Takes the continue the last callback made for a direction: pause() acts on it, a filter that went on spends it. */
  private takeContinue(request: boolean): boolean {
    const asked = request ? this.continueRequest : this.continueResponse;
    if (request) this.continueRequest = false;
    else this.continueResponse = false;
    return asked;
  }

  private pause(phase: Phase, at: number, endOfStream: boolean): void {
    const request = isRequestPhase(phase);
    const pause: Pause = { phase, at, endOfStream };
    if (request) this.pausedRequest = pause;
    else this.pausedResponse = pause;
    // The filter stopped and continued in the same callback: resume once it has returned.
    if (this.takeContinue(request)) this.resumeLater(request);
  }

  /**
   * proxy_continue_stream for a direction, applied after the current call returns: resumes the
   * pause that is there now, and nothing if that direction is not paused (or paused again anew),
   * or paused by another filter than `caller` (one filter cannot release another's hold).
   */
  private resumeLater(request: boolean, caller?: VmHost): void {
    const pause = request ? this.pausedRequest : this.pausedResponse;
    if (pause === undefined || (caller !== undefined && this.slots[pause.at] !== caller)) return;
    queueMicrotask(() => {
      if ((request ? this.pausedRequest : this.pausedResponse) === pause) this.resume(pause);
    });
  }

  /** Carries on after the filter that paused. */
  private resume(pause: Pause): void {
    if (isRequestPhase(pause.phase)) this.pausedRequest = undefined;
    else this.pausedResponse = undefined;
    if (this.finished) return;
    const { phase, at, endOfStream } = pause;
    switch (phase) {
      case Phase.RequestHeaders:
        this.runRequestHeaders(at + 1, endOfStream);
        break;
      case Phase.ResponseHeaders:
        this.runResponseHeaders(at - 1, endOfStream);
        break;
      case Phase.RequestTrailers:
        this.runTrailers(true, at, true);
        break;
      case Phase.ResponseTrailers:
        this.runTrailers(false, at, true);
        break;
      case Phase.RequestBody:
      case Phase.ResponseBody: {
        const held = phase === Phase.RequestBody ? this.heldRequest : this.heldResponse;
        const data = held[at] ?? EMPTY;
        held[at] = undefined;
        this.runBody(phase, phase === Phase.RequestBody ? at + 1 : at - 1, data, endOfStream);
        break;
      }
    }
  }

  /**
   * A filter answered: the response goes back through the response phases of the filters
   * that saw the request, from the one that answered down to the first.
   */
  private applyLocalResponse(local: LocalResponse, from: number): void {
    if (this.finished || this.responseHeadersDone) return;
    this.localResponseStarted = true;
    // Whatever either direction held is the upstream exchange's, which this response replaces.
    this.pausedRequest = this.pausedResponse = undefined;
    this.waitingRequestData = undefined;
    this.waitingResponseData = undefined;
    this.waitingResponseTrailers = false;
    this.responseTrailers = undefined;
    this.responseTrailersAddedBy = -1;
    this.heldRequest.fill(undefined);
    this.heldResponse.fill(undefined);
    this.owner.answeredLocally();
    const grpc = isGrpc(this.requestHeaders.get('content-type'));
    const flat = grpc ? grpcReplyHeaders(local.status, local.grpcStatus, local.body) : [':status', String(local.status)];
    for (const [name, value] of local.headers) {
      const lower = name.toLowerCase();
      // A gRPC reply's own framing and status stand; a filter's headers go beside them.
      if (grpc && isGrpcReplyOwn(lower)) continue;
      flat.push(lower, value);
    }
    // A gRPC reply is trailers-only: its body text travels as grpc-message.
    const body = grpc ? EMPTY : local.body;
    if (body.length > 0 && indexOfName(flat, 'content-type') < 0) flat.push('content-type', 'text/plain');
    flat.push('content-length', String(body.length));
    this.responseHeaders = new HeaderMap(flat);
    this.reached = from + 1;
    const endOfStream = body.length === 0;
    this.runResponseHeaders(from, endOfStream);
    if (!endOfStream && !this.finished) this.acceptResponseData(body, true);
  }

  private tooLarge(phase: Phase): void {
    if (phase === Phase.RequestBody || phase === Phase.RequestHeaders) {
      this.owner.chainFailed(413, 'BL', 'request body larger than a filter may buffer');
    } else {
      this.owner.chainFailed(502, 'BL', 'response body larger than a filter may buffer');
    }
  }
}

const PHASE_NAMES = ['request_headers', 'request_body', 'response_headers', 'response_body', 'log', 'request_trailers', 'response_trailers'];

/**
 * ContinueAndEndStream (Envoy: "a header only request/response"): the message now ends with its
 * headers, so the length they announce is 0.
 */
function endsWithHeaders(headers: HeaderMap): void {
  if (headers.get('content-length') === undefined && headers.get('transfer-encoding') === undefined) return;
  headers.remove('transfer-encoding');
  headers.replace('content-length', '0');
}

function isRequestPhase(phase: Phase): boolean {
  return phase === Phase.RequestHeaders || phase === Phase.RequestBody || phase === Phase.RequestTrailers;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function concatAll(chunks: Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function totalLength(chunks: Uint8Array[]): number {
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  return total;
}
