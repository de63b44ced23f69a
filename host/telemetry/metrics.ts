// The proxy's metrics: one prom-client Registry (not the global one, so tests and several
// proxies in one process stay apart) holding Node's process metrics, the host's `weft_*`
// families and the families filters define.
//
// Hot path: look handles up once (`cluster(name)` when a cluster is set up, `filterPhase`
// when a chain is built) and keep them; observing through a handle is a
// few field updates, with no label hashing. Every host family name starts with `weft_`
// (filter-defined families are kept out of that prefix, see filter-metrics.ts).

import { AggregatorRegistry, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { PrometheusFilterMetrics } from './filter-metrics.js';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterCell, type GaugeCell, type HistogramCell } from './series.js';

/** Seconds; a proxied request is usually well under a millisecond of proxy time plus the upstream's. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds; one call into a filter is microseconds. */
const FILTER_PHASE_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1];

/** Seconds; building a chain is compiling modules (cached after the first time) and starting VMs. */
const CHAIN_BUILD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Hot swap: the revision serving, swaps, refused attempts, build time, generations alive. */
export class ChainMetrics {
  private readonly revision: GaugeCell;
  private readonly swaps: CounterCell;
  private readonly failures: CounterFamily;
  private readonly buildSeconds: HistogramCell;
  private readonly generations: GaugeCell;
  private readonly vms: GaugeCell;

  constructor(registry: Registry) {
    this.revision = new GaugeFamily(registry, 'weft_chain_revision', 'Revision of the chain spec serving new requests', 'max').cell();
    this.swaps = new CounterFamily(registry, 'weft_chain_swaps_total', 'Chain revisions that went into service').cell();
    this.failures = new CounterFamily(registry, 'weft_chain_swap_failures_total', 'Chain changes that did not go into service, by reason (invalid, conflict, build, store)');
    this.buildSeconds = new HistogramFamily(registry, 'weft_chain_build_seconds', 'Time to build a chain generation, from a checked spec to every VM started', CHAIN_BUILD_BUCKETS).cell();
    this.generations = new GaugeFamily(registry, 'weft_chain_generations', 'Chain generations alive: the serving one plus those draining requests (with worker threads: in the worker with the most)', 'max').cell();
    this.vms = new GaugeFamily(registry, 'weft_filter_vms', 'Filter VMs alive across those generations (a filter kept by a swap counts once; with worker threads: in the worker with the most, each worker running its own)', 'max').cell();
  }

  serving(revision: number): void {
    this.revision.set(revision);
  }

  swapped(revision: number): void {
    this.revision.set(revision);
    this.swaps.inc();
  }

  failed(reason: string): void {
    this.failures.cell({ reason }).inc();
  }

  built(seconds: number): void {
    this.buildSeconds.observe(seconds);
  }

  alive(generations: number, vms: number): void {
    this.generations.set(generations);
    this.vms.set(vms);
  }
}

/** Per-cluster request handles; `observe` once per finished request. */
export class ClusterMetrics {
  /** Counter cells by status code, filled on first use of each code. */
  private readonly byStatus: Array<CounterCell | undefined> = [];
  private readonly byGrpcStatus: Array<CounterCell | undefined> = [];

  constructor(
    private readonly cluster: string,
    private readonly requests: CounterFamily,
    private readonly duration: HistogramCell,
    private readonly grpcCalls: CounterFamily,
  ) {}

  /** A gRPC call's end, by its grpc-status (besides its HTTP status in observe). */
  observeGrpc(grpcStatus: number): void {
    let counter = this.byGrpcStatus[grpcStatus];
    if (counter === undefined) {
      counter = this.grpcCalls.cell({ cluster: this.cluster, grpc_status: String(grpcStatus) });
      this.byGrpcStatus[grpcStatus] = counter;
    }
    counter.inc();
  }

  observe(status: number, durationSeconds: number): void {
    let counter = this.byStatus[status];
    if (counter === undefined) {
      counter = this.requests.cell({ cluster: this.cluster, status: String(status) });
      this.byStatus[status] = counter;
    }
    counter.inc();
    this.duration.observe(durationSeconds);
  }
}

export class WeftMetrics {
  readonly registry = new Registry();
  /** Backs proxy_define_metric & co. for every filter VM (one instance: metrics are global). */
  readonly filterMetrics: PrometheusFilterMetrics;
  readonly chain: ChainMetrics;

  private readonly requestsTotal: CounterFamily;
  private readonly grpcCallsTotal: CounterFamily;
  private readonly requestDuration: HistogramFamily;
  private readonly filterPhaseDuration: HistogramFamily;
  private readonly filterTrapsTotal: CounterFamily;
  private readonly filterCooldownsTotal: CounterFamily;
  private readonly filtersCoolingDown: GaugeCell;
  private readonly filterQuotaExceededTotal: CounterFamily;
  private readonly upstreamTlsFailuresTotal: CounterFamily;
  private readonly clusters = new Map<string, ClusterMetrics>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.requestsTotal = new CounterFamily(this.registry, 'weft_requests_total', 'Requests answered, by cluster and status code');
    this.grpcCallsTotal = new CounterFamily(this.registry, 'weft_grpc_calls_total', 'gRPC calls answered, by cluster and grpc-status (also counted in weft_requests_total by HTTP status)');
    this.requestDuration = new HistogramFamily(this.registry, 'weft_request_duration_seconds', 'Time from request received to response finished, by cluster', REQUEST_BUCKETS);
    this.filterPhaseDuration = new HistogramFamily(this.registry, 'weft_filter_phase_duration_seconds', 'Time spent in one filter callback, by filter and phase', FILTER_PHASE_BUCKETS);
    this.filterTrapsTotal = new CounterFamily(this.registry, 'weft_filter_traps_total', 'Filter traps (wasm runtime errors), by filter');
    this.filterCooldownsTotal = new CounterFamily(this.registry, 'weft_filter_cooldowns_total', 'Cool-downs a filter was put in after repeated traps (its on_error mode applies without calling it), by filter');
    this.filtersCoolingDown = new GaugeFamily(this.registry, 'weft_filters_cooling_down', 'Filters in a cool-down after repeated traps').cell();
    this.filterQuotaExceededTotal = new CounterFamily(this.registry, 'weft_filter_quota_exceeded_total', 'Requests of a filter refused past one of its quotas (shared_data_bytes, queue_depth, metrics, log_lines_per_s, http_calls, http_call_response_bytes), by filter and quota');
    this.upstreamTlsFailuresTotal = new CounterFamily(this.registry, 'weft_upstream_tls_failures_total', 'Connections to an upstream whose TLS handshake failed, by cluster and the side that refused (upstream: alert or closed; weft: its certificate did not verify)');
    this.filterMetrics = new PrometheusFilterMetrics(this.registry);
    this.chain = new ChainMetrics(this.registry);
  }

  /** Request handles for a cluster (the same object for the same name). */
  cluster(name: string): ClusterMetrics {
    let metrics = this.clusters.get(name);
    if (metrics === undefined) {
      metrics = new ClusterMetrics(name, this.requestsTotal, this.requestDuration.cell({ cluster: name }), this.grpcCallsTotal);
      this.clusters.set(name, metrics);
    }
    return metrics;
  }

  /** Duration histogram of one filter's phase (e.g. "request_headers"); `observe(seconds)`. */
  filterPhase(filter: string, phase: string): HistogramCell {
    return this.filterPhaseDuration.cell({ filter, phase });
  }

  /** Counts one trap of a filter (traps are rare: a lookup per call is fine here). */
  filterTrap(filter: string): void {
    this.filterTrapsTotal.cell({ filter }).inc();
  }

  /** A filter entered (`true`) or left (`false`) a cool-down after repeated traps. */
  filterCooldown(filter: string, active: boolean): void {
    if (active) this.filterCooldownsTotal.cell({ filter }).inc();
    this.filtersCoolingDown.inc(active ? 1 : -1);
  }

  /** Counts one refusal past a filter's quota (refusals are the exception: a lookup per call is fine). */
  filterQuotaExceeded(filter: string, quota: string): void {
    this.filterQuotaExceededTotal.cell({ filter, quota }).inc();
  }

  /** Counts one connection whose TLS handshake failed (rare: a lookup per call is fine here). */
  upstreamTlsFailure(cluster: string, side: string): void {
    this.upstreamTlsFailuresTotal.cell({ cluster, side }).inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Other registries whose values one scrape adds to this one's (worker threads', each with
   * a registry of its own): families of the same name are summed, as prom-client's cluster mode does.
   */
  readonly sources: Array<() => Promise<MetricsJson[]>> = [];

  /** The Prometheus text exposition of everything registered, sources summed in. */
  async text(): Promise<string> {
    if (this.sources.length === 0) return this.registry.metrics();
    const [own, ...others] = await Promise.all([this.registry.getMetricsAsJSON(), ...this.sources.map((source) => source())]);
    return AggregatorRegistry.aggregate([own as MetricsJson, ...(others as MetricsJson[][]).flat()]).metrics();
  }
}

export type { HistogramCell } from './series.js';

/** A registry's getMetricsAsJSON(), as it crosses between threads. */
export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;
