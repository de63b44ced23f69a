// hello-filter: a small Weft filter, written the way you would write your own.
//
// - Every response gets a header `x-hello` whose value comes from the plugin configuration:
//   config { greeting: hi } -> `x-hello: hi`.
// - A request that carries `x-hello-deny: 1` is answered by the filter itself with
//   403 "hello-filter says no" and never reaches the upstream.

// The proxy-wasm functions the proxy calls: every filter re-exports them like this.
export * from "../../../sdk/assembly/exports";

import {
  FilterHeadersStatus, Header, HttpContext, Phases, RootContext, logInfo, registerRootContext, requestHeaders,
  responseHeaders, sendLocalResponse,
} from "../../../sdk/assembly";

/** One per filter instance: reads the configuration once. */
class HelloRoot extends RootContext {
  greeting: string = "hello";

  onConfigure(configurationSize: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false; // not JSON: the proxy refuses to start, and says why
    this.greeting = config.getString("greeting", "hello");
    logInfo("hello-filter configured with greeting '" + this.greeting + "'");
    return true;
  }

  // The callbacks Hello overrides: the proxy calls only these (optional; without it, all of them).
  phases(): u32 {
    return Phases.RequestHeaders | Phases.ResponseHeaders;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Hello(contextId, this);
  }
}

/** One per request. */
class Hello extends HttpContext {
  private readonly greeting: string;

  constructor(contextId: u32, root: HelloRoot) {
    super(contextId, root);
    this.greeting = root.greeting;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const deny = requestHeaders.get("x-hello-deny");
    if (deny !== null && deny == "1") {
      sendLocalResponse(403, "hello-filter says no\n", [new Header("content-type", "text/plain")]);
      return FilterHeadersStatus.StopIteration; // the answer is sent; nothing else runs
    }
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.replace("x-hello", this.greeting);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new HelloRoot(contextId), "hello");
