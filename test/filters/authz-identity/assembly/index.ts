// authz-identity: gives a request the identity properties the auth filter would give it, from
// request headers (x-test-auth-principal, x-test-claim-<name>), so the authz tests control them
// directly. The mTLS identity (source.principal) is the host's and cannot be set by a filter:
// the tests get it from a real client certificate. See ../README.md.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, registerRootContext, requestHeaders, setPropertyString,
} from "../../../../sdk/assembly";

const CLAIM_PREFIX = "x-test-claim-";

class IdentityRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Identity(contextId, this);
  }
}

class Identity extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const pairs = requestHeaders.pairs();
    for (let i = 0; i < pairs.length; i++) {
      const name = pairs[i].key;
      const value = pairs[i].value;
      if (name == "x-test-auth-principal") setPropertyString(["weft", "auth", "principal"], value);
      else if (name.startsWith(CLAIM_PREFIX)) setPropertyString(["weft", "auth", "claims", name.substring(CLAIM_PREFIX.length)], value);
    }
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new IdentityRoot(contextId), "authz-identity");
