// burner: keeps the CPU busy on request, for the overload manager's event-loop measure.
// Request header x-burn-ms: N spins (reading the host clock) for N milliseconds in
// on_request_headers, then lets the request through; without it the filter does nothing.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, getCurrentTimeNanoseconds, registerRootContext, requestHeaders,
} from "../../../../sdk/assembly";

// A global the loop writes, so the optimizer cannot drop the loop.
let spins: u64 = 0;

class BurnerRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Burner(contextId, this);
  }
}

class Burner extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const burn = requestHeaders.get("x-burn-ms");
    if (burn === null) return FilterHeadersStatus.Continue;
    const until = getCurrentTimeNanoseconds() + <u64>I32.parseInt(burn) * 1_000_000;
    // The clock is read every 10,000 spins: each read may allocate, and the runtime does not collect.
    while (getCurrentTimeNanoseconds() < until) {
      for (let i = 0; i < 10_000; i++) spins++;
    }
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new BurnerRoot(contextId), "burner");
