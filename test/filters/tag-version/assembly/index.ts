// tag-version: adds response header x-filter-version with the configured version
// (config {"version": "v1"}), so a test can tell which build of a filter served a request.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, registerRootContext, responseHeaders,
} from "../../../../sdk/assembly";

class TagVersionRoot extends RootContext {
  version: string = "";

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    this.version = config.getString("version");
    return this.version.length > 0;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new TagVersion(contextId, this);
  }
}

class TagVersion extends HttpContext {
  private readonly version: string;

  constructor(contextId: u32, root: TagVersionRoot) {
    super(contextId, root);
    this.version = root.version;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.replace("x-filter-version", this.version);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new TagVersionRoot(contextId), "tag-version");
