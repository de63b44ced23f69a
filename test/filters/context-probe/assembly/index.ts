// context-probe: counts what happens to stream contexts, so a test can see when the SDK creates
// them (Weft's host leaves creation to the stream's first callback), how often, and that every
// created context is deleted once, also when the SDK deletes it after the filter's last headers
// callback. Configuration: "" declares every callback; "headers" only the two header callbacks;
// "request-headers" only the request's. Counters are named after the plugin (plugin_name).
export * from "../../../../sdk/assembly/exports";
import {
  Counter, FilterHeadersStatus, HttpContext, Phases, RootContext, getPropertyString, registerRootContext, requestHeaders, responseHeaders,
} from "../../../../sdk/assembly";

class Probe extends HttpContext {
  private readonly probe: ProbeRoot;

  constructor(contextId: u32, root: ProbeRoot) {
    super(contextId, root);
    this.probe = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.probe.requestHeaders.increment();
    // Held: the filter's last callback did not answer Continue, so its context stays.
    return requestHeaders.get("x-pause") !== null ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.replace("x-probe-context", this.contextId.toString());
    return FilterHeadersStatus.Continue;
  }

  onLog(): void {
    this.probe.logged.increment();
  }

  onDelete(): void {
    this.probe.deleted.increment();
  }
}

class ProbeRoot extends RootContext {
  mode: string = "";
  created!: Counter;
  declined!: Counter;
  requestHeaders!: Counter;
  logged!: Counter;
  deleted!: Counter;

  onConfigure(pluginConfigurationSize: u32): bool {
    this.mode = this.getPluginConfiguration();
    const name = getPropertyString(["plugin_name"]);
    const prefix = name === null ? "probe" : name;
    this.created = new Counter(prefix + "_contexts_created");
    this.declined = new Counter(prefix + "_contexts_declined");
    this.requestHeaders = new Counter(prefix + "_request_headers");
    this.logged = new Counter(prefix + "_contexts_logged");
    this.deleted = new Counter(prefix + "_contexts_deleted");
    return true;
  }

  phases(): u32 {
    if (this.mode == "headers") return Phases.RequestHeaders | Phases.ResponseHeaders;
    if (this.mode == "request-headers") return Phases.RequestHeaders;
    return Phases.All;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    if (requestHeaders.get("x-decline") !== null) {
      this.declined.increment();
      return null;
    }
    this.created.increment();
    return new Probe(contextId, this);
  }
}

registerRootContext((contextId: u32): RootContext => new ProbeRoot(contextId), "context-probe");
