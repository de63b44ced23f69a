// pauser: holds each request while it asks another cluster, then resumes it.
// Config (JSON): {"cluster": "<name>", "path": "/auth", "deny_status": N, "fail_on_callout_error": bool,
//                 "timeout_ms": 5000}
// - request headers: http_call GET <path> to <cluster> (:authority = the cluster name, header
//   x-original-path = the request's :path) and answer StopIteration.
// - callback, callout answered: :status == deny_status -> local response 403 "denied by callout";
//   otherwise request header x-callout-status = the callout's :status, then continue.
// - callback, callout failed (refused, reset, timeout): fail_on_callout_error -> local response
//   503 "callout failed"; otherwise x-callout-status = "failed", then continue.
// - http_call refused by the host (e.g. unknown cluster): same as a failed callout, without pausing.
export * from "../../../../sdk/assembly/exports";
import {
  Context, FilterHeadersStatus, Header, HttpCallResponse, HttpContext, RootContext, WasmResult, continueRequest,
  registerRootContext, requestHeaders, sendLocalResponse,
} from "../../../../sdk/assembly";

class PauserRoot extends RootContext {
  cluster: string = "";
  path: string = "/auth";
  denyStatus: u32 = 0;
  failOnCalloutError: bool = false;
  timeoutMs: u32 = 5000;

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    this.cluster = config.getString("cluster");
    this.path = config.getString("path", "/auth");
    this.denyStatus = <u32>config.getInteger("deny_status", 0);
    this.failOnCalloutError = config.getBool("fail_on_callout_error", false);
    this.timeoutMs = <u32>config.getInteger("timeout_ms", 5000);
    return this.cluster.length > 0;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Pauser(contextId, this);
  }
}

class Pauser extends HttpContext {
  readonly config: PauserRoot;

  constructor(contextId: u32, root: PauserRoot) {
    super(contextId, root);
    this.config = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const path = requestHeaders.get(":path");
    const headers: Array<Header> = [
      new Header(":method", "GET"),
      new Header(":path", this.config.path),
      new Header(":authority", this.config.cluster),
      new Header("x-original-path", path === null ? "" : path),
    ];
    const call = this.httpCall(this.config.cluster, headers, null, this.config.timeoutMs, onCalloutResponse);
    if (call.status != WasmResult.Ok) {
      return this.calloutFailed() ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
    }
    return FilterHeadersStatus.StopIteration;
  }

  /** Applies the failure policy; true when it answered the request itself. */
  calloutFailed(): bool {
    if (this.config.failOnCalloutError) {
      sendLocalResponse(503, "callout failed");
      return true;
    }
    requestHeaders.replace("x-callout-status", "failed");
    return false;
  }
}

function onCalloutResponse(origin: Context, response: HttpCallResponse): void {
  const pauser = origin as Pauser;
  if (response.failed) {
    if (!pauser.calloutFailed()) continueRequest();
    return;
  }
  const status = response.status;
  if (pauser.config.denyStatus != 0 && status == pauser.config.denyStatus) {
    sendLocalResponse(403, "denied by callout");
    return;
  }
  requestHeaders.replace("x-callout-status", status.toString());
  continueRequest();
}

registerRootContext((contextId: u32): RootContext => new PauserRoot(contextId), "pauser");
