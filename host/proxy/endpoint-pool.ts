// What every endpoint pool is made with, whatever protocol it speaks (h1-upstream.ts,
// h2-upstream.ts): the cluster (clusters.ts) builds one per endpoint from these.

import type { buildConnector } from 'undici';

export interface EndpointPoolOptions {
  /** undici's connector (plain, or TLS; upstream-tls.ts), which times connects out. */
  connector: buildConnector.connector;
  host: string;
  port: number;
  tls: boolean;
  /** Connections at most; what happens past it is the protocol's (HTTP/1.1 queues requests, HTTP/2 shares streams). */
  maxConnections: number;
  /** A connection with nothing in flight for this long is closed. */
  idleTimeoutMs: number;
}

/** Opens one connection to the pool's endpoint through its connector. */
export function connectEndpoint(options: EndpointPoolOptions, callback: buildConnector.Callback): void {
  const { host, port, tls } = options;
  options.connector({ hostname: host, host: `${host}:${port}`, protocol: tls ? 'https:' : 'http:', port: String(port) }, callback);
}
