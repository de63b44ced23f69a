// Bodies of the current stream, as buffered so far by the host.

import * as hostcalls from "./hostcalls";
import { expectOk } from "./errors";
import { BufferType, WasmResult } from "./types";

export class Body {
  readonly bufferType: BufferType;

  constructor(bufferType: BufferType) {
    this.bufferType = bufferType;
  }

  /** Up to `maxSize` bytes from `start`; empty when there is no body. */
  get(start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): ArrayBuffer {
    const result = hostcalls.getBufferBytes(this.bufferType, start, maxSize);
    if (result.status == WasmResult.NotFound) return new ArrayBuffer(0);
    expectOk(result.status, "proxy_get_buffer_bytes");
    return result.value;
  }

  /** The body decoded as UTF-8. */
  getString(start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): string {
    return String.UTF8.decode(this.get(start, maxSize));
  }

  /** Replaces everything buffered so far. */
  replace(data: ArrayBuffer): WasmResult {
    return hostcalls.setBufferBytes(this.bufferType, 0, u32.MAX_VALUE, data);
  }

  replaceString(text: string): WasmResult {
    return this.replace(String.UTF8.encode(text));
  }

  /** Adds bytes after what is buffered. */
  append(data: ArrayBuffer): WasmResult {
    return hostcalls.setBufferBytes(this.bufferType, u32.MAX_VALUE, 0, data);
  }

  /** Inserts bytes before what is buffered. */
  prepend(data: ArrayBuffer): WasmResult {
    return hostcalls.setBufferBytes(this.bufferType, 0, 0, data);
  }
}

export const requestBody = new Body(BufferType.RequestBody);
export const responseBody = new Body(BufferType.ResponseBody);
