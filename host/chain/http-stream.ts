// One HTTP request/response pair running through a chain: the host side of every filter's
// HTTP context. It runs the request phases in filter order and the response phases in reverse,
// holds the stream while a filter pauses, applies what filters asked for once their callback
// returns (local response, continue, close), and turns traps into the filter's on_error policy.
//
// The proxy owns the sockets; it drives this object and is driven back through StreamOwner.

import { FilterHeadersStatus, FilterDataStatus, StreamType, WasmResult } from '../abi/enums.js';
import type { BodyBuffer, HttpContextHost } from '../abi/host-api.js';
import { HeaderMap, indexOfName } from '../abi/header-map.js';
import type { WasmVm } from '../abi/vm.js';
import type { Chain } from './chain.js';
import type { FilterSlot } from './filter-slot.js';
import { isHostFact, streamProperty } from './stream-properties.js';

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
  /** A filter answered locally: drop any upstream request, the local response follows through the response phases. */
  answeredLocally(): void;
  /** The chain cannot go on (a filter failed, a body over its bound): answer with this error. */
  chainFailed(status: number, flag: string, reason: string): void;
  /** A filter closed the stream: reset the client connection. */
  resetByFilter(): void;
  /** Facts about the connection and request for properties. */
  readonly info: RequestInfo;
}

export interface RequestInfo {
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
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

const enum Phase {
  RequestHeaders,
  RequestBody,
  ResponseHeaders,
  ResponseBody,
}

/** callFilter's answer when the filter failed and the chain must not go on. */
const STOPPED = -1;
/** callFilter's answer when the filter failed under fail_open: skip it. */
const SKIPPED = -2;

const EMPTY = new Uint8Array(0);

let nextStreamId = 2; // 1 is every VM's root context

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

export class HttpStream implements HttpContextHost {
  readonly id = allocateStreamId();
  responseHeaders: HeaderMap | undefined;
  upstreamAddress: string | undefined;
  finalStatus = 0;
  finalFlags: string | undefined;
  /** Set when a filter failed: the flag for the access log (WF). */
  failedFilter: string | undefined;

  private readonly slots: readonly FilterSlot[];
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
  private pendingContinue = false;
  private pendingClose = false;

  /** Where a paused stream resumes: the phase and the filter that paused it. */
  private pausedPhase: Phase | -1 = -1;
  private pausedAt = -1;
  private pausedEndOfStream = false;
  /** Request phases finished (the upstream may be opened); response headers phase finished. */
  private requestHeadersDone = false;
  private responseHeadersDone = false;
  /** Body that arrived while the headers phase of its direction was still running (or paused). */
  private waitingRequestData: Uint8Array[] | undefined;
  private waitingRequestEnd = false;
  private waitingResponseData: Uint8Array[] | undefined;
  private waitingResponseEnd = false;
  private localResponseStarted = false;
  private finished = false;

  constructor(
    private readonly chain: Chain,
    readonly requestHeaders: HeaderMap,
    private readonly owner: StreamOwner,
    maxBufferedBodyBytes: number,
  ) {
    chain.acquire();
    this.slots = chain.slots;
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
        vm.createHttpContext(this.id, this);
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
    if (this.finished) return;
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
    this.runResponseHeaders(this.reached - 1, endOfStream);
  }

  /** Upstream response body. */
  pushResponseData(data: Uint8Array, endOfStream: boolean): void {
    if (this.finished) return;
    if (!this.responseHeadersDone) {
      (this.waitingResponseData ??= []).push(data);
      this.waitingResponseEnd ||= endOfStream;
      if (totalLength(this.waitingResponseData) > this.bufferLimit) this.tooLarge(Phase.ResponseBody);
      return;
    }
    this.runBody(Phase.ResponseBody, this.reached - 1, data, endOfStream);
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
        const start = performance.now();
        vm.onLog(this.id);
        slot.phaseTimers[4]!.observe((performance.now() - start) / 1000);
        vm.onDone(this.id);
        vm.onDelete(this.id);
      } catch (error) {
        slot.recordTrap('log', error);
      }
      this.calling = -1;
    }
    this.chain.release();
  }

  /** True when any filter of the chain reads request bodies (else they bypass the stream). */
  get inspectsRequestBody(): boolean {
    return this.chain.inspectsRequestBody;
  }

  // ---- HttpContextHost: what filters call --------------------------------------------------

  headerMap(map: number): HeaderMap | undefined {
    if (map === 0) return this.requestHeaders;
    if (map === 2) return this.responseHeaders;
    return undefined; // trailers are not carried by this host (see README: trailers)
  }

  body(buffer: number): BodyBuffer | undefined {
    const phase = this.callingPhase;
    if (buffer === 0 && phase === Phase.RequestBody) return this.currentBody;
    if (buffer === 1 && phase === Phase.ResponseBody) return this.currentBody;
    return undefined;
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.properties?.get(key) ?? streamProperty(this, key);
  }

  setProperty(key: string, value: Uint8Array): WasmResult {
    // What the host knows about the request and the connection is not the filters' to change:
    // a filter must not be able to claim another caller's mTLS identity or address.
    if (isHostFact(key)) return WasmResult.BadArgument;
    (this.properties ??= new Map()).set(key, value.slice());
    return WasmResult.Ok;
  }

  /** A property a filter set (weft.upstream.cluster, ...), as text; for the proxy. */
  propertyText(key: string): string | undefined {
    const value = this.properties?.get(key);
    return value === undefined ? undefined : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  }

  sendLocalResponse(status: number, _details: string, body: Uint8Array, headers: Array<[string, string]>, _grpcStatus: number): WasmResult {
    if (this.responseHeadersDone || this.localResponseStarted) return WasmResult.BadArgument; // too late: headers are out
    if (status < 200 || status > 599) return WasmResult.BadArgument;
    const local = { status, body: body.slice(), headers };
    if (this.calling >= 0) this.pendingLocal = local;
    else queueMicrotask(() => this.applyLocalResponse(local, this.reached - 1));
    return WasmResult.Ok;
  }

  continueStream(stream: StreamType): WasmResult {
    if (stream !== StreamType.HttpRequest && stream !== StreamType.HttpResponse) return WasmResult.Unimplemented;
    if (this.calling >= 0) this.pendingContinue = true;
    else queueMicrotask(() => this.resume());
    return WasmResult.Ok;
  }

  closeStream(stream: StreamType): WasmResult {
    if (stream !== StreamType.HttpRequest && stream !== StreamType.HttpResponse) return WasmResult.Unimplemented;
    if (this.calling >= 0) this.pendingClose = true;
    else queueMicrotask(() => this.owner.resetByFilter());
    return WasmResult.Ok;
  }

  /** For stream-properties.ts. */
  get requestInfo() {
    return this.owner.info;
  }

  // ---- phases ----------------------------------------------------------------------------------

  private callingPhase: Phase | -1 = -1;

  private runRequestHeaders(from: number, endOfStream: boolean): void {
    const count = this.requestHeaders.size;
    for (let i = from; i < this.vms.length; i++) {
      this.reached = i + 1;
      const vm = this.vms[i];
      if (vm === null || !vm!.has.requestHeaders) continue;
      const status = this.callFilter(i, Phase.RequestHeaders, count, endOfStream);
      if (status === STOPPED) return;
      if (status === SKIPPED) continue;
      if (this.applyPending(i)) return;
      if (status !== FilterHeadersStatus.Continue && status !== FilterHeadersStatus.ContinueAndEndStream) {
        this.pause(Phase.RequestHeaders, i, endOfStream);
        return;
      }
    }
    this.requestHeadersDone = true;
    this.owner.requestHeadersReady(endOfStream);
    const waiting = this.waitingRequestData;
    if (waiting !== undefined) {
      this.waitingRequestData = undefined;
      this.runBody(Phase.RequestBody, 0, concatAll(waiting), this.waitingRequestEnd);
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
      if (this.applyPending(i)) return;
      if (status !== FilterHeadersStatus.Continue && status !== FilterHeadersStatus.ContinueAndEndStream) {
        this.pause(Phase.ResponseHeaders, i, endOfStream);
        return;
      }
    }
    this.responseHeadersDone = true;
    this.owner.responseHeadersReady(endOfStream);
    const waiting = this.waitingResponseData;
    if (waiting !== undefined) {
      this.waitingResponseData = undefined;
      this.runBody(Phase.ResponseBody, this.reached - 1, concatAll(waiting), this.waitingResponseEnd);
    }
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
      const status = this.callFilter(i, phase, view.data.length, endOfStream);
      this.currentBody = undefined;
      if (status === STOPPED) return;
      if (status === SKIPPED) continue;
      data = view.data;
      if (this.applyPending(i)) return;
      if (status !== FilterDataStatus.Continue) {
        if (data.length > this.bufferLimit) {
          this.tooLarge(phase);
          return;
        }
        held[i] = data;
        // At the end of the stream nothing more will arrive to re-call the filter: it must continue it.
        if (endOfStream) this.pause(phase, i, true);
        return;
      }
    }
    if (request) this.owner.requestBodyReady(data, endOfStream);
    else this.owner.responseBodyReady(data, endOfStream);
  }

  /** Calls one filter phase; a trap becomes the filter's on_error policy. */
  private callFilter(i: number, phase: Phase, size: number, endOfStream: boolean): number {
    const vm = this.vms[i]!;
    const slot = this.slots[i]!;
    if (vm.broken) return this.filterFailed(i, phase, new Error('its VM trapped in another request'));
    this.calling = i;
    this.callingPhase = phase;
    const start = performance.now();
    let status: number;
    try {
      switch (phase) {
        case Phase.RequestHeaders:
          status = vm.onRequestHeaders(this.id, size, endOfStream);
          break;
        case Phase.RequestBody:
          status = vm.onRequestBody(this.id, size, endOfStream);
          break;
        case Phase.ResponseHeaders:
          status = vm.onResponseHeaders(this.id, size, endOfStream);
          break;
        case Phase.ResponseBody:
          status = vm.onResponseBody(this.id, size, endOfStream);
          break;
      }
    } catch (error) {
      this.calling = -1;
      this.callingPhase = -1;
      return this.filterFailed(i, phase, error);
    }
    slot.phaseTimers[phase]!.observe((performance.now() - start) / 1000);
    this.calling = -1;
    this.callingPhase = -1;
    return status;
  }

  private filterFailed(i: number, phase: Phase, error: unknown): number {
    const slot = this.slots[i]!;
    slot.recordTrap(PHASE_NAMES[phase], error);
    this.vms[i] = null;
    this.pendingLocal = undefined;
    this.pendingContinue = false;
    this.pendingClose = false;
    if (slot.failOpen) return SKIPPED;
    this.failedFilter = slot.pluginName;
    this.owner.chainFailed(500, 'WF', `filter ${slot.pluginName} failed`);
    return STOPPED;
  }

  /** Applies what filter `i` asked for during its callback. True when the current phase must stop. */
  private applyPending(i: number): boolean {
    if (this.pendingClose) {
      this.pendingClose = false;
      this.owner.resetByFilter();
      return true;
    }
    const local = this.pendingLocal;
    if (local !== undefined) {
      this.pendingLocal = undefined;
      this.pendingContinue = false;
      this.applyLocalResponse(local, i);
      return true;
    }
    return false;
  }

  private pause(phase: Phase, at: number, endOfStream: boolean): void {
    if (this.pendingContinue) {
      // The filter stopped and continued in the same callback: nothing to wait for.
      this.pendingContinue = false;
      this.pausedPhase = phase;
      this.pausedAt = at;
      this.pausedEndOfStream = endOfStream;
      queueMicrotask(() => this.resume());
      return;
    }
    this.pausedPhase = phase;
    this.pausedAt = at;
    this.pausedEndOfStream = endOfStream;
  }

  /** proxy_continue_stream: carry on after the filter that paused. */
  private resume(): void {
    const phase = this.pausedPhase;
    if (phase === -1 || this.finished) return;
    const at = this.pausedAt;
    const endOfStream = this.pausedEndOfStream;
    this.pausedPhase = -1;
    switch (phase) {
      case Phase.RequestHeaders:
        this.runRequestHeaders(at + 1, endOfStream);
        break;
      case Phase.ResponseHeaders:
        this.runResponseHeaders(at - 1, endOfStream);
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
    this.pausedPhase = -1;
    this.waitingRequestData = undefined;
    this.owner.answeredLocally();
    const flat: string[] = [':status', String(local.status)];
    for (const [name, value] of local.headers) flat.push(name.toLowerCase(), value);
    if (local.body.length > 0 && indexOfName(flat, 'content-type') < 0) flat.push('content-type', 'text/plain');
    flat.push('content-length', String(local.body.length));
    this.responseHeaders = new HeaderMap(flat);
    this.reached = from + 1;
    const endOfStream = local.body.length === 0;
    this.runResponseHeaders(from, endOfStream);
    if (!endOfStream) this.pushResponseData(local.body, true);
  }

  private tooLarge(phase: Phase): void {
    if (phase === Phase.RequestBody || phase === Phase.RequestHeaders) {
      this.owner.chainFailed(413, 'BL', 'request body larger than a filter may buffer');
    } else {
      this.owner.chainFailed(502, 'BL', 'response body larger than a filter may buffer');
    }
  }
}

const PHASE_NAMES = ['request_headers', 'request_body', 'response_headers', 'response_body'];

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
