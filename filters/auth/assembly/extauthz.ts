// External authorization: the request is described to an authorization service (one of the
// manifest's clusters) with an http_call, and its answer decides. 2xx allows, and chosen
// headers of the answer are added to the upstream request; any other status is the answer
// the client gets, body included. Conventions as Traefik's ForwardAuth: the original
// method, URI and host travel as X-Forwarded-Method / -Uri / -Host.
// With `grpc: {cluster, timeout_ms}` the service is asked Envoy's way instead:
// envoy.service.auth.v3.Authorization/Check with a CheckRequest describing the request
// (authz-proto.ts); status.code OK allows (ok_response headers go upstream), anything else
// answers the client with denied_response's status (403 when none), headers and body.

import { Header, HttpCallResponse, JsonValue, logWarn, requestHeaders, setPropertyString } from "../../../sdk/assembly";
import { AuthMethod } from "./method";
import { Callout, Outcome } from "./outcome";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { stringList, lowercaseAll } from "./values";
import { decodeCheckResponse, encodeCheckRequest } from "./authz-proto";

export class ExtAuthzMethod extends AuthMethod {
  cluster: string = "";
  path: string = "/";
  authority: string = "";
  timeoutMs: u32 = 1000;
  /** Request headers sent to the service (when the request has them). */
  forwardHeaders: Array<string> = ["authorization", "cookie"];
  /** Headers of a 2xx answer added to the upstream request. */
  upstreamHeaders: Array<string> = new Array<string>();
  /** Headers of a denying answer passed on to the client. */
  clientHeaders: Array<string> = ["www-authenticate", "location", "set-cookie", "content-type"];
  /** Header of a 2xx answer that names the principal ("" = none). */
  principalHeader: string = "";
  /** No answer from the service: let the request through (true) or answer 503 (false). */
  failOpen: bool = false;
  /** Ask over gRPC (Authorization/Check) rather than HTTP. */
  grpc: bool = false;

  constructor(name: string) {
    super(name, "ext_authz", "Bearer");
  }

  static parse(name: string, config: JsonValue, reader: ConfigReader): ExtAuthzMethod {
    const where = "methods." + name;
    const method = new ExtAuthzMethod(name);
    reader.expectObject(config, where, [
      "type", "cluster", "path", "authority", "timeout_ms", "forward_headers", "upstream_headers", "client_headers",
      "principal_header", "fail_open", "grpc",
    ]);
    const grpc = reader.object(config, where, "grpc", ["cluster", "timeout_ms"]);
    if (grpc !== null) {
      const grpcWhere = where + ".grpc";
      if (config.has("cluster")) reader.fail(where + ".cluster", "goes inside grpc when the service is asked over gRPC");
      method.grpc = true;
      method.cluster = reader.string(grpc, grpcWhere, "cluster", "");
      if (method.cluster.length == 0) reader.fail(grpcWhere + ".cluster", "is required: the cluster of the Authorization service");
      method.timeoutMs = <u32>reader.integer(grpc, grpcWhere, "timeout_ms", 1000, 0);
    } else if (!config.has("grpc")) {
      method.cluster = reader.string(config, where, "cluster", "");
      if (method.cluster.length == 0) reader.fail(where + ".cluster", "is required: the cluster of the authorization service");
    }
    method.path = reader.string(config, where, "path", "/");
    if (!method.path.startsWith("/")) reader.fail(where + ".path", "must start with /");
    method.authority = reader.string(config, where, "authority", method.cluster);
    if (!method.grpc) method.timeoutMs = <u32>reader.integer(config, where, "timeout_ms", 1000, 0);
    if (config.has("forward_headers")) method.forwardHeaders = lowercaseAll(stringList(config.get("forward_headers"), where + ".forward_headers", reader));
    method.upstreamHeaders = lowercaseAll(stringList(config.get("upstream_headers"), where + ".upstream_headers", reader));
    if (config.has("client_headers")) method.clientHeaders = lowercaseAll(stringList(config.get("client_headers"), where + ".client_headers", reader));
    method.principalHeader = reader.string(config, where, "principal_header", "").toLowerCase();
    method.failOpen = reader.boolean(config, where, "fail_open", false);
    return method;
  }

  headersItSets(): Array<string> {
    return this.upstreamHeaders;
  }

  authenticate(): Outcome {
    if (this.grpc) {
      const callout = new Callout(this.cluster, [], this.timeoutMs);
      callout.grpcRequest = encodeCheckRequest();
      return Outcome.pending(callout);
    }
    const headers: Array<Header> = [
      new Header(":method", "GET"),
      new Header(":path", this.path),
      new Header(":authority", this.authority),
      new Header("x-forwarded-method", valueOr(requestHeaders.get(":method"))),
      new Header("x-forwarded-uri", valueOr(requestHeaders.get(":path"))),
      new Header("x-forwarded-host", valueOr(requestHeaders.get(":authority"))),
    ];
    for (let i = 0; i < this.forwardHeaders.length; i++) {
      const value = requestHeaders.get(this.forwardHeaders[i]);
      if (value !== null) headers.push(new Header(this.forwardHeaders[i], value));
    }
    return Outcome.pending(new Callout(this.cluster, headers, this.timeoutMs));
  }

  answer(response: HttpCallResponse): Outcome {
    const status = response.status;
    if (status < 200 || status > 299) {
      const passed = new Array<Header>();
      const answered = response.headers();
      for (let i = 0; i < answered.length; i++) {
        if (this.clientHeaders.includes(answered[i].key)) passed.push(answered[i]);
      }
      return Outcome.passthrough(status, response.body(), passed);
    }
    for (let i = 0; i < this.upstreamHeaders.length; i++) {
      const value = response.header(this.upstreamHeaders[i]);
      if (value !== null) requestHeaders.replace(this.upstreamHeaders[i], value);
    }
    let principal = "";
    if (this.principalHeader.length > 0) {
      const named = response.header(this.principalHeader);
      if (named !== null) principal = named;
    }
    return Outcome.allow(principal);
  }

  answerGrpc(message: ArrayBuffer): Outcome {
    const check = decodeCheckResponse(message);
    if (check.malformed) {
      logWarn("auth: authorization service " + this.cluster + " sent a CheckResponse that is not valid protobuf");
      return this.calloutFailed();
    }
    if (check.code != 0) {
      // Envoy: a denial without denied_response.status answers 403.
      const status = check.deniedStatus >= 200 && check.deniedStatus <= 599 ? check.deniedStatus : 403;
      const passed = new Array<Header>();
      for (let i = 0; i < check.deniedHeaders.length; i++) {
        if (this.clientHeaders.includes(check.deniedHeaders[i].key)) passed.push(check.deniedHeaders[i]);
      }
      return Outcome.passthrough(status, String.UTF8.encode(check.deniedBody), passed);
    }
    let principal = "";
    for (let i = 0; i < check.okHeaders.length; i++) {
      const header = check.okHeaders[i];
      if (!this.upstreamHeaders.includes(header.key)) continue; // only the headers it was told to take
      requestHeaders.replace(header.key, header.value);
      if (header.key == this.principalHeader) principal = header.value;
    }
    return Outcome.allow(principal);
  }

  calloutFailed(): Outcome {
    if (this.failOpen) {
      logWarn("auth: authorization service " + this.cluster + " did not answer; failing open");
      setPropertyString(["weft", "auth", "failed_open"], "true");
      return Outcome.allow("");
    }
    logWarn("auth: authorization service " + this.cluster + " did not answer; refusing the request");
    return Outcome.deny(503, "", "authorization service unavailable");
  }
}

function valueOr(value: string | null): string {
  return value === null ? "" : value;
}
