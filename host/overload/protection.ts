// Overload protection as the composition root sees it: a guard on every cluster whose manifest
// entry asks for circuit breakers or adaptive concurrency, the overload manager when the
// manifest has `overload`, the properties filters read, and the /stats section. With none of
// it configured nothing is built and the request path only tests two undefined fields.

import { encodeInt64 } from '../abi/properties.js';
import type { Manifest } from '../config/schema.js';
import type { Cluster, Clusters } from '../proxy/clusters.js';
import type { Logger } from '../telemetry/logger.js';
import type { Registry } from 'prom-client';
import { ClusterGuard, clusterGuardNeeded } from './cluster-guard.js';
import { OverloadManager, type OverloadEffects, type OverloadReport } from './overload-manager.js';
import { OverloadMetrics } from './overload-metrics.js';

export interface ClusterGuardReport {
  name: string;
  requests_in_flight: number;
  /** Present when the cluster has adaptive concurrency. */
  adaptive_concurrency?: {
    limit: number;
    in_flight: number;
    min_rtt_ms: number;
    sample_rtt_ms: number;
    gradient: number;
    measuring_min_rtt: boolean;
    refused_total: number;
  };
}

export interface OverloadStatsReport {
  clusters: ClusterGuardReport[];
  manager?: OverloadReport;
}

const PREFIX = 'weft.cluster.';
const LIMIT_SUFFIX = '.concurrency_limit';
const IN_FLIGHT_SUFFIX = '.in_flight';

export class OverloadProtection {
  readonly manager: OverloadManager | undefined;
  private readonly guards: Array<{ cluster: Cluster; guard: ClusterGuard }> = [];

  constructor(manifest: Manifest, clusters: Clusters, registry: Registry, logger: Logger, effects: OverloadEffects) {
    const metrics = new OverloadMetrics(registry);
    for (const spec of manifest.clusters) {
      if (!clusterGuardNeeded(spec)) continue;
      const cluster = clusters.get(spec.name)!;
      const guard = new ClusterGuard(cluster, spec.circuit_breakers, spec.adaptive_concurrency, metrics.cluster(spec.name), logger);
      cluster.guard = guard;
      this.guards.push({ cluster, guard });
    }
    this.manager = manifest.overload === undefined ? undefined : new OverloadManager(manifest.overload, metrics.overloadManager(), logger, effects);
  }

  /** Whether /stats gets an `overload` section. */
  get configured(): boolean {
    return this.manager !== undefined || this.guards.length > 0;
  }

  start(): void {
    for (const { guard } of this.guards) guard.start();
    this.manager?.start();
  }

  stop(): void {
    for (const { guard } of this.guards) guard.stop();
    this.manager?.stop();
  }

  /**
   * Host properties for filters: `weft.cluster.<name>.concurrency_limit` (the adaptive limit now)
   * and `weft.cluster.<name>.in_flight` (requests admitted to the cluster and not finished), each
   * a little-endian int64; not found for a cluster without a guard (or without adaptive
   * concurrency, for the limit).
   */
  property(key: string): Uint8Array | undefined {
    if (!key.startsWith(PREFIX)) return undefined;
    for (const { cluster, guard } of this.guards) {
      if (key.length <= PREFIX.length + cluster.name.length || !key.startsWith(cluster.name, PREFIX.length)) continue;
      const suffix = key.slice(PREFIX.length + cluster.name.length);
      if (suffix === IN_FLIGHT_SUFFIX) return encodeInt64(guard.inFlight);
      if (suffix === LIMIT_SUFFIX && guard.controller !== undefined) return encodeInt64(guard.controller.limit);
    }
    return undefined;
  }

  report(): OverloadStatsReport {
    const clusters = this.guards.map(({ cluster, guard }): ClusterGuardReport => {
      const controller = guard.controller;
      if (controller === undefined) return { name: cluster.name, requests_in_flight: guard.inFlight };
      return {
        name: cluster.name,
        requests_in_flight: guard.inFlight,
        adaptive_concurrency: {
          limit: controller.limit,
          in_flight: controller.inFlight,
          min_rtt_ms: round(controller.minRttMs),
          sample_rtt_ms: round(controller.sampleRttMs),
          gradient: round(controller.gradient),
          measuring_min_rtt: controller.measuringMinRtt,
          refused_total: controller.refused,
        },
      };
    });
    return this.manager === undefined ? { clusters } : { clusters, manager: this.manager.report() };
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
