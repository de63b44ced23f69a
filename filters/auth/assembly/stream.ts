// One request through the auth filter: the policy's methods in order, possibly paused on an
// authorization service's answer, then allowed (weft.auth.* set) or denied (401 / 403 / the
// service's status, flag UAEX).

import {
  Context, FilterHeadersStatus, Header, HttpCallResponse, HttpContext, PropertyPath, RootContext, WasmResult, continueRequest,
  logWarn, matchingPath, requestHeaders, sendLocalResponse, sendLocalResponseBytes, wasmResultName,
} from "../../../sdk/assembly";
import { AuthConfig, Policy } from "./config";
import { AuthMethod } from "./method";
import { Outcome, Verdict } from "./outcome";
import { AUTHORIZATION_SERVICE, CHECK_METHOD } from "./authz-proto";

const ROUTE_NAME = new PropertyPath(["weft", "route", "name"]);
const AUTH_METHOD = new PropertyPath(["weft", "auth", "method"]);
const AUTH_PRINCIPAL = new PropertyPath(["weft", "auth", "principal"]);
const RESPONSE_FLAGS = new PropertyPath(["weft", "response", "flags"]);

/** Where a request stands after one method's outcome. */
enum Step {
  /** Go on with the next method. */
  Next,
  /** Authenticated: no further method is needed. */
  Decided,
  /** Answered with a denial. */
  Denied,
}

export class AuthStream extends HttpContext {
  private policy: Policy;
  /** Index of the next method to run. */
  private next: i32 = 0;
  private principal: string = "";
  /** The method whose callout is in flight. */
  private waiting: AuthMethod | null = null;

  constructor(contextId: u32, root: RootContext, readonly config: AuthConfig) {
    super(contextId, root);
    this.policy = config.fallback;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const config = this.config;
    for (let i = 0; i < config.protectedHeaders.length; i++) requestHeaders.remove(config.protectedHeaders[i]);
    // Without rules every request has the default policy: nothing to read.
    if (config.rules.length > 0) {
      const path = requestHeaders.get(":path");
      let route: string | null = null;
      if (config.usesRouteNames) route = ROUTE_NAME.getString();
      this.policy = config.policyFor(matchingPath(path === null ? "/" : path), route === null ? "" : route);
    }
    return this.proceed();
  }

  /** The authorization service answered (or did not): settle that method, then carry on. */
  calloutAnswered(response: HttpCallResponse): void {
    const method = this.waiting!;
    this.waiting = null;
    this.resumeWith(method, response.failed ? method.calloutFailed() : method.answer(response));
  }

  private resumeWith(method: AuthMethod, outcome: Outcome): void {
    const step = this.settle(method, outcome);
    if (step == Step.Denied) return;
    const status = step == Step.Decided ? this.finish() : this.proceed();
    if (status == FilterHeadersStatus.Continue) continueRequest();
  }

  /** The gRPC Authorization service answered: OK -> its CheckResponse decides; any failure is no answer. */
  onGrpcCallResponse(token: u32, status: i32, message: ArrayBuffer, statusMessage: string): void {
    const method = this.waiting!;
    this.waiting = null;
    if (status != 0) logWarn("auth: gRPC check to " + method.name + " failed with status " + status.toString() + ": " + statusMessage);
    this.resumeWith(method, status == 0 ? method.answerGrpc(message) : method.calloutFailed());
  }

  /** Runs methods from `next` until one pauses, denies or decides, or none is left. */
  private proceed(): FilterHeadersStatus {
    const methods = this.policy.methods;
    while (this.next < methods.length) {
      const method = methods[this.next++];
      let outcome = method.authenticate();
      if (outcome.verdict == Verdict.Pending) {
        const callout = outcome.callout!;
        const grpcRequest = callout.grpcRequest;
        const call = grpcRequest !== null
          ? this.dispatchGrpcCall(callout.cluster, AUTHORIZATION_SERVICE, CHECK_METHOD, [], grpcRequest, callout.timeoutMs)
          : this.httpCall(callout.cluster, callout.headers, null, callout.timeoutMs, onCalloutAnswer);
        if (call.status == WasmResult.Ok) {
          this.waiting = method;
          return FilterHeadersStatus.StopIteration;
        }
        logWarn("auth: call to " + callout.cluster + " refused: " + wasmResultName(call.status));
        outcome = method.calloutFailed();
      }
      const step = this.settle(method, outcome);
      if (step == Step.Denied) return FilterHeadersStatus.StopIteration;
      if (step == Step.Decided) return this.finish();
    }
    // require: any, and the request carried none of the credentials.
    if (this.policy.requireAny && methods.length > 0) {
      this.deny(Outcome.invalid("", missingDescription(methods)), methods);
      return FilterHeadersStatus.StopIteration;
    }
    return this.finish();
  }

  private settle(method: AuthMethod, outcome: Outcome): Step {
    if (outcome.verdict == Verdict.Allow) {
      if (outcome.principal.length > 0) this.principal = outcome.principal;
      AUTH_METHOD.setString(method.type);
      return this.policy.requireAny ? Step.Decided : Step.Next;
    }
    if (outcome.verdict == Verdict.Absent) {
      if (this.policy.requireAny) return Step.Next;
      this.deny(Outcome.invalid("", method.missingDescription()), [method]);
      return Step.Denied;
    }
    this.deny(outcome, [method]);
    return Step.Denied;
  }

  /** Authenticated by the policy: check the principal list, publish the principal. */
  private finish(): FilterHeadersStatus {
    if (this.policy.methods.length == 0) return FilterHeadersStatus.Continue; // a route without authentication
    const allowed = this.policy.principals;
    if (allowed.length > 0 && !allowed.includes(this.principal)) {
      this.deny(Outcome.forbidden("", "not allowed here"), []);
      return FilterHeadersStatus.StopIteration;
    }
    AUTH_PRINCIPAL.setString(this.principal);
    return FilterHeadersStatus.Continue;
  }

  /**
   * Answers the request: the status, a challenge per scheme of `methods` on a 401 (and on a
   * 403 that names an RFC 6750 error), flag UAEX for the access log.
   */
  private deny(outcome: Outcome, methods: Array<AuthMethod>): void {
    const headers = new Array<Header>();
    let challenged = false;
    for (let i = 0; i < outcome.passthroughHeaders.length; i++) {
      const header = outcome.passthroughHeaders[i];
      headers.push(header);
      if (header.key == "www-authenticate") challenged = true;
    }
    if (!challenged && (outcome.status == 401 || outcome.error.length > 0)) {
      const schemes = new Array<string>();
      for (let i = 0; i < methods.length; i++) {
        if (schemes.includes(methods[i].scheme)) continue;
        schemes.push(methods[i].scheme);
        headers.push(new Header("www-authenticate", this.challenge(methods[i].scheme, outcome)));
      }
    }
    RESPONSE_FLAGS.setString("UAEX");
    const body = outcome.passthroughBody;
    if (body !== null) {
      sendLocalResponseBytes(outcome.status, body, headers, "auth");
      return;
    }
    headers.push(new Header("content-type", "text/plain"));
    sendLocalResponse(outcome.status, outcome.description + "\n", headers, "auth");
  }

  /** RFC 6750 §3: no error attributes when the request carried no credentials. */
  private challenge(scheme: string, outcome: Outcome): string {
    let text = scheme + " realm=\"" + this.config.realm + "\"";
    if (outcome.error.length > 0) {
      text += ", error=\"" + outcome.error + "\", error_description=\"" + outcome.description + "\"";
      if (outcome.scope.length > 0) text += ", scope=\"" + outcome.scope + "\"";
    }
    return text;
  }
}

function onCalloutAnswer(origin: Context, response: HttpCallResponse): void {
  (origin as AuthStream).calloutAnswered(response);
}

function missingDescription(methods: Array<AuthMethod>): string {
  const parts = new Array<string>();
  for (let i = 0; i < methods.length; i++) {
    const text = methods[i].missingDescription();
    if (!parts.includes(text)) parts.push(text);
  }
  return parts.join(" or ");
}
