// responder: answers every request itself with a local response whose status and body come
// from the config ({"status": 200, "body": "..."}), adding header x-responder-saw-chain with
// the request's x-chain value as this filter saw it ("" when absent). The upstream and the
// filters after it are never reached.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HttpContext, RootContext, registerRootContext, requestHeaders, sendLocalResponse,
} from "../../../../sdk/assembly";

class ResponderRoot extends RootContext {
  status: u32 = 200;
  body: string = "";

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    this.status = <u32>config.getInteger("status", 200);
    this.body = config.getString("body");
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Responder(contextId, this);
  }
}

class Responder extends HttpContext {
  private readonly config: ResponderRoot;

  constructor(contextId: u32, root: ResponderRoot) {
    super(contextId, root);
    this.config = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const chain = requestHeaders.get("x-chain");
    sendLocalResponse(this.config.status, this.config.body, [
      new Header("content-type", "text/plain"),
      new Header("x-responder-saw-chain", chain === null ? "" : chain),
    ]);
    return FilterHeadersStatus.StopIteration;
  }
}

registerRootContext((contextId: u32): RootContext => new ResponderRoot(contextId), "responder");
