// hog: allocates memory on request, for the host's memory cap (max_memory_mb).
// Request header x-hog: "forever" allocates 1 MiB blocks and keeps every one until allocation
// fails (it traps then); a number N allocates and keeps N MiB, then lets the request through
// with response header x-hog-kept-mb: <MiB this VM holds>. Without x-hog it passes through.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, registerRootContext, requestHeaders, responseHeaders,
} from "../../../../sdk/assembly";

const MIB: i32 = 1 << 20;

// A module global keeps the blocks reachable, so the collector cannot give the memory back.
const kept: ArrayBuffer[] = [];

class HogRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Hog(contextId, this);
  }
}

class Hog extends HttpContext {
  private hogged: bool = false;

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const hog = requestHeaders.get("x-hog");
    if (hog === null) return FilterHeadersStatus.Continue;
    this.hogged = true;
    if (hog == "forever") {
      while (true) kept.push(new ArrayBuffer(MIB));
    }
    const blocks = I32.parseInt(hog);
    for (let i = 0; i < blocks; i++) kept.push(new ArrayBuffer(MIB));
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (this.hogged) responseHeaders.replace("x-hog-kept-mb", kept.length.toString());
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new HogRoot(contextId), "hog");
