// What the admin API needs from the running proxy, as interfaces (the composition root
// passes the real objects; the admin never reaches into the proxy or the chain).

import type { ServiceRegistry } from '../discovery/service-registry.js';
import type { ChainControl } from '../registry/chain-control.js';
import type { FilterRegistry } from '../registry/filter-registry.js';
import type { Logger } from '../telemetry/logger.js';
import type { WeftMetrics } from '../telemetry/metrics.js';
import type { RequestStats } from '../telemetry/stats.js';
import type { Readiness } from './readiness.js';
import type { ServerInfo } from './routes/server.js';

export interface AdminDeps {
  readonly readiness: Readiness;
  /** Version, start time, listeners, workers, store: GET /server. */
  readonly server: ServerInfo;
  /** Filter modules and versions: /filters. */
  readonly registry: FilterRegistry;
  /** The chain spec, its changes and history: /chain. */
  readonly chains: ChainControl;
  readonly metrics: WeftMetrics;
  /** Per-cluster rates, success and latency over the last minute and hour: /stats. */
  readonly stats: RequestStats;
  readonly logger: Logger;
  /** Service instances: /services. Absent = no service registry routes. */
  readonly services?: ServiceRegistry;
}
