// Clusters and their endpoints, each endpoint with one keep-alive undici pool.
// Choosing among endpoints is the lb filter's job (it sets weft.upstream.endpoint); the smooth
// weighted round robin here is only the fallback when no filter chose.

import { Pool } from 'undici';
import type { ClusterSpec } from '../config/schema.js';

export class Endpoint {
  readonly address: string;
  /** Requests sent and not yet finished: what least-request balancing reads. */
  inFlight = 0;
  /** Smooth weighted round robin state (nginx's algorithm). */
  currentWeight = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly weight: number,
    readonly pool: Pool,
  ) {
    this.address = `${host}:${port}`;
  }
}

export class Cluster {
  readonly name: string;
  readonly endpoints: Endpoint[];
  readonly timeoutMs: number;
  private readonly byAddress = new Map<string, Endpoint>();
  private totalWeight = 0;

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
    for (const endpoint of this.endpoints) {
      this.byAddress.set(endpoint.address, endpoint);
      this.totalWeight += endpoint.weight;
    }
  }

  endpoint(address: string): Endpoint | undefined {
    return this.byAddress.get(address);
  }

  /** Smooth weighted round robin: spreads a 1:3 split as b a b b rather than a b b b. */
  pick(): Endpoint | undefined {
    let best: Endpoint | undefined;
    for (const endpoint of this.endpoints) {
      endpoint.currentWeight += endpoint.weight;
      if (best === undefined || endpoint.currentWeight > best.currentWeight) best = endpoint;
    }
    if (best !== undefined) best.currentWeight -= this.totalWeight;
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
