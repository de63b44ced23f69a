// Controlling the current stream: resuming a paused direction, resetting it, or
// answering the client directly.

import * as hostcalls from "./hostcalls";
import { GrpcStatus, Header, StreamType, WasmResult } from "./types";

/** Resumes a request paused by StopIteration (e.g. from an http_call callback). */
export function continueRequest(): WasmResult {
  return hostcalls.continueStream(StreamType.Request);
}

/** Resumes a paused response. */
export function continueResponse(): WasmResult {
  return hostcalls.continueStream(StreamType.Response);
}

/** Resets the stream in the request direction. */
export function closeRequest(): WasmResult {
  return hostcalls.closeStream(StreamType.Request);
}

/** Resets the stream in the response direction. */
export function closeResponse(): WasmResult {
  return hostcalls.closeStream(StreamType.Response);
}

/**
 * Answers the client with `status`, `body` and `headers` instead of the upstream. The reply
 * is sent after the current callback returns; filters after this one and the upstream are
 * not reached. Return StopIteration from the callback that calls it.
 */
export function sendLocalResponse(
  status: u32, body: string, headers: Array<Header> = [], details: string = "", grpcStatus: i32 = GrpcStatus.None,
): WasmResult {
  return hostcalls.sendLocalResponse(status, details, String.UTF8.encode(body), headers, grpcStatus);
}

/** sendLocalResponse with a binary (or null = empty) body. */
export function sendLocalResponseBytes(
  status: u32, body: ArrayBuffer | null, headers: Array<Header> = [], details: string = "", grpcStatus: i32 = GrpcStatus.None,
): WasmResult {
  return hostcalls.sendLocalResponse(status, details, body, headers, grpcStatus);
}
