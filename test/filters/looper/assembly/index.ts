// looper: spins forever in on_request_headers when request header x-loop is "1" (for the
// host's containment of a filter that never returns); passes other requests through.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, registerRootContext, requestHeaders,
} from "../../../../sdk/assembly";

// A global the loop writes, so the optimizer cannot prove the loop does nothing.
let spins: u64 = 0;

class LooperRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Looper(contextId, this);
  }
}

class Looper extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const loop = requestHeaders.get("x-loop");
    if (loop !== null && loop == "1") {
      while (true) spins++;
    }
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new LooperRoot(contextId), "looper");
