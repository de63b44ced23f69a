// noop: a context per request whose header callbacks answer Continue and do nothing else, and
// which declares them (RootContext.phases), as a filter that only looks at headers would: it
// measures what the host and the SDK's dispatch cost such a filter.
export * from "../../../../sdk/assembly/exports";
import { FilterHeadersStatus, HttpContext, Phases, RootContext, registerRootContext } from "../../../../sdk/assembly";

class Noop extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }
}

class NoopRoot extends RootContext {
  phases(): u32 {
    return Phases.RequestHeaders | Phases.ResponseHeaders;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Noop(contextId, this);
  }
}

registerRootContext((contextId: u32): RootContext => new NoopRoot(contextId), "noop");
