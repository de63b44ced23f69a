// The `env` functions a proxy-wasm guest imports: every proxy_* call of ABI 0.2.1, 0.2.0 and
// 0.1.0, plus the other `env` functions SDKs pull in (AssemblyScript's abort and seed, the C++
// SDK's emscripten/pthread helpers). Each call checks its pointers and answers a WasmResult;
// nothing a guest passes can make the host throw.
//
// The calls act for the active context of AbiState (state.ts): its stream host for header maps,
// bodies, properties and stream actions; the VM (VmHost) for everything else.

import { realtimeNanoseconds } from './clock.js';
import { BufferType, LogLevel, MapType, MetricType, StreamType, WasmResult } from './enums.js';
import type { HeaderMap } from './header-map.js';
import type { HttpContextHost } from './host-api.js';
import type { HostFunctions } from './imports.js';
import { breaksHeaderLine, isHeaderName } from '../net/http-syntax.js';
import { GuestKeyCache } from './key-cache.js';
import { decodePairs } from './pairs.js';
import { propertyKey } from './properties.js';
import type { AbiState } from './state.js';

/** Thrown by AssemblyScript's `abort` import: the guest gave up. It unwinds the guest call like a trap. */
export class GuestAbort extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestAbort';
  }
}

const EMPTY = new Uint8Array(0);
/** gRPC status INTERNAL: what Envoy reports for a unary call answered OK without a message. */
const GRPC_INTERNAL = 13;
const MAX_MAP_TYPE = MapType.HttpCallResponseTrailers;
const MAX_BUFFER_TYPE = BufferType.CallData;
const MAX_LOG_LEVEL = LogLevel.Critical;
const MAX_METRIC_TYPE = MetricType.Histogram;
const MAX_STREAM_TYPE = StreamType.Upstream;
/** Longest AssemblyScript abort message read (bytes of UTF-16). */
const MAX_ABORT_TEXT = 64 * 1024;

export function envFunctions(state: AbiState): HostFunctions {
  const memory = state.memory;
  const host = state.host;
  /** Property paths as canonical keys, header names and shared-data keys, decoded once per address (key-cache.ts). */
  const propertyKeys = new GuestKeyCache(propertyKey);
  const headerNames = new GuestKeyCache(sameText);
  /** Names filters set, with whether each is one a filter may set (a token or a pseudo-header), checked once. */
  const settableHeaderNames = new GuestKeyCache((name) => ({ name, valid: isHeaderName(name) }));
  const sharedDataKeys = new GuestKeyCache(sameText);

  /** Maps readable from the active context: 0-3 from its stream, 6/7 during an http_call callback. */
  function readableMap(type: number): HeaderMap | undefined {
    if (type <= MapType.ResponseTrailers) return state.activeStream?.headerMap(type);
    if (type === MapType.HttpCallResponseHeaders) return state.callResponseHeaders;
    if (type === MapType.HttpCallResponseTrailers) return state.callResponseTrailers;
    if (type === MapType.GrpcReceiveInitialMetadata) return state.grpcInitialMetadata;
    return state.grpcTrailingMetadata;
  }

  /** Maps a filter may change: only the stream's own (http_call responses are read-only). */
  function writableMap(type: number): HeaderMap | undefined {
    return type <= MapType.ResponseTrailers ? state.activeStream?.headerMap(type) : undefined;
  }

  /** proxy_add_header_map_value (append) and proxy_replace_header_map_value (set): one set of checks. */
  function setHeaderValue(type: number, keyPtr: number, keyLen: number, valuePtr: number, valueLen: number, replace: boolean): WasmResult {
    if (type >>> 0 > MAX_MAP_TYPE) return WasmResult.BadArgument;
    const key = memory.key(keyPtr, keyLen, settableHeaderNames);
    const value = memory.string(valuePtr, valueLen);
    if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
    const map = writableMap(type);
    if (map === undefined || !headerAllowed(replace ? 'proxy_replace_header_map_value' : 'proxy_add_header_map_value', key.name, value, key.valid)) return WasmResult.BadArgument;
    if (replace) map.replace(key.name, value);
    else map.add(key.name, value);
    return WasmResult.Ok;
  }

  /**
   * A header a filter sets must be one line on the wire: a CR, LF or NUL in it, or a name that is
   * not a token, could split the message (Envoy refuses the same). Refused with a log line.
   * `validName` when the caller already knows (the name cache checked it once).
   */
  function headerAllowed(call: string, name: string, value: string, validName = isHeaderName(name)): boolean {
    if (validName && !breaksHeaderLine(value)) return true;
    host.log(LogLevel.Warn, `${call}: refused header ${JSON.stringify(name)} (a name must be a token; a value must not contain CR, LF or NUL)`);
    return false;
  }

  function readableBuffer(type: number): Uint8Array | undefined {
    switch (type) {
      case BufferType.RequestBody:
      case BufferType.ResponseBody:
        return state.activeStream?.body(type)?.bytes();
      case BufferType.HttpCallResponseBody:
        return state.callResponseBody;
      case BufferType.GrpcReceiveBuffer:
        return state.grpcMessage;
      case BufferType.VmConfiguration:
        return state.vmConfig;
      case BufferType.PluginConfiguration:
        return state.pluginConfig;
      case BufferType.CallData:
        return state.foreignArgs;
      default:
        return undefined; // TCP data: never available
    }
  }

  /** proxy_continue_stream / proxy_close_stream: HTTP directions only (no TCP here). */
  function streamAction(call: string, type: number, apply: (stream: HttpContextHost, type: StreamType) => WasmResult): WasmResult {
    if (type > MAX_STREAM_TYPE) return WasmResult.BadArgument;
    if (type !== StreamType.HttpRequest && type !== StreamType.HttpResponse) return WasmResult.Unimplemented;
    const stream = state.activeStream;
    // Outside a stream context (root callback without set_effective_context) Envoy answers Ok and
    // does nothing; so do we, rather than make SDKs that panic on non-Ok abort the VM.
    if (stream === undefined) return outsideStream(call);
    return apply(stream, type);
  }
  const resume = (stream: HttpContextHost, type: StreamType): WasmResult => stream.continueStream(type, host);
  const reset = (stream: HttpContextHost, type: StreamType): WasmResult => stream.closeStream(type);

  function outsideStream(call: string): WasmResult {
    host.log(LogLevel.Debug, `${call} called outside a stream context (context ${state.activeId}); ignored`);
    return WasmResult.Ok;
  }

  /** Reads an AssemblyScript string (UTF-16LE, byte length in the u32 before it); null if unreadable. */
  function assemblyScriptString(ptr: number): string | null {
    const at = ptr >>> 0;
    if (at < 4) return null;
    const length = memory.readU32(at - 4);
    if (length < 0 || length > MAX_ABORT_TEXT) return null;
    return memory.view(at, length & ~1)?.toString('utf16le') ?? null;
  }

  /** proxy_grpc_call (message) and proxy_grpc_stream (message null): one set of checks. */
  function openGrpc(
    upstreamPtr: number, upstreamLen: number, servicePtr: number, serviceLen: number, methodPtr: number, methodLen: number,
    metadataPtr: number, metadataLen: number, message: Uint8Array | null, timeoutMs: number, tokenPtr: number,
  ): WasmResult {
    if (host.grpcCall === undefined) return WasmResult.Unimplemented;
    const cluster = memory.string(upstreamPtr, upstreamLen);
    const service = memory.string(servicePtr, serviceLen);
    const method = memory.string(methodPtr, methodLen);
    const metadataBytes = metadataLen === 0 ? EMPTY : memory.view(metadataPtr, metadataLen);
    if (cluster === null || service === null || method === null || metadataBytes === null) return WasmResult.InvalidMemoryAccess;
    if (!memory.inBounds(tokenPtr, 4)) return WasmResult.InvalidMemoryAccess;
    const metadata = metadataBytes.length === 0 ? [] : decodePairs(metadataBytes);
    if (metadata === null || service === '' || method === '') return WasmResult.BadArgument;
    const token = state.takeToken();
    const calls = state.grpcCalls;
    const callbacks = state.callbacks;
    // Events of a call the guest cancelled, or that closed, reach nobody.
    const live = (): boolean => calls.has(token);
    // Envoy's unary call (AsyncRequestCallbacks) reports one thing: proxy_on_grpc_receive with the
    // response on success, or proxy_on_grpc_close on failure; no metadata callbacks. The Rust SDK
    // forgets the token on either. A stream reports every event, then close.
    const unary = message !== null;
    let response: Uint8Array | undefined;
    const opened = host.grpcCall(
      { cluster, service, method, initialMetadata: toEntries(metadata), message, timeoutMs: timeoutMs >>> 0, maxResponseBytes: host.quotas.limits.http_call_response_bytes },
      {
        initialMetadata: (pairs) => { if (!unary && live()) callbacks.grpcInitialMetadata(token, pairs); },
        message: (bytes) => {
          if (unary) response ??= bytes;
          else if (live()) callbacks.grpcMessage(token, bytes);
        },
        trailingMetadata: (pairs) => { if (!unary && live()) callbacks.grpcTrailingMetadata(token, pairs); },
        close: (status, text) => {
          if (!calls.delete(token)) return;
          if (!unary) callbacks.grpcClose(token, status, text);
          else if (status !== 0) callbacks.grpcClose(token, status, text);
          else if (response !== undefined) callbacks.grpcMessage(token, response);
          else callbacks.grpcClose(token, GRPC_INTERNAL, 'the server sent no response message');
        },
      },
    );
    if (typeof opened === 'number') return opened;
    // Envoy: proxy_grpc_close on a unary call cancels it (nothing to half-close), with no callback.
    calls.set(token, unary ? { ...opened, closeSend: () => { calls.delete(token); opened.cancel(); } } : opened);
    memory.writeU32(tokenPtr, token);
    return WasmResult.Ok;
  }

  return {
    // ---- logging, time, ticks -----------------------------------------------------------------

    proxy_log(level: number, ptr: number, len: number): WasmResult {
      if (level >>> 0 > MAX_LOG_LEVEL) return WasmResult.BadArgument;
      const threshold = host.logLevel;
      if ((threshold !== undefined && level < threshold) || !host.quotas.takeLogLine(Date.now())) {
        return memory.inBounds(ptr, len) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      }
      const message = memory.string(ptr, len);
      if (message === null) return WasmResult.InvalidMemoryAccess;
      host.log(level as LogLevel, message);
      return WasmResult.Ok;
    },

    proxy_get_log_level(levelPtr: number): WasmResult {
      return memory.writeU32(levelPtr, host.logLevel ?? LogLevel.Info) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_get_current_time_nanoseconds(timePtr: number): WasmResult {
      return memory.writeU64(timePtr, realtimeNanoseconds()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_set_tick_period_milliseconds(period: number): WasmResult {
      state.tickPeriod = period >>> 0;
      host.setTickPeriod(state.tickPeriod, state.callbacks.tick);
      return WasmResult.Ok;
    },

    // ---- buffers -------------------------------------------------------------------------------

    proxy_get_buffer_status(type: number, lengthPtr: number, flagsPtr: number): WasmResult {
      if (type >>> 0 > MAX_BUFFER_TYPE) return WasmResult.BadArgument;
      const bytes = readableBuffer(type);
      if (bytes === undefined) return WasmResult.NotFound;
      if (!memory.writeU32(lengthPtr, bytes.length) || !memory.writeU32(flagsPtr, 0)) return WasmResult.InvalidMemoryAccess;
      return WasmResult.Ok;
    },

    proxy_get_buffer_bytes(type: number, start: number, maxSize: number, ptrOut: number, lenOut: number): WasmResult {
      if (type >>> 0 > MAX_BUFFER_TYPE) return WasmResult.BadArgument;
      const bytes = readableBuffer(type);
      if (bytes === undefined) return WasmResult.NotFound;
      // Clipped to what there is (start + max is computed in 64 bits, as cpp-host does: no overflow).
      const from = start >>> 0;
      const to = Math.min(bytes.length, from + (maxSize >>> 0));
      return memory.returnBytes(ptrOut, lenOut, from < to ? bytes.subarray(from, to) : EMPTY);
    },

    proxy_set_buffer_bytes(type: number, start: number, size: number, ptr: number, len: number): WasmResult {
      if (type >>> 0 > MAX_BUFFER_TYPE) return WasmResult.BadArgument;
      if (type === BufferType.RequestBody || type === BufferType.ResponseBody) {
        const body = state.activeStream?.body(type);
        if (body === undefined) return WasmResult.NotFound;
        const data = memory.copy(ptr, len);
        if (data === null) return WasmResult.InvalidMemoryAccess;
        return body.set(start >>> 0, size >>> 0, data);
      }
      return readableBuffer(type) === undefined ? WasmResult.NotFound : WasmResult.BadArgument; // read-only
    },

    // ---- header maps ---------------------------------------------------------------------------

    proxy_get_header_map_size(type: number, sizePtr: number): WasmResult {
      if (type >>> 0 > MAX_MAP_TYPE) return WasmResult.BadArgument;
      const size = readableMap(type)?.serializedSize() ?? 0;
      return memory.writeU32(sizePtr, size) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_get_header_map_pairs(type: number, ptrOut: number, lenOut: number): WasmResult {
      if (type >>> 0 > MAX_MAP_TYPE) return WasmResult.BadArgument;
      const map = readableMap(type);
      return memory.returnBytes(ptrOut, lenOut, map === undefined ? EMPTY : map.serialized());
    },

    proxy_set_header_map_pairs(type: number, ptr: number, len: number): WasmResult {
      if (type >>> 0 > MAX_MAP_TYPE) return WasmResult.BadArgument;
      const bytes = memory.view(ptr, len);
      if (bytes === null) return WasmResult.InvalidMemoryAccess;
      const flat = decodePairs(bytes);
      const map = writableMap(type);
      if (flat === null || map === undefined) return WasmResult.BadArgument;
      for (let i = 0; i < flat.length; i += 2) {
        if (!headerAllowed('proxy_set_header_map_pairs', flat[i]!, flat[i + 1] ?? '')) return WasmResult.BadArgument;
      }
      map.setPairs(flat);
      return WasmResult.Ok;
    },

    proxy_get_header_map_value(type: number, keyPtr: number, keyLen: number, ptrOut: number, lenOut: number): WasmResult {
      if (type >>> 0 > MAX_MAP_TYPE) return WasmResult.BadArgument;
      const key = memory.key(keyPtr, keyLen, headerNames);
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const value = readableMap(type)?.get(key);
      if (value === undefined) return WasmResult.NotFound;
      return memory.returnString(ptrOut, lenOut, value);
    },

    proxy_add_header_map_value(type: number, keyPtr: number, keyLen: number, valuePtr: number, valueLen: number): WasmResult {
      return setHeaderValue(type, keyPtr, keyLen, valuePtr, valueLen, false);
    },

    proxy_replace_header_map_value(type: number, keyPtr: number, keyLen: number, valuePtr: number, valueLen: number): WasmResult {
      return setHeaderValue(type, keyPtr, keyLen, valuePtr, valueLen, true);
    },

    proxy_remove_header_map_value(type: number, keyPtr: number, keyLen: number): WasmResult {
      if (type >>> 0 > MAX_MAP_TYPE) return WasmResult.BadArgument;
      const key = memory.string(keyPtr, keyLen);
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const map = writableMap(type);
      if (map === undefined) return WasmResult.BadArgument;
      map.remove(key);
      return WasmResult.Ok;
    },

    // ---- stream actions ------------------------------------------------------------------------

    proxy_continue_stream(type: number): WasmResult {
      return streamAction('proxy_continue_stream', type >>> 0, resume);
    },

    proxy_close_stream(type: number): WasmResult {
      return streamAction('proxy_close_stream', type >>> 0, reset);
    },

    proxy_send_local_response(
      status: number,
      detailsPtr: number,
      detailsLen: number,
      bodyPtr: number,
      bodyLen: number,
      headersPtr: number,
      headersLen: number,
      grpcStatus: number,
    ): WasmResult {
      const details = memory.string(detailsPtr, detailsLen);
      const body = memory.copy(bodyPtr, bodyLen);
      const headerBytes = memory.view(headersPtr, headersLen);
      if (details === null || body === null || headerBytes === null) return WasmResult.InvalidMemoryAccess;
      const headers = decodePairs(headerBytes);
      if (headers === null) return WasmResult.BadArgument;
      for (let i = 0; i < headers.length; i += 2) {
        if (!headerAllowed('proxy_send_local_response', headers[i]!, headers[i + 1] ?? '')) return WasmResult.BadArgument;
      }
      const stream = state.activeStream;
      if (stream === undefined) return outsideStream('proxy_send_local_response');
      // gRPC status outside 0..16 means "none" (Envoy ignores it).
      const grpc = grpcStatus >= 0 && grpcStatus <= 16 ? grpcStatus : -1;
      return stream.sendLocalResponse(status >>> 0, details, body, toEntries(headers), grpc);
    },

    proxy_get_status(codePtr: number, ptrOut: number, lenOut: number): WasmResult {
      if (!memory.writeU32(codePtr, state.statusCode)) return WasmResult.InvalidMemoryAccess;
      return memory.returnString(ptrOut, lenOut, state.statusMessage);
    },

    // ---- http_call and gRPC --------------------------------------------------------------------

    proxy_http_call(
      upstreamPtr: number,
      upstreamLen: number,
      headersPtr: number,
      headersLen: number,
      bodyPtr: number,
      bodyLen: number,
      trailersPtr: number,
      trailersLen: number,
      timeoutMs: number,
      tokenPtr: number,
    ): WasmResult {
      const cluster = memory.string(upstreamPtr, upstreamLen);
      const headerBytes = memory.view(headersPtr, headersLen);
      const body = memory.copy(bodyPtr, bodyLen);
      const trailerBytes = memory.view(trailersPtr, trailersLen);
      if (cluster === null || headerBytes === null || body === null || trailerBytes === null) return WasmResult.InvalidMemoryAccess;
      // The token pointer is checked before anything is sent, so a bad one cannot orphan a call.
      if (!memory.inBounds(tokenPtr, 4)) return WasmResult.InvalidMemoryAccess;
      const headers = decodePairs(headerBytes);
      const trailers = decodePairs(trailerBytes);
      if (headers === null || trailers === null) return WasmResult.BadArgument;
      const headerEntries = toEntries(headers);
      if (!hasValue(headerEntries, ':method') || !hasValue(headerEntries, ':path') || !hasValue(headerEntries, ':authority')) {
        return WasmResult.BadArgument;
      }
      const token = state.takeToken();
      const callbacks = state.callbacks;
      let answered = false;
      const result = host.httpCall(
        { cluster, headers: headerEntries, body, trailers: toEntries(trailers), timeoutMs: timeoutMs >>> 0, maxResponseBytes: host.quotas.limits.http_call_response_bytes },
        (response, failure) => {
          // The completion callback runs once per token, whatever the host does (SDKs forget a token once answered).
          if (answered) return;
          answered = true;
          callbacks.httpCallResponse(token, response, failure);
        },
      );
      if (result !== WasmResult.Ok) return result;
      memory.writeU32(tokenPtr, token);
      return WasmResult.Ok;
    },

    // ABI 0.2.x passes initial metadata (12 and 9 arguments); solo-io's AssemblyScript SDK
    // declares the calls without it (10 and 7): the arity tells which.
    proxy_grpc_call(...args: number[]): WasmResult {
      if (args.length === 10) {
        const [up, upLen, svc, svcLen, method, methodLen, msg, msgLen, timeoutMs, tokenPtr] = args as [number, number, number, number, number, number, number, number, number, number];
        const message = memory.copy(msg, msgLen);
        if (message === null) return WasmResult.InvalidMemoryAccess;
        return openGrpc(up, upLen, svc, svcLen, method, methodLen, 0, 0, message, timeoutMs, tokenPtr);
      }
      const [up, upLen, svc, svcLen, method, methodLen, md, mdLen, msg, msgLen, timeoutMs, tokenPtr] = args as [number, number, number, number, number, number, number, number, number, number, number, number];
      const message = memory.copy(msg, msgLen);
      if (message === null) return WasmResult.InvalidMemoryAccess;
      return openGrpc(up, upLen, svc, svcLen, method, methodLen, md, mdLen, message, timeoutMs, tokenPtr);
    },

    proxy_grpc_stream(...args: number[]): WasmResult {
      if (args.length === 7) {
        const [up, upLen, svc, svcLen, method, methodLen, tokenPtr] = args as [number, number, number, number, number, number, number];
        return openGrpc(up, upLen, svc, svcLen, method, methodLen, 0, 0, null, 0, tokenPtr);
      }
      const [up, upLen, svc, svcLen, method, methodLen, md, mdLen, tokenPtr] = args as [number, number, number, number, number, number, number, number, number];
      return openGrpc(up, upLen, svc, svcLen, method, methodLen, md, mdLen, null, 0, tokenPtr);
    },

    proxy_grpc_send(token: number, messagePtr: number, messageLen: number, endStream: number): WasmResult {
      const call = state.grpcCalls.get(token >>> 0);
      if (call === undefined) return WasmResult.NotFound;
      const message = memory.copy(messagePtr, messageLen);
      if (message === null) return WasmResult.InvalidMemoryAccess;
      return call.send(message, endStream !== 0);
    },

    // Envoy: cancel drops the call with no callback; close half-closes a stream (its close
    // callback still comes) and cancels a unary call (see openGrpc).
    proxy_grpc_cancel(token: number): WasmResult {
      const call = state.grpcCalls.get(token >>> 0);
      if (call === undefined) return WasmResult.NotFound;
      state.grpcCalls.delete(token >>> 0);
      call.cancel();
      return WasmResult.Ok;
    },

    proxy_grpc_close(token: number): WasmResult {
      const call = state.grpcCalls.get(token >>> 0);
      if (call === undefined) return WasmResult.NotFound;
      call.closeSend();
      return WasmResult.Ok;
    },

    // ---- shared data and queues ----------------------------------------------------------------

    proxy_get_shared_data(keyPtr: number, keyLen: number, ptrOut: number, lenOut: number, casPtr: number): WasmResult {
      const key = memory.key(keyPtr, keyLen, sharedDataKeys);
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const entry = host.sharedData.get(host.vmId, key);
      if (entry === undefined) return WasmResult.NotFound;
      if (!memory.inBounds(casPtr, 4)) return WasmResult.InvalidMemoryAccess;
      const result = memory.returnBytes(ptrOut, lenOut, entry.value);
      if (result !== WasmResult.Ok) return result;
      memory.writeU32(casPtr, entry.cas);
      return WasmResult.Ok;
    },

    proxy_set_shared_data(keyPtr: number, keyLen: number, valuePtr: number, valueLen: number, cas: number): WasmResult {
      const key = memory.key(keyPtr, keyLen, sharedDataKeys);
      const value = memory.copy(valuePtr, valueLen);
      if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
      const result = host.sharedData.set(host.vmId, key, value, cas >>> 0, host.quotas.limits.shared_data_bytes);
      if (result === WasmResult.InternalFailure) host.quotas.refused('shared_data_bytes');
      return result;
    },

    proxy_register_shared_queue(namePtr: number, nameLen: number, queueIdPtr: number): WasmResult {
      const name = memory.string(namePtr, nameLen);
      if (name === null || !memory.inBounds(queueIdPtr, 4)) return WasmResult.InvalidMemoryAccess;
      memory.writeU32(queueIdPtr, host.queues.register(host.vmId, name, state.callbacks.queueReady, host.quotas.limits.queue_depth));
      return WasmResult.Ok;
    },

    proxy_resolve_shared_queue(vmIdPtr: number, vmIdLen: number, namePtr: number, nameLen: number, queueIdPtr: number): WasmResult {
      const vmId = memory.string(vmIdPtr, vmIdLen);
      const name = memory.string(namePtr, nameLen);
      if (vmId === null || name === null) return WasmResult.InvalidMemoryAccess;
      const queueId = host.queues.resolve(vmId === '' ? host.vmId : vmId, name);
      if (queueId === undefined) return WasmResult.NotFound;
      return memory.writeU32(queueIdPtr, queueId) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_enqueue_shared_queue(queueId: number, ptr: number, len: number): WasmResult {
      const data = memory.copy(ptr, len);
      if (data === null) return WasmResult.InvalidMemoryAccess;
      const result = host.queues.enqueue(queueId >>> 0, data);
      if (result === WasmResult.InternalFailure) host.quotas.refused('queue_depth');
      return result;
    },

    proxy_dequeue_shared_queue(queueId: number, ptrOut: number, lenOut: number): WasmResult {
      const item = host.queues.dequeue(queueId >>> 0);
      if (item === undefined) return WasmResult.NotFound;
      if (item === null) return WasmResult.Empty;
      return memory.returnBytes(ptrOut, lenOut, item);
    },

    // ---- metrics -------------------------------------------------------------------------------

    proxy_define_metric(type: number, namePtr: number, nameLen: number, metricIdPtr: number): WasmResult {
      if (type >>> 0 > MAX_METRIC_TYPE) return WasmResult.BadArgument;
      const name = memory.string(namePtr, nameLen);
      if (name === null || !memory.inBounds(metricIdPtr, 4)) return WasmResult.InvalidMemoryAccess;
      if (!host.quotas.mayDefineMetric(name)) return WasmResult.InternalFailure;
      memory.writeU32(metricIdPtr, host.metrics.define(type, name));
      return WasmResult.Ok;
    },

    proxy_increment_metric(metricId: number, delta: bigint): WasmResult {
      return host.metrics.increment(metricId >>> 0, delta);
    },

    proxy_record_metric(metricId: number, value: bigint): WasmResult {
      return host.metrics.record(metricId >>> 0, BigInt.asUintN(64, value));
    },

    proxy_get_metric(metricId: number, valuePtr: number): WasmResult {
      const value = host.metrics.get(metricId >>> 0);
      if (typeof value === 'number') return value;
      return memory.writeU64(valuePtr, value) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    // ---- properties ----------------------------------------------------------------------------

    proxy_get_property(pathPtr: number, pathLen: number, ptrOut: number, lenOut: number): WasmResult {
      const key = memory.key(pathPtr, pathLen, propertyKeys);
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const value = key === undefined ? undefined : state.property(key);
      if (value === undefined) return WasmResult.NotFound;
      return memory.returnBytes(ptrOut, lenOut, value);
    },

    proxy_set_property(pathPtr: number, pathLen: number, valuePtr: number, valueLen: number): WasmResult {
      const key = memory.key(pathPtr, pathLen, propertyKeys);
      const value = memory.copy(valuePtr, valueLen);
      if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
      return key === undefined ? WasmResult.Ok : state.setProperty(key, value); // a host attribute: unchanged
    },

    // ---- contexts and foreign functions --------------------------------------------------------

    proxy_set_effective_context(contextId: number): WasmResult {
      return state.setEffectiveContext(contextId >>> 0) ? WasmResult.Ok : WasmResult.BadArgument;
    },

    proxy_done(): WasmResult {
      if (!state.rootDonePending || state.rootDoneCalled) return WasmResult.NotFound;
      state.rootDoneCalled = true;
      return WasmResult.Ok;
    },

    proxy_call_foreign_function(namePtr: number, nameLen: number, argsPtr: number, argsLen: number, ptrOut: number, lenOut: number): WasmResult {
      const name = memory.string(namePtr, nameLen);
      const args = memory.copy(argsPtr, argsLen);
      if (name === null || args === null) return WasmResult.InvalidMemoryAccess;
      // Results are optional: both out-pointers 0 means the caller does not want them.
      const wantsResults = ptrOut !== 0 || lenOut !== 0;
      if (wantsResults && (!memory.inBounds(ptrOut, 4) || !memory.inBounds(lenOut, 4))) return WasmResult.InvalidMemoryAccess;
      const fn = host.foreignFunction(name);
      if (fn === undefined) return WasmResult.NotFound;
      const result = fn(args);
      if (typeof result === 'number') return result;
      return wantsResults ? memory.returnBytes(ptrOut, lenOut, result) : WasmResult.Ok;
    },

    // ---- ABI 0.1.0 names -----------------------------------------------------------------------

    proxy_get_configuration(ptrOut: number, lenOut: number): WasmResult {
      return memory.returnBytes(ptrOut, lenOut, state.pluginConfig);
    },

    proxy_continue_request(): WasmResult {
      return streamAction('proxy_continue_request', StreamType.HttpRequest, resume);
    },

    proxy_continue_response(): WasmResult {
      return streamAction('proxy_continue_response', StreamType.HttpResponse, resume);
    },

    proxy_clear_route_cache(): WasmResult {
      return WasmResult.Ok; // routes are properties here, read when the request goes upstream
    },

    // ---- other env imports seen in the wild ----------------------------------------------------

    /** AssemblyScript's abort(message, fileName, line, column), when not mapped to proc_exit. */
    abort(messagePtr: number, filePtr: number, line: number, column: number): never {
      const message = assemblyScriptString(messagePtr) ?? '(no message)';
      const file = assemblyScriptString(filePtr) ?? '?';
      throw new GuestAbort(`abort: ${message} at ${file}:${line >>> 0}:${column >>> 0}`);
    },

    /** AssemblyScript's seed for Math.random. */
    seed(): number {
      return Math.random() * Number.MAX_SAFE_INTEGER;
    },

    /** The C++ SDK's growth hook: nothing to do, GuestMemory re-derives its views on growth. */
    emscripten_notify_memory_growth(): void {},

    pthread_equal(left: number, right: number): number {
      return left === right ? 1 : 0;
    },
  };
}

function sameText(text: string): string {
  return text;
}


/** Flat [name, value, ...] to entries, names lowercased (as Envoy does for headers filters send). */
function toEntries(flat: readonly string[]): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) entries.push([flat[i]!.toLowerCase(), flat[i + 1]!]);
  return entries;
}

function hasValue(entries: ReadonlyArray<readonly [string, string]>, name: string): boolean {
  for (const [key, value] of entries) if (key === name && value !== '') return true;
  return false;
}
