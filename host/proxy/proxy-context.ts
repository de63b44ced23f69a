// What every exchange shares: clusters, limits, the drain state, where finished requests
// are reported (metrics and the access log), and the tracer when tracing is on.

import type { HeaderMap } from '../abi/header-map.js';
import type { RequestInfo } from '../chain/http-stream.js';
import type { OverloadRefusal } from '../overload/cluster-guard.js';
import type { Clusters } from './clusters.js';

/**
 * What any listener engine parses of a request's head at most. Weft answers 431 itself past
 * `limits.max_request_headers_kb` (at most this), so the engines get this ceiling above it.
 */
export const HEADER_BYTES_CEILING = 256 * 1024;

export interface ProxyLimits {
  maxBufferedBodyBytes: number;
  /** Request line + headers larger than this are answered 431 before any filter runs. */
  maxRequestHeaderBytes: number;
}

export interface FinishedRequest {
  method: string;
  path: string;
  /** 0 when the client went away before any response. */
  status: number;
  startTimeMs: number;
  cluster: string;
  upstream: string;
  flags: string;
  bytesSent: number;
  bytesReceived: number;
  requestId: string | undefined;
  /** The router's `weft.route.name`, when a filter named the route. */
  route: string | undefined;
  /** Why the host answered with an error itself (the error body's text); undefined otherwise. */
  reason: string | undefined;
  /** response.code_details: via_upstream, or a filter's local response details. */
  details: string | undefined;
  /** A gRPC call's grpc-status (from the response's trailers, or its head when trailers-only); undefined for other requests, or when none came. */
  grpcStatus: number | undefined;
}

export interface ProxyContext {
  readonly clusters: Clusters;
  readonly defaultCluster: string | undefined;
  readonly limits: ProxyLimits;
  /** True once a drain started, or while the overload manager stops keep-alive: responses ask clients to close their connections. */
  readonly draining: boolean;
  /** The overload manager (host/overload); undefined when the manifest has no `overload`. */
  readonly overload: { shed(): OverloadRefusal | undefined } | undefined;
  /** Spans per request and per upstream attempt; undefined when tracing is off (no cost then). */
  readonly tracer: RequestTracer | undefined;
  requestStarted(): void;
  requestFinished(request: FinishedRequest): void;
}

/** Makes the spans of requests (host/telemetry/tracing.ts). */
export interface RequestTracer {
  /** A request arrived: `headers` is its map, read again once the filters have run. */
  startRequest(headers: HeaderMap, info: RequestInfo): RequestTrace;
}

/** The spans of one request. */
export interface RequestTrace {
  /**
   * One try at the upstream; `upstreamHeaders` (undici's flat array, about to be sent) get this
   * attempt's `traceparent`.
   */
  startAttempt(endpoint: string, attempt: number, upstreamHeaders: string[]): AttemptTrace;
  /** The request is over; `route` is the router's `weft.route.name`. */
  end(request: FinishedRequest, route: string | undefined): void;
}

export interface AttemptTrace {
  /** The upstream answered with `status`. */
  responded(status: number): void;
  /** The attempt is over; `failure` says why when it ended without a whole response (a flag or a reason). */
  end(failure?: string): void;
}
