// What one authentication method concluded about a request.

import { Header } from "../../../sdk/assembly";

export enum Verdict {
  /** The credential is good: this method lets the request through. */
  Allow,
  /** The credential is bad, or the request is not allowed: answer with `status`. */
  Deny,
  /** The request carries no credential for this method. */
  Absent,
  /** An authorization service must be asked first (`callout`). */
  Pending,
}

/** An http_call (or, with grpcRequest, a gRPC Authorization/Check call) a method needs before it can decide. */
export class Callout {
  /** A CheckRequest to send to envoy.service.auth.v3.Authorization/Check instead of an http_call. */
  grpcRequest: ArrayBuffer | null = null;
  constructor(readonly cluster: string, readonly headers: Array<Header>, readonly timeoutMs: u32) {}
}

export class Outcome {
  verdict: Verdict;
  /** HTTP status of a denial. */
  status: u32 = 0;
  /** RFC 6750 error code for the challenge (invalid_token, insufficient_scope, ...), "" for none. */
  error: string = "";
  /** Human-readable reason: the body of the reply and the challenge's error_description. */
  description: string = "";
  /** The scope a 403 insufficient_scope challenge names ("" = none). */
  scope: string = "";
  /** A denial passed through from an authorization service: its body and headers as they came. */
  passthroughBody: ArrayBuffer | null = null;
  passthroughHeaders: Array<Header> = new Array<Header>();
  callout: Callout | null = null;
  /** Who an allowing method says the caller is ("" when it names nobody). */
  principal: string = "";

  private constructor(verdict: Verdict) {
    this.verdict = verdict;
  }

  static allow(principal: string): Outcome {
    const outcome = new Outcome(Verdict.Allow);
    outcome.principal = principal;
    return outcome;
  }

  static absent(): Outcome {
    return new Outcome(Verdict.Absent);
  }

  static pending(callout: Callout): Outcome {
    const outcome = new Outcome(Verdict.Pending);
    outcome.callout = callout;
    return outcome;
  }

  static deny(status: u32, error: string, description: string): Outcome {
    const outcome = new Outcome(Verdict.Deny);
    outcome.status = status;
    outcome.error = error;
    outcome.description = description;
    return outcome;
  }

  /** 401: the credential is missing, malformed, expired or not ours. */
  static invalid(error: string, description: string): Outcome {
    return Outcome.deny(401, error, description);
  }

  /** 403: the credential is good but does not allow this request. */
  static forbidden(error: string, description: string): Outcome {
    return Outcome.deny(403, error, description);
  }

  static passthrough(status: u32, body: ArrayBuffer, headers: Array<Header>): Outcome {
    const outcome = Outcome.deny(status, "", "denied by the authorization service");
    outcome.passthroughBody = body;
    outcome.passthroughHeaders = headers;
    return outcome;
  }
}
