// Routes the host's callbacks (by context id) to the filter's context objects.

import * as hostcalls from "./hostcalls";
import { Context, HttpContext, RootContext, openGrpcStreams, pendingGrpcCalls, pendingHttpCalls } from "./context";
import { HttpCallResponse } from "./httpcall";
import { BufferType, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, LogLevel, MapType, Phases, WasmResult } from "./types";

/** Builds the filter's root context for a VM. */
export type RootContextFactory = (contextId: u32) => RootContext;

const factories = new Map<string, RootContextFactory>();
const roots = new Map<u32, RootContext>();

// Stream contexts by id. The host hands ids out in sequence, so a ring indexed by an id's low
// bits holds every context that ends before STREAM_RING more have begun, which is nearly all,
// and finding one costs no hashing; a context still running when its slot comes round again
// moves to a Map beside the ring. A Map alone cost a proxy with 50 requests in flight ~60 ns
// per filter and request: hashing on every callback, and a rehash (allocating) every few requests.
// A slot remembers a stream whose createHttpContext answered null too (live, no context), so
// that a context created at its first callback is asked for once.
const STREAM_RING: u32 = 1024; // a power of two
const ringIds = new StaticArray<u32>(STREAM_RING);
const ringStreams = new StaticArray<HttpContext | null>(STREAM_RING);
const ringLive = new StaticArray<bool>(STREAM_RING);
const overflowStreams = new Map<u32, HttpContext | null>();
/** The root context last looked up: a VM has one root, almost always. */
let lastRootId: u32 = 0;
let lastRoot: RootContext | null = null;

/**
 * Weft's extension, answered with the phases (weft_phases): the SDK creates a stream's context at
 * the stream's first callback, so a host that knows the bit skips proxy_on_context_create, one
 * call into the VM per filter and request. Hosts that do not know it call proxy_on_context_create
 * as usual, and the context exists before the first callback.
 */
const CONTEXT_AT_FIRST_CALLBACK: u32 = 1 << 8;
/**
 * Weft's extension, answered with the phases too: when the host flags a headers callback as the
 * stream's last for this filter (LAST_CALLBACK in its end_of_stream argument; Weft does so when
 * the filter declared no later callback) and the filter answers Continue, the SDK deletes the
 * context (onDelete) right there and the host sends no proxy_on_delete: one call fewer again.
 */
const DELETES_AFTER_LAST_CALLBACK: u32 = 1 << 9;
const END_OF_STREAM: u32 = 1;
const LAST_CALLBACK: u32 = 2;
/** The root that creates stream contexts at their first callback; 0 until a host asked weft_phases. */
let firstCallbackRootId: u32 = 0;

/** The HttpContext of `contextId`, or null (no such stream, or createHttpContext returned null). */
function streamOf(contextId: u32): HttpContext | null {
  const slot = contextId & (STREAM_RING - 1);
  if (unchecked(ringIds[slot]) == contextId) return unchecked(ringStreams[slot]);
  if (overflowStreams.size == 0 || !overflowStreams.has(contextId)) return null;
  return overflowStreams.get(contextId);
}

/** A stream callback's context: streamOf, or the context created now when this is the stream's first callback. */
function streamFor(contextId: u32): HttpContext | null {
  const slot = contextId & (STREAM_RING - 1);
  if (unchecked(ringIds[slot]) == contextId) return unchecked(ringStreams[slot]);
  if (overflowStreams.size > 0 && overflowStreams.has(contextId)) return overflowStreams.get(contextId);
  return firstCallbackRootId == 0 ? null : createStream(contextId, firstCallbackRootId);
}

function createStream(contextId: u32, rootId: u32): HttpContext | null {
  const stream = rootOf(rootId).createHttpContext(contextId);
  addStream(contextId, stream);
  return stream;
}

function addStream(contextId: u32, stream: HttpContext | null): void {
  const slot = contextId & (STREAM_RING - 1);
  if (unchecked(ringLive[slot])) overflowStreams.set(unchecked(ringIds[slot]), unchecked(ringStreams[slot]));
  unchecked((ringIds[slot] = contextId));
  unchecked((ringStreams[slot] = stream));
  unchecked((ringLive[slot] = true));
}

function removeStream(contextId: u32): void {
  const slot = contextId & (STREAM_RING - 1);
  if (unchecked(ringIds[slot]) == contextId) {
    unchecked((ringStreams[slot] = null));
    unchecked((ringLive[slot] = false));
  } else if (overflowStreams.size > 0 && overflowStreams.has(contextId)) {
    overflowStreams.delete(contextId);
  }
}

/**
 * Declares the filter's root context, at the top level of the filter's entry file.
 * `rootId` is matched against the manifest's root_id (default: the filter's name); a filter
 * that registers only one root context gets it whatever the root_id is.
 */
export function registerRootContext(factory: RootContextFactory, rootId: string = ""): void {
  factories.set(rootId, factory);
}

function pickFactory(): RootContextFactory {
  if (factories.size == 1) return factories.values()[0];
  if (factories.size == 0) throw new Error("no root context: call registerRootContext() in the filter's entry file");
  const rootId = hostcalls.getProperty(["plugin_root_id"]);
  const name = rootId.status == WasmResult.Ok ? String.UTF8.decode(rootId.value) : "";
  if (!factories.has(name)) {
    throw new Error("no root context registered for root_id '" + name + "' (registered: " + factories.keys().join(", ") + ")");
  }
  return factories.get(name);
}

function rootOf(contextId: u32): RootContext {
  const cached = lastRoot;
  if (contextId == lastRootId && cached !== null) return cached;
  if (!roots.has(contextId)) throw new Error("unknown root context " + contextId.toString());
  const root = roots.get(contextId);
  lastRootId = contextId;
  lastRoot = root;
  return root;
}

export function onContextCreate(contextId: u32, parentId: u32): void {
  if (parentId == 0) {
    roots.set(contextId, pickFactory()(contextId));
    if (contextId == lastRootId) lastRoot = null;
    return;
  }
  removeStream(contextId); // an id used again never answers the old context
  createStream(contextId, parentId);
}

export function onVmStart(rootId: u32, vmConfigurationSize: u32): bool {
  return rootOf(rootId).onVmStart(vmConfigurationSize);
}

export function onConfigure(rootId: u32, pluginConfigurationSize: u32): bool {
  return rootOf(rootId).onConfigure(pluginConfigurationSize);
}

export function phases(rootId: u32): u32 {
  firstCallbackRootId = rootId;
  return (rootOf(rootId).phases() & Phases.All) | CONTEXT_AT_FIRST_CALLBACK | DELETES_AFTER_LAST_CALLBACK;
}

export function onTick(rootId: u32): void {
  rootOf(rootId).onTick();
}

export function onQueueReady(rootId: u32, queueId: u32): void {
  rootOf(rootId).onQueueReady(queueId);
}

export function onForeignFunction(rootId: u32, functionId: u32, argumentsSize: u32): void {
  rootOf(rootId).onForeignFunction(functionId, argumentsSize);
}

// Requests without an HttpContext (createHttpContext returned null) pass through.

/** `flags`: END_OF_STREAM, and LAST_CALLBACK from a host that knows DELETES_AFTER_LAST_CALLBACK. */
export function onRequestHeaders(contextId: u32, headerCount: u32, flags: u32): FilterHeadersStatus {
  const stream = streamFor(contextId);
  const status = stream === null ? FilterHeadersStatus.Continue : stream.onRequestHeaders(headerCount, (flags & END_OF_STREAM) != 0);
  if ((flags & LAST_CALLBACK) != 0 && status == FilterHeadersStatus.Continue) onDelete(contextId);
  return status;
}

export function onRequestBody(contextId: u32, bodySize: u32, endOfStream: bool): FilterDataStatus {
  const stream = streamFor(contextId);
  return stream === null ? FilterDataStatus.Continue : stream.onRequestBody(bodySize, endOfStream);
}

export function onRequestTrailers(contextId: u32, trailerCount: u32): FilterTrailersStatus {
  const stream = streamFor(contextId);
  return stream === null ? FilterTrailersStatus.Continue : stream.onRequestTrailers(trailerCount);
}

export function onResponseHeaders(contextId: u32, headerCount: u32, flags: u32): FilterHeadersStatus {
  const stream = streamFor(contextId);
  const status = stream === null ? FilterHeadersStatus.Continue : stream.onResponseHeaders(headerCount, (flags & END_OF_STREAM) != 0);
  if ((flags & LAST_CALLBACK) != 0 && status == FilterHeadersStatus.Continue) onDelete(contextId);
  return status;
}

export function onResponseBody(contextId: u32, bodySize: u32, endOfStream: bool): FilterDataStatus {
  const stream = streamFor(contextId);
  return stream === null ? FilterDataStatus.Continue : stream.onResponseBody(bodySize, endOfStream);
}

export function onResponseTrailers(contextId: u32, trailerCount: u32): FilterTrailersStatus {
  const stream = streamFor(contextId);
  return stream === null ? FilterTrailersStatus.Continue : stream.onResponseTrailers(trailerCount);
}

/** An http_call answer: back to the context that sent it, made current again first. */
export function onHttpCallResponse(rootId: u32, token: u32, headerCount: u32, bodySize: u32, trailerCount: u32): void {
  if (!pendingHttpCalls.has(token)) {
    hostcalls.log(LogLevel.Warn, "http_call response for unknown token " + token.toString());
    return;
  }
  const pending = pendingHttpCalls.get(token);
  pendingHttpCalls.delete(token);
  let origin: Context;
  const stream = streamOf(pending.contextId);
  if (stream !== null) {
    origin = stream;
    hostcalls.setEffectiveContext(pending.contextId);
  } else if (roots.has(pending.contextId)) {
    origin = roots.get(pending.contextId);
  } else {
    return; // the request ended before its callout did
  }
  const response = new HttpCallResponse(token, headerCount, bodySize, trailerCount);
  const callback = pending.callback;
  if (callback !== null) callback(origin, response);
  else origin.onHttpCallResponse(response);
}

/** The context that opened a gRPC call, made current again; null when it is gone. */
function grpcOrigin(contextId: u32): Context | null {
  const stream = streamOf(contextId);
  if (stream !== null) {
    hostcalls.setEffectiveContext(contextId);
    return stream;
  }
  return roots.has(contextId) ? roots.get(contextId) : null;
}

export function onGrpcReceiveInitialMetadata(rootId: u32, token: u32, count: u32): void {
  if (!openGrpcStreams.has(token)) return;
  const origin = grpcOrigin(openGrpcStreams.get(token));
  if (origin !== null) origin.onGrpcStreamInitialMetadata(token, hostcalls.getHeaderMapPairs(MapType.GrpcReceiveInitialMetadata).value);
}

/** A stream's message, or a unary call's response (Envoy's success callback; the call is over). */
export function onGrpcReceive(rootId: u32, token: u32, size: u32): void {
  const message = size == 0 ? new ArrayBuffer(0) : hostcalls.getBufferBytes(BufferType.GrpcReceiveBuffer, 0, size).value;
  if (pendingGrpcCalls.has(token)) {
    const origin = grpcOrigin(pendingGrpcCalls.get(token));
    pendingGrpcCalls.delete(token);
    if (origin !== null) origin.onGrpcCallResponse(token, 0, message, "");
  } else if (openGrpcStreams.has(token)) {
    const origin = grpcOrigin(openGrpcStreams.get(token));
    if (origin !== null) origin.onGrpcStreamMessage(token, message);
  }
}

export function onGrpcReceiveTrailingMetadata(rootId: u32, token: u32, count: u32): void {
  if (!openGrpcStreams.has(token)) return;
  const origin = grpcOrigin(openGrpcStreams.get(token));
  if (origin !== null) origin.onGrpcStreamTrailingMetadata(token, hostcalls.getHeaderMapPairs(MapType.GrpcReceiveTrailingMetadata).value);
}

/** A unary call that failed, or the end of a stream. */
export function onGrpcClose(rootId: u32, token: u32, status: i32): void {
  const text = hostcalls.getStatus().message;
  if (pendingGrpcCalls.has(token)) {
    const origin = grpcOrigin(pendingGrpcCalls.get(token));
    pendingGrpcCalls.delete(token);
    if (origin !== null) origin.onGrpcCallResponse(token, status, new ArrayBuffer(0), text);
  } else if (openGrpcStreams.has(token)) {
    const origin = grpcOrigin(openGrpcStreams.get(token));
    openGrpcStreams.delete(token);
    if (origin !== null) origin.onGrpcStreamClose(token, status, text);
  }
}

export function onLog(contextId: u32): void {
  if (roots.has(contextId)) {
    roots.get(contextId).onLog();
    return;
  }
  const stream = streamFor(contextId);
  if (stream !== null) stream.onLog();
}

export function onDone(contextId: u32): bool {
  if (roots.has(contextId)) return roots.get(contextId).onDone();
  const stream = streamFor(contextId);
  return stream === null ? true : stream.onDone();
}

export function onDelete(contextId: u32): void {
  const stream = streamOf(contextId);
  if (stream !== null) {
    stream.onDelete();
    removeStream(contextId);
  } else if (roots.has(contextId)) {
    roots.get(contextId).onDelete();
    roots.delete(contextId);
    if (contextId == lastRootId) lastRoot = null;
  } else {
    removeStream(contextId); // a stream without a context (createHttpContext answered null)
  }
  if (pendingHttpCalls.size > 0) forgetHttpCallsOf(contextId);
  if (pendingGrpcCalls.size > 0) forgetGrpcOf(pendingGrpcCalls, contextId);
  if (openGrpcStreams.size > 0) forgetGrpcOf(openGrpcStreams, contextId);
}

/** A deleted context's gRPC calls: cancelled, since nobody is left to hear their answer. */
function forgetGrpcOf(calls: Map<u32, u32>, contextId: u32): void {
  const tokens = calls.keys();
  for (let i = 0; i < tokens.length; i++) {
    if (calls.get(tokens[i]) != contextId) continue;
    calls.delete(tokens[i]);
    hostcalls.grpcCancel(tokens[i]);
  }
}

/** A deleted context's callouts: a host may never answer them, so do not keep them. */
function forgetHttpCallsOf(contextId: u32): void {
  const tokens = pendingHttpCalls.keys();
  for (let i = 0; i < tokens.length; i++) {
    if (pendingHttpCalls.get(tokens[i]).contextId == contextId) pendingHttpCalls.delete(tokens[i]);
  }
}
