// What the proxy-wasm ABI layer needs from the rest of the host, as interfaces.
// host/abi implements the guest-facing side (memory, pairs, hostcalls); host/chain and
// host/proxy implement these, so the ABI layer never imports the proxy.

import type { LogLevel, MetricType, StreamType, WasmResult } from './enums.js';
import type { HeaderMap } from './header-map.js';

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
}

/** The answer to an http_call; null when it failed (connect error, timeout, reset). */
export interface HttpCallResponse {
  headers: Array<[string, string]>;   // includes :status
  body: Uint8Array;
  trailers: Array<[string, string]>;
}

/** Shared key-value store with compare-and-swap, per vm_id (proxy_get/set_shared_data). */
export interface SharedData {
  get(vmId: string, key: string): { value: Uint8Array; cas: number } | undefined;
  /** cas 0 = unconditional; otherwise must equal the current cas or CasMismatch. */
  set(vmId: string, key: string, value: Uint8Array, cas: number): WasmResult;
}

/** Shared queues (proxy_register/resolve/enqueue/dequeue_shared_queue). */
export interface SharedQueues {
  /** Register (or re-register) a queue owned by the calling VM; `onReady` fires after each enqueue. */
  register(vmId: string, name: string, onReady: (queueId: number) => void): number;
  resolve(vmId: string, name: string): number | undefined;
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

/** Host services of one filter VM that do not belong to a single stream. */
export interface VmHost {
  readonly pluginName: string;
  readonly rootId: string;
  readonly vmId: string;
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
  /** Properties not tied to a stream (weft.cluster.<name>.endpoints, ...); undefined = NotFound. */
  getProperty(key: string): Uint8Array | undefined;
  /**
   * Send an http_call. BadArgument when the cluster is unknown or a pseudo-header is
   * missing. The host calls `done` once, later, never synchronously; a failed call gets null
   * and, optionally, why (what proxy_get_status tells the callback; "reset" when none).
   */
  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null, failure?: string) => void): WasmResult;
  /** Tick period for this VM's root context; 0 turns ticks off. */
  setTickPeriod(ms: number, onTick: () => void): void;
  /** Weft extensions reachable through proxy_call_foreign_function; undefined = NotFound. */
  foreignFunction(name: string): ((args: Uint8Array) => Uint8Array | WasmResult) | undefined;
}
