// header-setter: tries to set the configured header, {"name": "...", "value": "..."}, on the
// request and on the response in the three ways a filter can (add, replace, set_pairs), and
// tells the client what each call answered (response header x-setter-status), so a test can
// show that a header that would split the message is refused wherever it comes from.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HeaderMap, HttpContext, RootContext, WasmResult, registerRootContext, requestHeaders,
  responseHeaders, wasmResultName,
} from "../../../../sdk/assembly";

class HeaderSetterRoot extends RootContext {
  name: string = "";
  value: string = "";

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    this.name = config.getString("name");
    this.value = config.getString("value");
    return this.name.length > 0;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new HeaderSetter(contextId, this);
  }
}

/** "add=<result>,replace=<result>,set_pairs=<result>" for one map. */
function trySetting(headers: HeaderMap, name: string, value: string): string {
  const added = headers.add(name, value);
  const replaced = headers.replace(name, value);
  const pairs = headers.pairs();
  pairs.push(new Header(name, value));
  const set = headers.setPairs(pairs);
  return "add=" + wasmResultName(added) + ",replace=" + wasmResultName(replaced) + ",set_pairs=" + wasmResultName(set);
}

class HeaderSetter extends HttpContext {
  private readonly setterRoot: HeaderSetterRoot;
  private requestOutcome: string = "";

  constructor(contextId: u32, root: HeaderSetterRoot) {
    super(contextId, root);
    this.setterRoot = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.requestOutcome = trySetting(requestHeaders, this.setterRoot.name, this.setterRoot.value);
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const responseOutcome = trySetting(responseHeaders, this.setterRoot.name, this.setterRoot.value);
    responseHeaders.replace("x-setter-status", "request:" + this.requestOutcome + ";response:" + responseOutcome);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new HeaderSetterRoot(contextId), "header-setter");
