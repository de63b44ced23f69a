// What every exchange shares: clusters, limits, the drain state, and where finished requests
// are reported (metrics and the access log).

import type { Clusters } from './clusters.js';

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
}

export interface ProxyContext {
  readonly clusters: Clusters;
  readonly defaultCluster: string | undefined;
  readonly limits: ProxyLimits;
  /** True once a drain started: responses ask clients to close their connections. */
  readonly draining: boolean;
  requestStarted(): void;
  requestFinished(request: FinishedRequest): void;
}
