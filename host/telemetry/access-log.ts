// One JSON line per request, on the log's stream. It is on the hot path, so the line is
// built by hand (JSON.stringify only for strings) instead of through pino's serialiser, and
// with `access_log: off` the proxy checks `enabled` and builds nothing.

import type { AccessLogMode } from '../config/schema.js';
import { loggerDestination, type Logger } from './logger.js';

/**
 * What the proxy records per request. The proxy may pass its (pooled) request object if it
 * has these fields; nothing is kept after `write` returns.
 */
export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  /** `host:port` of the endpoint that answered; null when no upstream was reached. */
  upstream: string | null;
  /** Response flags (UF, UH, UO, UT, URX, ...); "" when none. */
  flags: string;
  /** Body bytes sent to the client. */
  bytes_sent: number;
  /** Body bytes received from the client. */
  bytes_received: number;
  request_id: string;
  /** The route a router filter named (`weft.route.name`); null when none did. */
  route: string | null;
  /** Why the host answered with an error itself (the error body's text, e.g. `upstream request timeout`); null otherwise. */
  reason: string | null;
  /**
   * Envoy's response code details: `via_upstream`, or the details a filter gave its local
   * response (proxy_send_local_response); null when the host answered itself.
   */
  details: string | null;
  /** A gRPC call's grpc-status; null for other requests. */
  grpc_status: number | null;
}

export interface AccessLog {
  readonly enabled: boolean;
  write(entry: AccessLogEntry): void;
}

const OFF: AccessLog = { enabled: false, write() {} };

/** pino's number for "info", so tools reading the log treat access lines like any other. */
const INFO = 30;

/** `worker`: the worker thread's number, written in every line when several serve (host/workers/). */
export function createAccessLog(mode: AccessLogMode, logger: Logger, worker?: number): AccessLog {
  if (mode === 'off') return OFF;
  const destination = loggerDestination(logger);
  const workerField = worker === undefined ? '' : `,"worker":${worker}`;
  return {
    enabled: true,
    write(entry) {
      destination.write(
        `{"level":${INFO},"time":${Date.now()},"msg":"access"${workerField},"method":${JSON.stringify(entry.method)},"path":${JSON.stringify(entry.path)},` +
          `"status":${entry.status},"duration_ms":${Math.round(entry.duration_ms * 1000) / 1000},"upstream":${entry.upstream === null ? 'null' : JSON.stringify(entry.upstream)},` +
          `"flags":${JSON.stringify(entry.flags)},"bytes_sent":${entry.bytes_sent},"bytes_received":${entry.bytes_received},"request_id":${JSON.stringify(entry.request_id)},"route":${entry.route === null ? 'null' : JSON.stringify(entry.route)},"reason":${entry.reason === null ? 'null' : JSON.stringify(entry.reason)},` +
          `"details":${entry.details === null ? 'null' : JSON.stringify(entry.details)},"grpc_status":${entry.grpc_status ?? 'null'}}\n`,
      );
    },
  };
}
