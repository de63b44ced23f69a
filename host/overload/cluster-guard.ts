// What a cluster admits: its circuit-breaker thresholds (as Envoy's: requests in flight,
// requests waiting for a connection) and, when turned on, its adaptive concurrency limit. The
// exchange asks once, after the cluster is chosen and before anything is sent upstream, and
// hands the admission back when the request is over. A refusal is answered 503 right away; no
// upstream work was started for it.

import type { AdaptiveConcurrencySpec, CircuitBreakerSpec, ClusterSpec } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import { GradientController, type GradientObserver } from './gradient-controller.js';
import type { GuardCells } from './overload-metrics.js';

/** Why a request was not admitted: the 503's flag and reason. */
export class OverloadRefusal {
  readonly refused = true;
  constructor(
    readonly flag: string,
    readonly reason: string,
    /** `retry-after` seconds; 0 = no header. */
    readonly retryAfterS = 0,
  ) {}
}

/** A request the guard admitted; `release` it exactly once. */
export class Admission {
  readonly refused = false;
  constructor(
    readonly guard: ClusterGuard,
    /** Whether it holds a slot of the adaptive concurrency limit. */
    readonly limited: boolean,
  ) {}
}

/** What the guard reads of a request: the router's route name, only when limits are per route. */
export interface RouteSource {
  propertyText(key: string): string | undefined;
}

/** What the guard reads of its cluster: the endpoints' pools, for requests waiting for a connection. */
export interface GuardedCluster {
  readonly name: string;
  readonly endpoints: ReadonlyArray<{ readonly pool: { readonly stats: { readonly pending: number } } }>;
}

export class ClusterGuard {
  /** Requests admitted and not yet released. */
  inFlight = 0;
  readonly controller: GradientController | undefined;
  private readonly routes: ReadonlySet<string> | undefined;
  private readonly maxRequests: number;
  private readonly maxPendingRequests: number;
  private readonly tooManyRequests: OverloadRefusal;
  private readonly tooManyPending: OverloadRefusal;
  private readonly overLimit: OverloadRefusal;
  private readonly admitted: Admission;
  private readonly admittedLimited: Admission;

  constructor(
    private readonly cluster: GuardedCluster,
    breakers: CircuitBreakerSpec | undefined,
    adaptive: AdaptiveConcurrencySpec | undefined,
    private readonly cells: GuardCells,
    logger: Logger,
  ) {
    this.maxRequests = breakers?.max_requests ?? Infinity;
    this.maxPendingRequests = breakers?.max_pending_requests ?? Infinity;
    this.routes = adaptive?.routes === undefined ? undefined : new Set(adaptive.routes);
    this.controller = adaptive === undefined ? undefined : new GradientController(gradientSettings(adaptive), gradientObserver(cluster.name, cells, logger));
    // Decisions are constants: admitting or refusing allocates nothing.
    this.tooManyRequests = new OverloadRefusal('UO', `upstream overflow: cluster ${cluster.name} is at max_requests`);
    this.tooManyPending = new OverloadRefusal('UO', `upstream overflow: cluster ${cluster.name} is at max_pending_requests`);
    this.overLimit = new OverloadRefusal('AC', `cluster ${cluster.name} is at its concurrency limit`);
    this.admitted = new Admission(this, false);
    this.admittedLimited = new Admission(this, true);
  }

  start(): void {
    this.controller?.start();
  }

  stop(): void {
    this.controller?.stop();
  }

  admit(request: RouteSource | undefined): Admission | OverloadRefusal {
    if (this.inFlight >= this.maxRequests) {
      this.cells.overflows.requests.inc();
      return this.tooManyRequests;
    }
    if (this.maxPendingRequests !== Infinity && this.pendingRequests() >= this.maxPendingRequests) {
      this.cells.overflows.pendingRequests.inc();
      return this.tooManyPending;
    }
    let limited = false;
    if (this.controller !== undefined && this.limits(request)) {
      if (!this.controller.tryAcquire()) {
        this.cells.refused.inc();
        return this.overLimit;
      }
      limited = true;
    }
    this.inFlight++;
    this.cells.inFlight.set(this.inFlight);
    return limited ? this.admittedLimited : this.admitted;
  }

  /** The request is over; `startMs` is performance.now() at admission, `sample` whether its latency counts. */
  release(admission: Admission, startMs: number, sample: boolean): void {
    this.inFlight--;
    this.cells.inFlight.set(this.inFlight);
    if (admission.limited) this.controller!.release(startMs, sample);
  }

  /** Requests queued in the cluster's pools, waiting for a connection (Envoy's pending requests). */
  private pendingRequests(): number {
    let pending = 0;
    for (const endpoint of this.cluster.endpoints) pending += endpoint.pool.stats.pending;
    return pending;
  }

  private limits(request: RouteSource | undefined): boolean {
    if (this.routes === undefined) return true;
    const route = request?.propertyText('weft.route.name');
    return route !== undefined && this.routes.has(route);
  }
}

/** A guard for each cluster whose spec asks for one. */
export function clusterGuardNeeded(spec: ClusterSpec): boolean {
  return spec.circuit_breakers !== undefined || spec.adaptive_concurrency !== undefined;
}

function gradientSettings(spec: AdaptiveConcurrencySpec) {
  return {
    bufferRatio: spec.buffer_percent / 100,
    minConcurrency: spec.min_concurrency,
    maxConcurrency: spec.max_concurrency,
    minRttIntervalMs: spec.min_rtt_interval_ms,
    minRttRequestCount: spec.min_rtt_request_count,
    jitterRatio: spec.jitter_percent / 100,
    updateIntervalMs: spec.update_interval_ms,
    sampleQuantile: spec.sample_percentile / 100,
  };
}

function gradientObserver(cluster: string, cells: GuardCells, logger: Logger): GradientObserver {
  return {
    updated(controller) {
      cells.limit.set(controller.limit);
      cells.minRttSeconds.set(controller.minRttMs / 1000);
      cells.sampleRttSeconds.set(controller.sampleRttMs / 1000);
      cells.gradient.set(controller.gradient);
      cells.measuringMinRtt.set(controller.measuringMinRtt ? 1 : 0);
    },
    minRttMeasured(controller) {
      logger.info({ cluster, min_rtt_ms: round(controller.minRttMs), limit: controller.limit }, 'adaptive concurrency: minRTT measured');
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
