// tagger: appends its configured name to request header x-chain and to response header
// x-chain-resp (comma-joined), so a chain's order is visible on both sides.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HeaderMap, HttpContext, RootContext, registerRootContext, requestHeaders, responseHeaders,
} from "../../../../sdk/assembly";

class TaggerRoot extends RootContext {
  name: string = "";

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    this.name = config.getString("name");
    return this.name.length > 0;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Tagger(contextId, this);
  }
}

function appendTag(headers: HeaderMap, header: string, tag: string): void {
  const current = headers.get(header);
  headers.replace(header, current === null || current.length == 0 ? tag : current + "," + tag);
}

class Tagger extends HttpContext {
  private readonly tagRoot: TaggerRoot;

  constructor(contextId: u32, root: TaggerRoot) {
    super(contextId, root);
    this.tagRoot = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    appendTag(requestHeaders, "x-chain", this.tagRoot.name);
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    appendTag(responseHeaders, "x-chain-resp", this.tagRoot.name);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new TaggerRoot(contextId), "tagger");
