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
