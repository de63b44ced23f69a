// context-probe: counts what happens to stream contexts, so a test can see when the SDK creates
// them (Weft's host leaves creation to the stream's first callback), how often, and that every
// created context is deleted. A request with header x-decline gets no context.
export * from "../../../../sdk/assembly/exports";
import { Counter, FilterHeadersStatus, HttpContext, RootContext, registerRootContext, requestHeaders, responseHeaders } from "../../../../sdk/assembly";

class Probe extends HttpContext {
  private readonly probe: ProbeRoot;

  constructor(contextId: u32, root: ProbeRoot) {
    super(contextId, root);
    this.probe = root;
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
  created!: Counter;
  declined!: Counter;
  logged!: Counter;
  deleted!: Counter;

  onConfigure(pluginConfigurationSize: u32): bool {
    this.created = new Counter("probe_contexts_created");
    this.declined = new Counter("probe_contexts_declined");
    this.logged = new Counter("probe_contexts_logged");
    this.deleted = new Counter("probe_contexts_deleted");
    return true;
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
