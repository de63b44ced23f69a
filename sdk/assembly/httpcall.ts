// The answer to an http_call, readable only inside the callback that receives it.

import * as hostcalls from "./hostcalls";
import { BufferType, Header, MapType, WasmResult } from "./types";

export class HttpCallResponse {
  readonly token: u32;
  readonly headerCount: u32;
  readonly bodySize: u32;
  readonly trailerCount: u32;

  constructor(token: u32, headerCount: u32, bodySize: u32, trailerCount: u32) {
    this.token = token;
    this.headerCount = headerCount;
    this.bodySize = bodySize;
    this.trailerCount = trailerCount;
  }

  /** True when the call got no response (connect failure, reset, timeout); see getStatus(). */
  get failed(): bool {
    return this.headerCount == 0;
  }

  headers(): Array<Header> {
    if (this.failed) return [];
    return hostcalls.getHeaderMapPairs(MapType.HttpCallResponseHeaders).value;
  }

  header(name: string): string | null {
    if (this.failed) return null;
    const result = hostcalls.getHeaderMapValue(MapType.HttpCallResponseHeaders, name);
    return result.status == WasmResult.Ok ? result.value : null;
  }

  /** The HTTP status (from `:status`), or 0 when the call failed. */
  get status(): u32 {
    const value = this.header(":status");
    return value === null ? 0 : <u32>U32.parseInt(value, 10);
  }

  body(): ArrayBuffer {
    if (this.bodySize == 0) return new ArrayBuffer(0);
    return hostcalls.getBufferBytes(BufferType.HttpCallResponseBody, 0, this.bodySize).value;
  }

  bodyString(): string {
    return String.UTF8.decode(this.body());
  }

  trailers(): Array<Header> {
    if (this.trailerCount == 0) return [];
    return hostcalls.getHeaderMapPairs(MapType.HttpCallResponseTrailers).value;
  }
}
