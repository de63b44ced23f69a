// Local replies to gRPC requests, as Envoy makes them: HTTP 200, trailers-only (one HEADERS frame
// that ends the stream), the status as grpc-status, the text as grpc-message. The chain uses it
// for a filter's send_local_response, the exchange for the host's own errors.

/** A gRPC request (application/grpc, +proto, ...): local replies to it are gRPC replies. */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc');
}

/** gRPC's UNAVAILABLE: what a client may retry, and what an upstream that failed mid-call gives. */
export const GRPC_UNAVAILABLE = 14;

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
