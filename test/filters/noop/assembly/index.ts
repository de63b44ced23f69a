// noop: a context per request whose callbacks all answer Continue, so it measures what the
// SDK's dispatch costs a filter that does nothing.
export * from "../../../../sdk/assembly/exports";
import { HttpContext, RootContext, registerRootContext } from "../../../../sdk/assembly";

class NoopRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new HttpContext(contextId, this);
  }
}

registerRootContext((contextId: u32): RootContext => new NoopRoot(contextId), "noop");
