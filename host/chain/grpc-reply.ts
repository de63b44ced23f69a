// Local replies to gRPC requests, as Envoy makes them: HTTP 200, trailers-only (one HEADERS frame
// that ends the stream), the status as grpc-status, the text as grpc-message. The chain uses it
// for a filter's send_local_response, the exchange for the host's own errors.

/** A gRPC request (application/grpc, +proto, ...): local replies to it are gRPC replies. */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc');
}

/** gRPC's UNAVAILABLE: what a client may retry, and what an upstream that failed mid-call gives. */
export const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/**
 * The gRPC status of an error the host answers itself: its timeouts (504) are DEADLINE_EXCEEDED,
 * what a gRPC client expects when a deadline passes (Envoy's mapping says UNAVAILABLE); the rest
 * as Envoy maps HTTP statuses.
 */
export function hostErrorGrpcStatus(httpStatus: number): number {
  return httpStatus === 504 ? GRPC_DEADLINE_EXCEEDED : httpToGrpcStatus(httpStatus);
}

/** The grpc-timeout header (1 to 8 digits and a unit: H, M, S, m, u, n) in ms; undefined when absent or malformed. */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const msPerUnit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[match[2] as 'H' | 'M' | 'S' | 'm' | 'u' | 'n'];
  return Math.max(1, Math.ceil(amount * msPerUnit));
}

/** The headers a gRPC local reply sets itself. */
const GRPC_REPLY_OWN = new Set([':status', 'content-type', 'content-length', 'grpc-status', 'grpc-message']);

/** The reply sets this header itself: a filter's header of that name does not go beside it. */
export function isGrpcReplyOwn(name: string): boolean {
  return GRPC_REPLY_OWN.has(name);
}

/**
 * The head of a trailers-only reply: grpc-status is `grpcStatus` when given (>= 0), else mapped
 * from the HTTP status (Envoy's Grpc::Utility::httpToGrpcStatus); `message` becomes grpc-message.
 */
export function grpcReplyHeaders(httpStatus: number, grpcStatus: number, message: Uint8Array): string[] {
  const status = grpcStatus >= 0 ? grpcStatus : httpToGrpcStatus(httpStatus);
  const flat = [':status', '200', 'content-type', 'application/grpc', 'grpc-status', String(status)];
  if (message.length > 0) flat.push('grpc-message', percentEncode(message));
  return flat;
}

/** gRPC's grpc-message encoding: bytes outside printable ASCII, and '%', as %XX. */
export function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // Internal
    case 401:
      return 16; // Unauthenticated
    case 403:
      return 7; // PermissionDenied
    case 404:
      return 12; // Unimplemented
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_UNAVAILABLE;
    default:
      return 2; // Unknown
  }
}
