// {{name}}: a starter filter. For each request it
//   - answers 403 when the path starts with one of `deny_paths`,
//   - copies the query parameter named by `tenant_param` into the request header x-tenant,
//   - counts requests per tenant (the metric {{name}}_requests_total{tenant="..."}),
// and on the response sets x-{{name}}-us: the microseconds the request spent behind it.
// Configuration (weft.yaml): {"deny_paths": ["/admin"], "tenant_param": "tenant"}
// Try a change: npm test builds and runs test/; npx weft dev serves it and swaps every rebuild.

// The callbacks the proxy calls (proxy_on_*): every filter's entry file re-exports them.
export * from "weft-sdk/assembly/exports";

import {
  ConfigReader, Counter, FilterHeadersStatus, HttpContext, RootContext, logError, monotonicNanoseconds,
  registerRootContext, requestHeaders, requestQueryParam, responseHeaders, sendLocalResponse,
} from "weft-sdk/assembly";

/** One per filter instance: the configuration and the counters, shared by every request. */
class Settings extends RootContext {
  denyPaths: Array<string> = new Array<string>();
  tenantParam: string = "tenant";
  private readonly counters: Map<string, Counter> = new Map<string, Counter>();

  onConfigure(configurationSize: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) {
      logError("{{name}}: the configuration is not JSON");
      return false;
    }
    // Every mistake is named with its field; returning false stops the proxy with them.
    const reader = new ConfigReader();
    if (reader.expectObject(config, "", ["deny_paths", "tenant_param"])) {
      this.denyPaths = reader.stringList(config, "", "deny_paths");
      this.tenantParam = reader.string(config, "", "tenant_param", "tenant");
    }
    if (!reader.ok) {
      logError("{{name}}: " + reader.message());
      return false;
    }
    return true;
  }

  /** The request counter of one tenant, defined the first time it is seen. */
  counterFor(tenant: string): Counter {
    if (!this.counters.has(tenant)) this.counters.set(tenant, new Counter("{{name}}_requests_total{tenant=\"" + tenant + "\"}"));
    return this.counters.get(tenant);
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Filter(contextId, this);
  }
}

/** One per request. */
class Filter extends HttpContext {
  private started: u64 = 0;

  constructor(contextId: u32, readonly settings: Settings) {
    super(contextId, settings);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.started = monotonicNanoseconds();
    const path = requestHeaders.get(":path");
    if (path !== null) {
      for (let i = 0; i < this.settings.denyPaths.length; i++) {
        if (path.startsWith(this.settings.denyPaths[i])) {
          sendLocalResponse(403, "forbidden\n");
          return FilterHeadersStatus.StopIteration;
        }
      }
    }
    const tenant = requestQueryParam(this.settings.tenantParam);
    if (tenant !== null) requestHeaders.replace("x-tenant", tenant);
    this.settings.counterFor(tenant !== null && isLabelSafe(tenant) ? tenant : "other").increment();
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (this.started > 0) responseHeaders.replace("x-{{name}}-us", ((monotonicNanoseconds() - this.started) / 1000).toString());
    return FilterHeadersStatus.Continue;
  }
}

/** Letters, digits, - and _ only: anything else could break the metric's label syntax. */
function isLabelSafe(text: string): bool {
  if (text.length == 0 || text.length > 64) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95;
    if (!ok) return false;
  }
  return true;
}

registerRootContext((contextId: u32): RootContext => new Settings(contextId), "{{name}}");
