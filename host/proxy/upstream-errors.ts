// Maps an upstream failure to the one error shape Weft answers with: a status, a response flag
// for the access log (Envoy's vocabulary where it has a word), and a short reason for the body.

export interface UpstreamFailure {
  status: number;
  flag: string;
  reason: string;
}

export function classifyUpstreamError(error: Error): UpstreamFailure {
  const code = (error as { code?: string }).code ?? '';
  switch (code) {
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
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { status: 502, flag: 'UR', reason: 'upstream reset the connection' };
    default:
      return { status: 502, flag: 'UF', reason: `upstream error: ${error.message}` };
  }
}
