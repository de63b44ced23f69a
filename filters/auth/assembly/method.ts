// The interface every authentication method implements. Methods read the current request
// (the SDK's requestHeaders) and, when they allow it, apply their own effects to it:
// forwarded headers, stripped credentials, weft.auth.* properties.

import { HttpCallResponse } from "../../../sdk/assembly";
import { Outcome } from "./outcome";

export class AuthMethod {
  constructor(
    /** The method's name in the configuration. */
    readonly name: string,
    /** `api_key`, `jwt` or `ext_authz`: the value of weft.auth.method when it allows. */
    readonly type: string,
    /** The WWW-Authenticate scheme of its 401 challenges. */
    readonly scheme: string,
  ) {}

  /** Decides about the current request, or asks for a callout (Verdict.Pending). */
  authenticate(): Outcome {
    throw new Error("auth: method " + this.name + " does not implement authenticate");
  }

  /** Decides once the callout it asked for has been answered. */
  answer(response: HttpCallResponse): Outcome {
    throw new Error("auth: method " + this.name + " makes no callouts");
  }

  /** Decides once its gRPC check answered OK, from the CheckResponse message. */
  answerGrpc(message: ArrayBuffer): Outcome {
    throw new Error("auth: method " + this.name + " makes no gRPC calls");
  }

  /** The description of a 401 for a request without this method's credential. */
  missingDescription(): string {
    return "missing credentials";
  }

  /** Decides when the callout it asked for got no answer (refused, reset, timed out). */
  calloutFailed(): Outcome {
    throw new Error("auth: method " + this.name + " makes no callouts");
  }

  /**
   * Request headers this method sets for the upstream: removed from every incoming request,
   * so a client cannot pretend to be someone by sending them itself.
   */
  headersItSets(): Array<string> {
    return new Array<string>();
  }
}
