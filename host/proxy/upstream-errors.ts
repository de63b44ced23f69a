// Maps an upstream failure to the one error shape Weft answers with: a status, a response flag
// for the access log (Envoy's vocabulary where it has a word), and a short reason for the body.

export interface UpstreamFailure {
  status: number;
  flag: string;
  reason: string;
  /** The request could not be sent at all: no fault of the upstream, nothing to retry or count against it. */
  unsendable?: boolean;
}

export function classifyUpstreamError(error: Error): UpstreamFailure {
  const code = (error as { code?: string }).code ?? '';
  switch (code) {
    // The pool refused the request before sending it (undici's codes, which h1-upstream.ts
    // uses too). Client headers that would cause this are refused at the intake
    // (request-framing.ts); what is left is a header a filter made. A 400, not a 5xx: the
    // breaker and outlier counts must not blame a healthy upstream.
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      return { status: 400, flag: 'IH', reason: `request cannot be sent upstream: ${error.message}`, unsendable: true };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { status: 504, flag: 'UF', reason: 'upstream connect timeout' };
    case 'WEFT_UPSTREAM_TIMEOUT': // UpstreamTimeoutError: the host's own timers (upstream-attempt.ts)
      return { status: 504, flag: 'UT', reason: 'upstream request timeout' };
    case 'WEFT_UPSTREAM_TLS': // UpstreamTlsError (upstream-tls.ts): says which side refused, and why
      return { status: 502, flag: 'UF', reason: error.message };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return { status: 502, flag: 'UF', reason: `upstream connect error (${code})` };
    case 'WEFT_UPSTREAM_BAD_RESPONSE': // ResponseParseError (h1-response-parser.ts): says what was malformed
      return { status: 502, flag: 'UPE', reason: error.message };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { status: 502, flag: 'UR', reason: 'upstream reset the connection' };
    default:
      return { status: 502, flag: 'UF', reason: `upstream error: ${error.message}` };
  }
}
