// The classes a filter extends. A RootContext exists once per filter VM (configuration,
// ticks, queues); it creates one HttpContext per request. Override the callbacks you need;
// the defaults let everything through.

import * as hostcalls from "./hostcalls";
import { HttpCallResponse } from "./httpcall";
import { JsonParser, JsonValue } from "./json";
import {
  BufferType, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, Header, LogLevel, Phases, WasmResult,
} from "./types";

/** Called with the context that sent the http_call (the request's HttpContext, or the root). */
export type HttpCallCallback = (origin: Context, response: HttpCallResponse) => void;

/** An http_call waiting for its answer: who sent it and what to call. */
export class PendingHttpCall {
  contextId: u32;
  callback: HttpCallCallback | null;
  constructor(contextId: u32, callback: HttpCallCallback | null) {
    this.contextId = contextId;
    this.callback = callback;
  }
}

/** token -> pending call; the dispatcher takes entries out when the answers arrive. */
export const pendingHttpCalls = new Map<u32, PendingHttpCall>();

/** gRPC calls and streams waiting for events: token -> the context that opened them. */
export const pendingGrpcCalls = new Map<u32, u32>();
export const openGrpcStreams = new Map<u32, u32>();

/** What root and HTTP contexts have in common. */
export class Context {
  readonly contextId: u32;

  constructor(contextId: u32) {
    this.contextId = contextId;
  }

  /**
   * Sends a request to the cluster named `cluster`. `headers` must include :method, :path
   * and :authority. The answer arrives later in `callback` (or onHttpCallResponse when
   * there is none), with this context current again, so an HttpContext can read and change
   * its request there and then resume it with continueRequest(). The result holds the
   * status (BadArgument: unknown cluster or missing pseudo-header) and the call's token.
   */
  httpCall(
    cluster: string, headers: Array<Header>, body: ArrayBuffer | null, timeoutMs: u32,
    callback: HttpCallCallback | null = null, trailers: Array<Header> = [],
  ): hostcalls.Result<u32> {
    const result = hostcalls.httpCall(cluster, headers, body, trailers, timeoutMs);
    if (result.status == WasmResult.Ok) pendingHttpCalls.set(result.value, new PendingHttpCall(this.contextId, callback));
    return result;
  }

  /** The answer to an http_call sent without a callback. */
  onHttpCallResponse(response: HttpCallResponse): void {}

  /**
   * Calls /`service`/`method` on the cluster `cluster` with one request message (encoded by the
   * filter). The answer arrives in onGrpcCallResponse with this context current again. The
   * result holds the status (ParseFailure: unknown cluster, as in Envoy) and the call's token.
   */
  dispatchGrpcCall(
    cluster: string, service: string, method: string, metadata: Array<Header>, message: ArrayBuffer | null, timeoutMs: u32,
  ): hostcalls.Result<u32> {
    const result = hostcalls.grpcCall(cluster, service, method, metadata, message, timeoutMs);
    if (result.status == WasmResult.Ok) pendingGrpcCalls.set(result.value, this.contextId);
    return result;
  }

  /** Opens a gRPC stream; its events arrive in the onGrpcStream* callbacks of this context. */
  openGrpcStream(cluster: string, service: string, method: string, metadata: Array<Header> = []): hostcalls.Result<u32> {
    const result = hostcalls.grpcStream(cluster, service, method, metadata);
    if (result.status == WasmResult.Ok) openGrpcStreams.set(result.value, this.contextId);
    return result;
  }

  /** Sends one message on a stream; `endStream` half-closes it. */
  sendGrpcStreamMessage(token: u32, message: ArrayBuffer | null, endStream: bool = false): WasmResult {
    return hostcalls.grpcSend(token, message, endStream);
  }

  /** Cancels a call or stream: no callback follows. */
  cancelGrpcCall(token: u32): WasmResult {
    pendingGrpcCalls.delete(token);
    openGrpcStreams.delete(token);
    return hostcalls.grpcCancel(token);
  }

  /** Half-closes a stream (the server's close still arrives in onGrpcStreamClose); cancels a unary call. */
  closeGrpcStream(token: u32): WasmResult {
    if (pendingGrpcCalls.has(token)) pendingGrpcCalls.delete(token);
    return hostcalls.grpcClose(token);
  }

  /**
   * A unary call's end: status 0 with the response message, or the failure's gRPC status (UNAVAILABLE,
   * DEADLINE_EXCEEDED, ...) with an empty message and the server's text in `statusMessage`.
   */
  onGrpcCallResponse(token: u32, status: i32, message: ArrayBuffer, statusMessage: string): void {}
  onGrpcStreamInitialMetadata(token: u32, metadata: Array<Header>): void {}
  onGrpcStreamMessage(token: u32, message: ArrayBuffer): void {}
  onGrpcStreamTrailingMetadata(token: u32, metadata: Array<Header>): void {}
  /** The stream ended with this gRPC status; nothing follows. */
  onGrpcStreamClose(token: u32, status: i32, statusMessage: string): void {}

  /** Last callback of a request with its final state (response code, sizes): log here. */
  onLog(): void {}

  /** The host is done with this context. Return false to finish later with hostcalls.done(). */
  onDone(): bool {
    return true;
  }

  /** The context is gone; no callback follows. */
  onDelete(): void {}
}

export class RootContext extends Context {
  constructor(contextId: u32) {
    super(contextId);
  }

  /** The VM started; `vmConfigurationSize` bytes of vm_config wait in getVmConfiguration(). False fails the VM. */
  onVmStart(vmConfigurationSize: u32): bool {
    return true;
  }

  /** The plugin configuration arrived (getPluginConfiguration()). False rejects it. */
  onConfigure(pluginConfigurationSize: u32): bool {
    return true;
  }

  /** Called every tick period (setTickPeriod). */
  onTick(): void {}

  /** A message was enqueued on a queue this root registered. */
  onQueueReady(queueId: u32): void {}

  /** A foreign function called this VM; its arguments are in BufferType.CallData. */
  onForeignFunction(functionId: u32, argumentsSize: u32): void {}

  /**
   * The HttpContext callbacks this filter overrides, e.g. `Phases.RequestHeaders | Phases.Log`;
   * asked once, after onConfigure (so it may depend on the configuration). The host calls no
   * other: leave out one you override and it is never called. The default, Phases.All, has every
   * callback called, as a filter built with another SDK is.
   */
  phases(): u32 {
    return Phases.All;
  }

  /** A new request: return the HttpContext that handles it, or null to let it pass untouched. */
  createHttpContext(contextId: u32): HttpContext | null {
    return null;
  }

  /** The plugin configuration (manifest `config`) as text. */
  getPluginConfiguration(): string {
    return readBufferString(BufferType.PluginConfiguration);
  }

  /**
   * The plugin configuration parsed as JSON, or null (after logging why at error level)
   * when it is not JSON: `if (config === null) return false;` in onConfigure.
   */
  getPluginConfigurationJson(): JsonValue | null {
    const parser = new JsonParser(this.getPluginConfiguration());
    const value = parser.parse();
    if (value === null) hostcalls.log(LogLevel.Error, "plugin configuration is not JSON: " + parser.error);
    return value;
  }

  /** The VM configuration (manifest `vm_config`) as text. */
  getVmConfiguration(): string {
    return readBufferString(BufferType.VmConfiguration);
  }

  /** Calls onTick every `periodMs` milliseconds; 0 stops. */
  setTickPeriod(periodMs: u32): WasmResult {
    return hostcalls.setTickPeriodMilliseconds(periodMs);
  }
}

export class HttpContext extends Context {
  readonly root: RootContext;

  constructor(contextId: u32, root: RootContext) {
    super(contextId);
    this.root = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  /** `bodySize` is everything buffered so far; return StopIterationAndBuffer to see more at once. */
  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onRequestTrailers(trailerCount: u32): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  onResponseTrailers(trailerCount: u32): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }
}

/** A whole configuration buffer as text; empty when the host has none. */
function readBufferString(bufferType: BufferType): string {
  const result = hostcalls.getBufferBytes(bufferType, 0, u32.MAX_VALUE);
  return result.status == WasmResult.Ok ? String.UTF8.decode(result.value) : "";
}
