// What the admin API needs from the running proxy, as interfaces (the composition root
// passes the real objects; the admin never reaches into the proxy or the chain).

import type { OnError } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { WeftMetrics } from '../telemetry/metrics.js';
import type { Readiness } from './readiness.js';

/** The running chain as GET /chain shows it. */
export interface ChainInfo {
  revision: number;
  filters: Array<{ name: string; sha256: string; on_error: OnError; abi_version: string }>;
}

export interface AdminDeps {
  readonly readiness: Readiness;
  chainInfo(): ChainInfo;
  readonly metrics: WeftMetrics;
  readonly logger: Logger;
}
