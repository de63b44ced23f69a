// Clusters and their endpoints, each endpoint with one keep-alive undici pool.
// Choosing among endpoints is the lb filter's job (it sets weft.upstream.endpoint); the smooth
// weighted round robin here is only the fallback when no filter chose.

import { Pool } from 'undici';
import type { ClusterSpec } from '../config/schema.js';

/** Weight of the newest sample in the latency EWMA: about the last ten responses count. */
const EWMA_ALPHA = 0.2;
/** Gateway failures are counted per second over this many seconds (`recent_failures`). */
const FAILURE_WINDOW_S = 10;

export class Endpoint {
  readonly address: string;
  /** Requests sent and not yet finished: what least-request balancing reads. */
  inFlight = 0;
  /** Smooth weighted round robin state (nginx's algorithm). */
  currentWeight = 0;
  /** False while a registry instance misses its heartbeats; static endpoints stay healthy. */
  healthy = true;
  latencyEwmaMs = 0;
  consecutiveFailures = 0;
  requestsTotal = 0;
  /** Gateway failures per second, a ring indexed by (second % window); stamps say which second a slot holds. */
  private readonly failureCounts = new Uint32Array(FAILURE_WINDOW_S);
  private readonly failureStamps = new Float64Array(FAILURE_WINDOW_S);

  constructor(
    readonly host: string,
    readonly port: number,
    readonly weight: number,
    readonly pool: Pool,
  ) {
    this.address = `${host}:${port}`;
  }

  /** An upstream answered (any status that is not a gateway failure) after `latencyMs`. */
  recordResponse(latencyMs: number): void {
    this.requestsTotal++;
    this.consecutiveFailures = 0;
    this.latencyEwmaMs = this.latencyEwmaMs === 0 ? latencyMs : this.latencyEwmaMs + EWMA_ALPHA * (latencyMs - this.latencyEwmaMs);
  }

  /** Connect failure, reset, timeout, or a 502/503/504 from the upstream itself. */
  recordGatewayFailure(nowMs: number): void {
    this.requestsTotal++;
    this.consecutiveFailures++;
    const second = Math.floor(nowMs / 1000);
    const slot = second % FAILURE_WINDOW_S;
    if (this.failureStamps[slot] !== second) {
      this.failureStamps[slot] = second;
      this.failureCounts[slot] = 0;
    }
    this.failureCounts[slot]!++;
  }

  recentFailures(nowMs: number): number {
    const oldest = Math.floor(nowMs / 1000) - FAILURE_WINDOW_S;
    let total = 0;
    for (let i = 0; i < FAILURE_WINDOW_S; i++) if (this.failureStamps[i]! > oldest) total += this.failureCounts[i]!;
    return total;
  }
}

export class Cluster {
  readonly name: string;
  readonly endpoints: Endpoint[];
  readonly timeoutMs: number;
  private readonly byAddress = new Map<string, Endpoint>();

  constructor(spec: ClusterSpec) {
    this.name = spec.name;
    this.timeoutMs = spec.timeout_ms;
    this.endpoints = spec.endpoints.map((e) => {
      const pool = new Pool(`http://${e.host}:${e.port}`, {
        connections: 128,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connect: { timeout: spec.connect_timeout_ms },
        headersTimeout: spec.timeout_ms,
        bodyTimeout: spec.timeout_ms,
      });
      return new Endpoint(e.host, e.port, e.weight, pool);
    });
    for (const endpoint of this.endpoints) this.byAddress.set(endpoint.address, endpoint);
  }

  endpoint(address: string): Endpoint | undefined {
    return this.byAddress.get(address);
  }

  /**
   * Smooth weighted round robin over healthy endpoints: spreads a 1:3 split as b a b b rather
   * than a b b b. `avoid` (a retry's failed endpoint) is skipped unless it is the only one.
   */
  pick(avoid?: Endpoint): Endpoint | undefined {
    let best: Endpoint | undefined;
    let total = 0;
    for (const endpoint of this.endpoints) {
      if (!endpoint.healthy || (endpoint === avoid && this.endpoints.length > 1)) continue;
      total += endpoint.weight;
      endpoint.currentWeight += endpoint.weight;
      if (best === undefined || endpoint.currentWeight > best.currentWeight) best = endpoint;
    }
    if (best !== undefined) best.currentWeight -= total;
    return best;
  }

  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.pool.close()));
  }
}

export class Clusters {
  private readonly byName = new Map<string, Cluster>();

  constructor(specs: readonly ClusterSpec[]) {
    for (const spec of specs) this.byName.set(spec.name, new Cluster(spec));
  }

  get(name: string): Cluster | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.byName.values();
  }

  async close(): Promise<void> {
    await Promise.all([...this.byName.values()].map((c) => c.close()));
  }
}
