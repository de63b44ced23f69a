// The module's exports, as proxy-wasm ABI 0.2.1 names them. A filter's entry file re-exports
// them all with:
//   export * from "<path to>/sdk/assembly/exports";

import * as dispatcher from "./dispatcher";
import { RETURN_AREA, RETURN_AREA_BYTES, allocateForHost } from "./memory";
import { enterCallback, leaveCallback } from "./collector";
import "./abort";

/** Marker: this module speaks ABI 0.2.1. Never called. */
export function proxy_abi_version_0_2_1(): void {}

/** The host's allocator for data it hands over (the spec's name, then the older one). */
export function proxy_on_memory_allocate(size: usize): usize {
  return allocateForHost(size);
}
export function malloc(size: usize): usize {
  return allocateForHost(size);
}

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  enterCallback();
  dispatcher.onContextCreate(contextId, parentContextId);
  leaveCallback();
}

export function proxy_on_vm_start(rootContextId: u32, vmConfigurationSize: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onVmStart(rootContextId, vmConfigurationSize) ? 1 : 0;
  leaveCallback();
  return result;
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onConfigure(rootContextId, pluginConfigurationSize) ? 1 : 0;
  leaveCallback();
  return result;
}

/** Weft's extension: the HttpContext callbacks the filter implements (RootContext.phases()), asked once configured. */
export function weft_phases(rootContextId: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.phases(rootContextId);
  leaveCallback();
  return result;
}

/** Weft's extension: where the host may write returned values instead of calling the allocator (memory.ts). */
export function weft_return_area(): u32 {
  return <u32>RETURN_AREA;
}

/** Weft's extension: the size of that area. */
export function weft_return_area_bytes(): u32 {
  return RETURN_AREA_BYTES;
}

export function proxy_on_tick(rootContextId: u32): void {
  enterCallback();
  dispatcher.onTick(rootContextId);
  leaveCallback();
}

export function proxy_on_queue_ready(rootContextId: u32, queueId: u32): void {
  enterCallback();
  dispatcher.onQueueReady(rootContextId, queueId);
  leaveCallback();
}

export function proxy_on_foreign_function(rootContextId: u32, functionId: u32, argumentsSize: u32): void {
  enterCallback();
  dispatcher.onForeignFunction(rootContextId, functionId, argumentsSize);
  leaveCallback();
}

export function proxy_on_request_headers(contextId: u32, headerCount: u32, flags: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onRequestHeaders(contextId, headerCount, flags);
  leaveCallback();
  return result;
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onRequestBody(contextId, bodySize, endOfStream != 0);
  leaveCallback();
  return result;
}

export function proxy_on_request_trailers(contextId: u32, trailerCount: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onRequestTrailers(contextId, trailerCount);
  leaveCallback();
  return result;
}

export function proxy_on_response_headers(contextId: u32, headerCount: u32, flags: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onResponseHeaders(contextId, headerCount, flags);
  leaveCallback();
  return result;
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onResponseBody(contextId, bodySize, endOfStream != 0);
  leaveCallback();
  return result;
}

export function proxy_on_response_trailers(contextId: u32, trailerCount: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onResponseTrailers(contextId, trailerCount);
  leaveCallback();
  return result;
}

export function proxy_on_http_call_response(
  rootContextId: u32, token: u32, headerCount: u32, bodySize: u32, trailerCount: u32,
): void {
  enterCallback();
  dispatcher.onHttpCallResponse(rootContextId, token, headerCount, bodySize, trailerCount);
  leaveCallback();
}

export function proxy_on_grpc_receive_initial_metadata(rootContextId: u32, token: u32, count: u32): void {
  enterCallback();
  dispatcher.onGrpcReceiveInitialMetadata(rootContextId, token, count);
  leaveCallback();
}

export function proxy_on_grpc_receive(rootContextId: u32, token: u32, size: u32): void {
  enterCallback();
  dispatcher.onGrpcReceive(rootContextId, token, size);
  leaveCallback();
}

export function proxy_on_grpc_receive_trailing_metadata(rootContextId: u32, token: u32, count: u32): void {
  enterCallback();
  dispatcher.onGrpcReceiveTrailingMetadata(rootContextId, token, count);
  leaveCallback();
}

export function proxy_on_grpc_close(rootContextId: u32, token: u32, status: i32): void {
  enterCallback();
  dispatcher.onGrpcClose(rootContextId, token, status);
  leaveCallback();
}

export function proxy_on_log(contextId: u32): void {
  enterCallback();
  dispatcher.onLog(contextId);
  leaveCallback();
}

export function proxy_on_done(contextId: u32): u32 {
  enterCallback();
  const result: u32 = dispatcher.onDone(contextId) ? 1 : 0;
  leaveCallback();
  return result;
}

export function proxy_on_delete(contextId: u32): void {
  enterCallback();
  dispatcher.onDelete(contextId);
  leaveCallback();
}
