// The `weft_*` families of overload protection, registered only when a manifest turns some of
// it on (so /metrics shows no empty families otherwise). Cells are looked up once per cluster
// or action; the request path only bumps fields.

import type { Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, type CounterCell, type GaugeCell } from '../telemetry/series.js';

/** The cells of one cluster's guard. */
export interface GuardCells {
  overflows: { requests: CounterCell; pendingRequests: CounterCell };
  limit: GaugeCell;
  inFlight: GaugeCell;
  minRttSeconds: GaugeCell;
  sampleRttSeconds: GaugeCell;
  gradient: GaugeCell;
  measuringMinRtt: GaugeCell;
  refused: CounterCell;
}

/** The cells of the overload manager. */
export interface ManagerCells {
  eventLoopDelaySeconds: GaugeCell;
  heapUsedBytes: GaugeCell;
  active(action: string): GaugeCell;
  activations(action: string): CounterCell;
  shed: CounterCell;
}

export class OverloadMetrics {
  private families: ReturnType<typeof guardFamilies> | undefined;
  private manager: ReturnType<typeof managerFamilies> | undefined;

  constructor(private readonly registry: Registry) {}

  cluster(name: string): GuardCells {
    const f = (this.families ??= guardFamilies(this.registry));
    const labels = { cluster: name };
    return {
      overflows: {
        requests: f.overflows.cell({ cluster: name, limit: 'max_requests' }),
        pendingRequests: f.overflows.cell({ cluster: name, limit: 'max_pending_requests' }),
      },
      limit: f.limit.cell(labels),
      inFlight: f.inFlight.cell(labels),
      minRttSeconds: f.minRtt.cell(labels),
      sampleRttSeconds: f.sampleRtt.cell(labels),
      gradient: f.gradient.cell(labels),
      measuringMinRtt: f.measuring.cell(labels),
      refused: f.refused.cell(labels),
    };
  }

  overloadManager(): ManagerCells {
    const f = (this.manager ??= managerFamilies(this.registry));
    return {
      eventLoopDelaySeconds: f.delay.cell(),
      heapUsedBytes: f.heap.cell(),
      active: (action) => f.active.cell({ action }),
      activations: (action) => f.activations.cell({ action }),
      shed: f.shed.cell(),
    };
  }
}

function guardFamilies(registry: Registry) {
  return {
    overflows: new CounterFamily(registry, 'weft_cluster_overflows_total', 'Requests answered 503 (flag UO) because a circuit-breaker threshold of the cluster was reached, by cluster and limit'),
    inFlight: new GaugeFamily(registry, 'weft_cluster_requests_in_flight', 'Requests admitted to a cluster with circuit breakers or adaptive concurrency and not yet finished'),
    limit: new GaugeFamily(registry, 'weft_adaptive_concurrency_limit', 'Requests the adaptive concurrency controller allows in flight to the cluster now'),
    minRtt: new GaugeFamily(registry, 'weft_adaptive_concurrency_min_rtt_seconds', 'Latency of the cluster at low concurrency, as last measured'),
    sampleRtt: new GaugeFamily(registry, 'weft_adaptive_concurrency_sample_rtt_seconds', 'Latency of the last sampling window'),
    gradient: new GaugeFamily(registry, 'weft_adaptive_concurrency_gradient', 'minRTT·(1+buffer)/sampleRTT, clamped to 0.5..2, of the last window'),
    measuring: new GaugeFamily(registry, 'weft_adaptive_concurrency_min_rtt_measuring', '1 while the limit is pinned at min_concurrency to measure minRTT'),
    refused: new CounterFamily(registry, 'weft_adaptive_concurrency_refused_total', 'Requests answered 503 (flag AC) because the cluster was at its adaptive concurrency limit'),
  };
}

function managerFamilies(registry: Registry) {
  return {
    delay: new GaugeFamily(registry, 'weft_overload_event_loop_delay_seconds', 'Longest event-loop delay of the last refresh interval'),
    heap: new GaugeFamily(registry, 'weft_overload_heap_used_bytes', 'V8 heap in use plus external memory (filter VMs, buffers), as last measured'),
    active: new GaugeFamily(registry, 'weft_overload_action_active', '1 while an overload action runs, by action'),
    activations: new CounterFamily(registry, 'weft_overload_action_activations_total', 'Times an overload action started, by action'),
    shed: new CounterFamily(registry, 'weft_overload_shed_total', 'Requests answered 503 (flag OM) by the shed_requests action'),
  };
}
