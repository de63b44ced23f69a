// auth-probe: stands where an authorization filter would, after auth, and shows the upstream
// what auth published: weft.auth.principal / weft.auth.method as request headers
// x-probe-principal / x-probe-method, and weft.auth.claims.<name> as x-probe-claim-<name> for
// each name in config {"claims": [...]}. Properties that are not set give no header.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, getPropertyString, registerRootContext, requestHeaders,
} from "../../../../sdk/assembly";

class ProbeRoot extends RootContext {
  claims: Array<string> = new Array<string>();

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    const claims = config.get("claims");
    if (claims !== null) {
      const items = claims.asArray();
      for (let i = 0; i < items.length; i++) this.claims.push(items[i].asString());
    }
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Probe(contextId, this);
  }
}

class Probe extends HttpContext {
  constructor(contextId: u32, readonly probe: ProbeRoot) {
    super(contextId, probe);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    copy(["weft", "auth", "principal"], "x-probe-principal");
    copy(["weft", "auth", "method"], "x-probe-method");
    for (let i = 0; i < this.probe.claims.length; i++) {
      const name = this.probe.claims[i];
      copy(["weft", "auth", "claims", name], "x-probe-claim-" + name);
    }
    return FilterHeadersStatus.Continue;
  }
}

function copy(property: Array<string>, header: string): void {
  const value = getPropertyString(property);
  if (value !== null) requestHeaders.replace(header, value);
  else requestHeaders.remove(header);
}

registerRootContext((contextId: u32): RootContext => new ProbeRoot(contextId), "auth-probe");
