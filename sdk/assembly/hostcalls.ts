// Typed wrappers over the raw host functions: strings in, UTF-8 out; every call returns the
// host's status, and calls that produce a value return it beside the status in a Result.
// No wrapper aborts: deciding what an error means is the caller's job (see the context API).

import * as imports from "./imports";
import { deserializePairs, serializePairs } from "./pairs";
import {
  OUT_LEN, OUT_PTR, OUT_U32, OUT_U64, lenOf, ptrOf, releaseOut, resetOut, scratchPtr, scratchUtf8, takeBytes, takeString, utf8,
  utf8Name,
} from "./memory";
import { BufferType, Header, LogLevel, MapType, MetricType, StreamType, WasmResult } from "./types";

/** A host status and the value that came with it (a default value unless status is Ok). */
export class Result<T> {
  status: WasmResult;
  value: T;
  constructor(status: WasmResult, value: T) {
    this.status = status;
    this.value = value;
  }
  get ok(): bool {
    return this.status == WasmResult.Ok;
  }
}

/** proxy_get_shared_data: the value and its compare-and-swap version. */
export class SharedDataResult extends Result<ArrayBuffer> {
  cas: u32;
  constructor(status: WasmResult, value: ArrayBuffer, cas: u32) {
    super(status, value);
    this.cas = cas;
  }
}

/** proxy_get_status: the status code and message of the last http_call / gRPC failure. */
export class StatusResult {
  status: WasmResult;
  code: u32;
  message: string;
  constructor(status: WasmResult, code: u32, message: string) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
}

/** A property path and its encoding; holding the segments keeps their addresses from being reused. */
class EncodedPath {
  constructor(readonly segments: Array<string>, readonly bytes: ArrayBuffer) {}

  matches(path: Array<string>): bool {
    const segments = this.segments;
    if (segments.length != path.length) return false;
    for (let i = 0; i < segments.length; i++) {
      if (changetype<usize>(unchecked(segments[i])) != changetype<usize>(unchecked(path[i]))) return false;
    }
    return true;
  }
}

const PATH_SLOTS = 32; // a power of two
/** Recently encoded paths, by their segments' addresses (strings are immutable: same objects, same bytes). */
const encodedPaths = new StaticArray<EncodedPath | null>(PATH_SLOTS);

/**
 * Property paths go over the wire as their segments joined by one NUL byte. A path made of the
 * same segment strings as a recent one (const TRACE_ID = ["weft", "trace", "trace_id"], or
 * ["weft", "cluster", name, "endpoints"] with a configured name) reuses that encoding.
 */
export function encodePropertyPath(path: Array<string>): ArrayBuffer {
  let hash: usize = path.length;
  for (let i = 0; i < path.length; i++) hash = hash * 31 + (changetype<usize>(unchecked(path[i])) >> 4);
  const slot = <i32>(hash & (PATH_SLOTS - 1));
  const cached = unchecked(encodedPaths[slot]);
  if (cached !== null && cached.matches(path)) return cached.bytes;
  const bytes = String.UTF8.encode(path.join("\0"));
  unchecked((encodedPaths[slot] = new EncodedPath(path.slice(0), bytes)));
  return bytes;
}

// ---- logging and time -------------------------------------------------------------------

export function log(level: LogLevel, message: string): WasmResult {
  const length = scratchUtf8(message);
  return <WasmResult>imports.proxy_log(<u32>level, scratchPtr(), length);
}

export function getLogLevel(): Result<LogLevel> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_log_level(OUT_U32);
  return new Result<LogLevel>(status, <LogLevel>load<u32>(OUT_U32));
}

export function getCurrentTimeNanoseconds(): Result<u64> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_current_time_nanoseconds(OUT_U64);
  return new Result<u64>(status, load<u64>(OUT_U64));
}

export function setTickPeriodMilliseconds(periodMs: u32): WasmResult {
  return <WasmResult>imports.proxy_set_tick_period_milliseconds(periodMs);
}

// ---- buffers ----------------------------------------------------------------------------

/** Length of a buffer (request body, plugin configuration, ...). */
export function getBufferStatus(bufferType: BufferType): Result<u32> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_buffer_status(<u32>bufferType, OUT_U32, OUT_U64);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

/** Up to `maxSize` bytes of a buffer from `start` (the host clips to what exists). */
export function getBufferBytes(bufferType: BufferType, start: u32, maxSize: u32): Result<ArrayBuffer> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_buffer_bytes(<u32>bufferType, start, maxSize, OUT_PTR, OUT_LEN);
  if (status != WasmResult.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
  return new Result<ArrayBuffer>(status, takeBytes());
}

/** start 0: drop `size` bytes and prepend `data` (0, whole length = replace); start >= length: append. */
export function setBufferBytes(bufferType: BufferType, start: u32, size: u32, data: ArrayBuffer): WasmResult {
  return <WasmResult>imports.proxy_set_buffer_bytes(<u32>bufferType, start, size, changetype<usize>(data), data.byteLength);
}

// ---- header maps ------------------------------------------------------------------------

/** Serialised size of a header map in bytes. */
export function getHeaderMapSize(mapType: MapType): Result<u32> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_header_map_size(<u32>mapType, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

export function getHeaderMapPairs(mapType: MapType): Result<Array<Header>> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_header_map_pairs(<u32>mapType, OUT_PTR, OUT_LEN);
  if (status != WasmResult.Ok) return new Result<Array<Header>>(status, []);
  const pairs = deserializePairs(<usize>load<u32>(OUT_PTR), <usize>load<u32>(OUT_LEN));
  releaseOut();
  return new Result<Array<Header>>(status, pairs);
}

export function setHeaderMapPairs(mapType: MapType, pairs: Array<Header>): WasmResult {
  const bytes = serializePairs(pairs);
  return <WasmResult>imports.proxy_set_header_map_pairs(<u32>mapType, changetype<usize>(bytes), bytes.byteLength);
}

/** First value of `key`; NotFound when absent. */
export function getHeaderMapValue(mapType: MapType, key: string): Result<string> {
  const status = fetchHeaderMapValue(mapType, key);
  if (status != WasmResult.Ok) return new Result<string>(status, "");
  return new Result<string>(status, takeString());
}

/**
 * proxy_get_header_map_value without a Result: the status; when Ok the value waits in the
 * out-slots for takeString()/takeBytes() (which free it). For the SDK's allocation-free paths.
 */
export function fetchHeaderMapValue(mapType: MapType, key: string): WasmResult {
  const keyBytes = utf8Name(key);
  resetOut();
  return <WasmResult>imports.proxy_get_header_map_value(
    <u32>mapType, changetype<usize>(keyBytes), keyBytes.byteLength, OUT_PTR, OUT_LEN);
}

export function addHeaderMapValue(mapType: MapType, key: string, value: string): WasmResult {
  const keyBytes = utf8Name(key);
  const valueLength = scratchUtf8(value);
  return <WasmResult>imports.proxy_add_header_map_value(<u32>mapType, changetype<usize>(keyBytes), keyBytes.byteLength, scratchPtr(), valueLength);
}

export function replaceHeaderMapValue(mapType: MapType, key: string, value: string): WasmResult {
  const keyBytes = utf8Name(key);
  const valueLength = scratchUtf8(value);
  return <WasmResult>imports.proxy_replace_header_map_value(<u32>mapType, changetype<usize>(keyBytes), keyBytes.byteLength, scratchPtr(), valueLength);
}

export function removeHeaderMapValue(mapType: MapType, key: string): WasmResult {
  const keyBytes = utf8Name(key);
  return <WasmResult>imports.proxy_remove_header_map_value(<u32>mapType, changetype<usize>(keyBytes), keyBytes.byteLength);
}

// ---- stream control ---------------------------------------------------------------------

export function continueStream(streamType: StreamType): WasmResult {
  return <WasmResult>imports.proxy_continue_stream(<u32>streamType);
}

export function closeStream(streamType: StreamType): WasmResult {
  return <WasmResult>imports.proxy_close_stream(<u32>streamType);
}

export function sendLocalResponse(
  statusCode: u32, details: string, body: ArrayBuffer | null, headers: Array<Header>, grpcStatus: i32,
): WasmResult {
  const detailBytes = utf8(details);
  const headerBytes = serializePairs(headers);
  return <WasmResult>imports.proxy_send_local_response(
    statusCode, changetype<usize>(detailBytes), detailBytes.byteLength, ptrOf(body), lenOf(body),
    changetype<usize>(headerBytes), headerBytes.byteLength, grpcStatus);
}

export function getStatus(): StatusResult {
  resetOut();
  const status = <WasmResult>imports.proxy_get_status(OUT_U32, OUT_PTR, OUT_LEN);
  if (status != WasmResult.Ok) return new StatusResult(status, 0, "");
  const code = load<u32>(OUT_U32);
  return new StatusResult(status, code, takeString());
}

// ---- http callouts ----------------------------------------------------------------------

/** Sends a request to `upstream` (a cluster name); the value is the call's token. */
export function httpCall(
  upstream: string, headers: Array<Header>, body: ArrayBuffer | null, trailers: Array<Header>, timeoutMs: u32,
): Result<u32> {
  const upstreamBytes = utf8(upstream);
  const headerBytes = serializePairs(headers);
  const trailerBytes = serializePairs(trailers);
  resetOut();
  const status = <WasmResult>imports.proxy_http_call(
    changetype<usize>(upstreamBytes), upstreamBytes.byteLength,
    changetype<usize>(headerBytes), headerBytes.byteLength,
    ptrOf(body), lenOf(body),
    changetype<usize>(trailerBytes), trailerBytes.byteLength,
    timeoutMs, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

// ---- gRPC callouts ----------------------------------------------------------------------

/** A unary call of /`service`/`method` on `upstream` (a cluster name); the value is the call's token. */
export function grpcCall(
  upstream: string, service: string, method: string, metadata: Array<Header>, message: ArrayBuffer | null, timeoutMs: u32,
): Result<u32> {
  const upstreamBytes = utf8(upstream);
  const serviceBytes = utf8(service);
  const methodBytes = utf8(method);
  const metadataBytes = serializePairs(metadata);
  resetOut();
  const status = <WasmResult>imports.proxy_grpc_call(
    changetype<usize>(upstreamBytes), upstreamBytes.byteLength,
    changetype<usize>(serviceBytes), serviceBytes.byteLength,
    changetype<usize>(methodBytes), methodBytes.byteLength,
    changetype<usize>(metadataBytes), metadataBytes.byteLength,
    ptrOf(message), lenOf(message), timeoutMs, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

/** Opens a stream to /`service`/`method` on `upstream`; the value is the stream's token. */
export function grpcStream(upstream: string, service: string, method: string, metadata: Array<Header>): Result<u32> {
  const upstreamBytes = utf8(upstream);
  const serviceBytes = utf8(service);
  const methodBytes = utf8(method);
  const metadataBytes = serializePairs(metadata);
  resetOut();
  const status = <WasmResult>imports.proxy_grpc_stream(
    changetype<usize>(upstreamBytes), upstreamBytes.byteLength,
    changetype<usize>(serviceBytes), serviceBytes.byteLength,
    changetype<usize>(methodBytes), methodBytes.byteLength,
    changetype<usize>(metadataBytes), metadataBytes.byteLength, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

export function grpcSend(token: u32, message: ArrayBuffer | null, endStream: bool): WasmResult {
  return <WasmResult>imports.proxy_grpc_send(token, ptrOf(message), lenOf(message), endStream ? 1 : 0);
}

export function grpcCancel(token: u32): WasmResult {
  return <WasmResult>imports.proxy_grpc_cancel(token);
}

export function grpcClose(token: u32): WasmResult {
  return <WasmResult>imports.proxy_grpc_close(token);
}

// ---- shared data and queues -------------------------------------------------------------

export function getSharedData(key: string): SharedDataResult {
  const keyBytes = utf8Name(key);
  resetOut();
  const status = <WasmResult>imports.proxy_get_shared_data(
    changetype<usize>(keyBytes), keyBytes.byteLength, OUT_PTR, OUT_LEN, OUT_U32);
  if (status != WasmResult.Ok) return new SharedDataResult(status, new ArrayBuffer(0), 0);
  const cas = load<u32>(OUT_U32);
  return new SharedDataResult(status, takeBytes(), cas);
}

/** cas 0 writes unconditionally; otherwise the write fails with CasMismatch unless cas is current. */
export function setSharedData(key: string, value: ArrayBuffer | null, cas: u32): WasmResult {
  const keyBytes = utf8Name(key);
  return <WasmResult>imports.proxy_set_shared_data(
    changetype<usize>(keyBytes), keyBytes.byteLength, ptrOf(value), lenOf(value), cas);
}

export function registerSharedQueue(name: string): Result<u32> {
  const nameBytes = utf8(name);
  resetOut();
  const status = <WasmResult>imports.proxy_register_shared_queue(changetype<usize>(nameBytes), nameBytes.byteLength, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

/** Finds a queue registered by VM `vmId` ("" = this VM's vm_id). */
export function resolveSharedQueue(vmId: string, name: string): Result<u32> {
  const vmIdBytes = utf8(vmId);
  const nameBytes = utf8(name);
  resetOut();
  const status = <WasmResult>imports.proxy_resolve_shared_queue(
    changetype<usize>(vmIdBytes), vmIdBytes.byteLength, changetype<usize>(nameBytes), nameBytes.byteLength, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

export function enqueueSharedQueue(queueId: u32, data: ArrayBuffer | null): WasmResult {
  return <WasmResult>imports.proxy_enqueue_shared_queue(queueId, ptrOf(data), lenOf(data));
}

/** Empty when the queue holds nothing, NotFound when it does not exist. */
export function dequeueSharedQueue(queueId: u32): Result<ArrayBuffer> {
  resetOut();
  const status = <WasmResult>imports.proxy_dequeue_shared_queue(queueId, OUT_PTR, OUT_LEN);
  if (status != WasmResult.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
  return new Result<ArrayBuffer>(status, takeBytes());
}

// ---- metrics ----------------------------------------------------------------------------

export function defineMetric(metricType: MetricType, name: string): Result<u32> {
  const nameBytes = utf8(name);
  resetOut();
  const status = <WasmResult>imports.proxy_define_metric(<u32>metricType, changetype<usize>(nameBytes), nameBytes.byteLength, OUT_U32);
  return new Result<u32>(status, load<u32>(OUT_U32));
}

export function incrementMetric(metricId: u32, offset: i64): WasmResult {
  return <WasmResult>imports.proxy_increment_metric(metricId, offset);
}

export function recordMetric(metricId: u32, value: u64): WasmResult {
  return <WasmResult>imports.proxy_record_metric(metricId, value);
}

export function getMetric(metricId: u32): Result<u64> {
  resetOut();
  const status = <WasmResult>imports.proxy_get_metric(metricId, OUT_U64);
  return new Result<u64>(status, load<u64>(OUT_U64));
}

// ---- properties -------------------------------------------------------------------------

export function getProperty(path: Array<string>): Result<ArrayBuffer> {
  const status = fetchProperty(path);
  if (status != WasmResult.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
  return new Result<ArrayBuffer>(status, takeBytes());
}

/** proxy_get_property without a Result: the status; when Ok the value waits in the out-slots (see fetchHeaderMapValue). */
export function fetchProperty(path: Array<string>): WasmResult {
  return fetchEncodedProperty(encodePropertyPath(path));
}

/** fetchProperty for a path already encoded (see PropertyPath). */
export function fetchEncodedProperty(pathBytes: ArrayBuffer): WasmResult {
  resetOut();
  return <WasmResult>imports.proxy_get_property(changetype<usize>(pathBytes), pathBytes.byteLength, OUT_PTR, OUT_LEN);
}

export function setProperty(path: Array<string>, value: ArrayBuffer | null): WasmResult {
  return setEncodedProperty(encodePropertyPath(path), value);
}

/** setProperty for a path already encoded (see PropertyPath). */
export function setEncodedProperty(pathBytes: ArrayBuffer, value: ArrayBuffer | null): WasmResult {
  return <WasmResult>imports.proxy_set_property(changetype<usize>(pathBytes), pathBytes.byteLength, ptrOf(value), lenOf(value));
}

/** setEncodedProperty with a text value, encoded without an allocation (scratchUtf8). */
export function setEncodedPropertyString(pathBytes: ArrayBuffer, value: string): WasmResult {
  const length = scratchUtf8(value);
  return <WasmResult>imports.proxy_set_property(changetype<usize>(pathBytes), pathBytes.byteLength, scratchPtr(), length);
}

// ---- contexts and foreign functions -----------------------------------------------------

export function setEffectiveContext(contextId: u32): WasmResult {
  return <WasmResult>imports.proxy_set_effective_context(contextId);
}

export function done(): WasmResult {
  return <WasmResult>imports.proxy_done();
}

export function callForeignFunction(name: string, args: ArrayBuffer | null): Result<ArrayBuffer> {
  const nameBytes = utf8(name);
  resetOut();
  const status = <WasmResult>imports.proxy_call_foreign_function(
    changetype<usize>(nameBytes), nameBytes.byteLength, ptrOf(args), lenOf(args), OUT_PTR, OUT_LEN);
  if (status != WasmResult.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
  return new Result<ArrayBuffer>(status, takeBytes());
}
