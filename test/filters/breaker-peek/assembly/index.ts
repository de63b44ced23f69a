// breaker-peek: lets a test read the shared data the breaker (and ratelimit) keep.
// Request header `x-peek: <key>` answers 200 application/json {"found": false}, or
// {"found": true, "bytes": <length>} plus "int": <value> when the value is 8 bytes (a
// little-endian i64: an ejection deadline, an in-flight count). Other requests pass untouched.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HttpContext, JsonValue, RootContext, getSharedData, registerRootContext,
  requestHeaders, sendLocalResponse,
} from "../../../../sdk/assembly";

class PeekRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Peek(contextId, this);
  }
}

class Peek extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const key = requestHeaders.get("x-peek");
    if (key === null) return FilterHeadersStatus.Continue;
    const value = getSharedData(key);
    const out = JsonValue.newObject().setBool("found", value !== null);
    if (value !== null) {
      out.setInteger("bytes", value.bytes.byteLength);
      if (value.bytes.byteLength == 8) out.setInteger("int", load<i64>(changetype<usize>(value.bytes)));
    }
    sendLocalResponse(200, out.stringify(), [new Header("content-type", "application/json")]);
    return FilterHeadersStatus.StopIteration;
  }
}

registerRootContext((contextId: u32): RootContext => new PeekRoot(contextId), "breaker-peek");
