// What the proxy-wasm ABI layer needs from the rest of the host, as interfaces.
// host/abi implements the guest-facing side (memory, pairs, hostcalls); host/chain and
// host/proxy implement these, so the ABI layer never imports the proxy.

import type { LogLevel, MetricType, StreamType, WasmResult } from './enums.js';
import type { HeaderMap } from './header-map.js';
import type { WasmVm } from './vm.js';

/** A body as the filters see it: the bytes buffered so far for one direction. */
export interface BodyBuffer {
  /** The buffered bytes (may be empty). */
  bytes(): Uint8Array;
  /**
   * proxy_set_buffer_bytes semantics: start 0 drops `size` bytes and prepends `data`
   * (start 0, size >= length replaces all); start >= length appends; else BadArgument.
   */
  set(start: number, size: number, data: Uint8Array): WasmResult;
}

/** Host side of one HTTP stream (one request/response pair), seen by every filter of the chain. */
export interface HttpContextHost {
  /** The stream's context id, the same in every VM its chain runs it through. */
  readonly id: number;
  /**
   * Whether `vm` holds a live context for this stream (created, not yet deleted): what
   * proxy_set_effective_context checks before it lets a filter act for the stream.
   */
  hasContextIn(vm: WasmVm): boolean;
  /** Request/response headers and trailers (MapType 0..3); undefined = not available yet. */
  headerMap(map: number): HeaderMap | undefined;
  /** Request body (BufferType 0) or response body (BufferType 1); undefined = none in this phase. */
  body(buffer: number): BodyBuffer | undefined;
  /** A property by its canonical dotted key (see abi/properties.ts); undefined = NotFound. */
  getProperty(key: string): Uint8Array | undefined;
  /** Store a property; filters read it back with getProperty. `value` is a copy the stream may keep. */
  setProperty(key: string, value: Uint8Array): WasmResult;
  /** Answer the client directly; applied after the current callback returns. */
  sendLocalResponse(status: number, details: string, body: Uint8Array, headers: Array<[string, string]>, grpcStatus: number): WasmResult;
  /**
   * Resume a paused direction; applied after the current callback returns. `caller` is the VM
   * host of the filter asking: a continue resumes only a pause that filter made (Envoy: each
   * filter continues its own iteration).
   */
  continueStream(stream: StreamType, caller?: VmHost): WasmResult;
  /** Reset the stream; applied after the current callback returns. */
  closeStream(stream: StreamType): WasmResult;
}

/** A request a filter sends with proxy_http_call. Headers include :method, :path, :authority. */
export interface HttpCallRequest {
  cluster: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
  trailers: Array<[string, string]>;
  timeoutMs: number;
  /** A response body larger than this fails the call (the calling filter's http_call_response_bytes quota). */
  maxResponseBytes: number;
}

/** The answer to an http_call; null when it failed (connect error, timeout, reset). */
export interface HttpCallResponse {
  headers: Array<[string, string]>;   // includes :status
  body: Uint8Array;
  trailers: Array<[string, string]>;
}

/**
 * A gRPC call or stream a filter opens with proxy_grpc_call / proxy_grpc_stream: the method
 * /<service>/<method> on one endpoint of a named cluster.
 */
export interface GrpcCallRequest {
  cluster: string;
  service: string;
  method: string;
  initialMetadata: Array<[string, string]>;
  /** The one request message of a unary call; null opens a stream (messages follow with send). */
  message: Uint8Array | null;
  /** Deadline of the call from now; 0 = none. */
  timeoutMs: number;
  /** A response message larger than this fails the call (the filter's http_call_response_bytes quota). */
  maxResponseBytes: number;
}

/** What a gRPC call reports, in this order: metadata once, messages, trailing metadata, then close once. */
export interface GrpcCallEvents {
  initialMetadata(pairs: Array<[string, string]>): void;
  message(bytes: Uint8Array): void;
  trailingMetadata(pairs: Array<[string, string]>): void;
  /** The call ended with this gRPC status (0 OK .. 16) and its message; nothing follows. */
  close(status: number, message: string): void;
}

/** A gRPC call in flight. */
export interface GrpcCall {
  /** Sends one message on a stream; `endStream` half-closes it. BadArgument on a unary call or after end. */
  send(message: Uint8Array, endStream: boolean): WasmResult;
  /** Half-closes a stream (proxy_grpc_close); no more messages may be sent. */
  closeSend(): void;
  /** Cancels the call; no event follows. */
  cancel(): void;
}

/**
 * Shared data (proxy_get/set_shared_data), one namespace per vm_id: filters see each other's keys
 * only when they share a vm_id. An implementation keeps, per namespace, the bytes its keys and
 * values take, so that a write can be refused past the writer's quota.
 */
export interface SharedData {
  get(vmId: string, key: string): { value: Uint8Array; cas: number } | undefined;
  /**
   * cas 0 = unconditional; otherwise must equal the current cas or CasMismatch. `value` is the
   * callee's to keep: callers hand over a copy (the host call copies it out of guest memory).
   * InternalFailure, and nothing written, when the namespace would then hold more than
   * `maxBytes` (UTF-8 key length + value length, summed over its keys).
   */
  set(vmId: string, key: string, value: Uint8Array, cas: number, maxBytes: number): WasmResult;
  /** The bytes a namespace holds, as set() counts them (0 for an unknown vm_id). */
  bytesUsed(vmId: string): number;
}

/** Shared queues (proxy_register/resolve/enqueue/dequeue_shared_queue), one namespace per vm_id. */
export interface SharedQueues {
  /**
   * Register (or re-register) a queue owned by the calling VM; `onReady` fires after each
   * enqueue, never re-entrantly. The queue holds at most `maxDepth` items (the owner's quota).
   */
  register(vmId: string, name: string, onReady: (queueId: number) => void, maxDepth: number): number;
  resolve(vmId: string, name: string): number | undefined;
  /** NotFound for an unknown queue; InternalFailure, and nothing queued, when it holds maxDepth items. */
  enqueue(queueId: number, data: Uint8Array): WasmResult;
  /** undefined when the queue does not exist; null when it is empty. */
  dequeue(queueId: number): Uint8Array | null | undefined;
}

/** Filter-defined metrics (proxy_define_metric and friends), exported on /metrics. */
export interface FilterMetrics {
  define(type: MetricType, name: string): number;
  increment(id: number, delta: bigint): WasmResult;
  record(id: number, value: bigint): WasmResult;
  get(id: number): bigint | WasmResult;
}

/** The quotas the host calls enforce for one filter; past one, the call answers InternalFailure (a log line is dropped). */
export interface VmQuotas {
  readonly limits: { readonly shared_data_bytes: number; readonly queue_depth: number; readonly http_call_response_bytes: number };
  /** Whether one more log line is kept now. */
  takeLogLine(nowMs: number): boolean;
  /** Whether the filter may define a metric of this name. */
  mayDefineMetric(name: string): boolean;
  /** Counts a refusal the shared-data or queue store answered (InternalFailure). */
  refused(quota: 'shared_data_bytes' | 'queue_depth'): void;
}

/** Host services of one filter VM that do not belong to a single stream. */
export interface VmHost {
  readonly pluginName: string;
  readonly rootId: string;
  readonly vmId: string;
  /**
   * The stream with context id `id` while it is running, for proxy_set_effective_context (the
   * VM then asks the stream whether it has a context there). The host keeps the one registry of
   * live streams, so a VM keeps none: a table per VM cost a set and a delete per request and filter.
   */
  liveStream(id: number): HttpContextHost | undefined;
  log(level: LogLevel, message: string): void;
  /**
   * The lowest level the host keeps, answered to proxy_get_log_level; proxy_log below it is
   * dropped without decoding the message. Absent: the guest is told Info and every proxy_log
   * reaches log().
   */
  readonly logLevel?: LogLevel;
  /**
   * A trap in a callback the VM drives itself (tick, http_call response, queue ready, root
   * on_done at destroy). The VM is already marked broken; `error` is a FilterTrap.
   */
  reportTrap(error: Error, phase: string): void;
  readonly sharedData: SharedData;
  readonly queues: SharedQueues;
  readonly metrics: FilterMetrics;
  /** What this filter may hold in and ask of the host (host/chain/filter-quotas.ts implements it). */
  readonly quotas: VmQuotas;
  /** Properties not tied to a stream (weft.cluster.<name>.endpoints, ...); undefined = NotFound. */
  getProperty(key: string): Uint8Array | undefined;
  /**
   * Send an http_call. BadArgument when the cluster is unknown or a pseudo-header is
   * missing. The host calls `done` once, later, never synchronously; a failed call gets null
   * and, optionally, why (what proxy_get_status tells the callback; "reset" when none).
   */
  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null, failure?: string) => void): WasmResult;
  /**
   * Open a gRPC call or stream. ParseFailure when the cluster is unknown (as Envoy answers).
   * Events come later, never synchronously; close comes once unless the call is cancelled.
   * Absent (test hosts, the upload sandbox): the calls answer Unimplemented.
   */
  grpcCall?(request: GrpcCallRequest, events: GrpcCallEvents): GrpcCall | WasmResult;
  /** Tick period for this VM's root context; 0 turns ticks off. */
  setTickPeriod(ms: number, onTick: () => void): void;
  /** Weft extensions reachable through proxy_call_foreign_function; undefined = NotFound. */
  foreignFunction(name: string): ((args: Uint8Array) => Uint8Array | WasmResult) | undefined;
}
