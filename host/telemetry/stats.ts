// The figures an operator asks for first, per cluster and per service, without a Prometheus
// server (GET /stats, `weft stats`): requests per second, success and failure rates and
// p50/p90/p99 latency over the last minute and the last hour, and the endpoints the breaker has
// ejected. A service's figures are those of the registry-backed clusters that send to it.
//
// Memory is fixed per cluster: two rings of 60 slots (one per second for the minute, one per
// minute for the hour), each slot a request count, a failure count and a latency histogram
// of fixed log-spaced buckets (each 25% wider than the last, so a percentile is within ~12% of
// the true value). Recording a request is a few array increments; the work of merging slots
// and reading percentiles happens only when someone asks.

import type { SharedData } from '../abi/host-api.js';
import type { OverloadStatsReport } from '../overload/protection.js';

/** Upper bounds (ms) of the latency buckets: 0.1 ms × 1.25^i up to 10 minutes; one more slot above. */
const LATENCY_BOUNDS_MS = latencyBounds(0.1, 1.25, 600_000);
/** Per slot: requests, failures, then one count per latency bucket (the last is above every bound). */
const REQUESTS = 0;
const FAILURES = 1;
const HISTOGRAM = 2;
const SLOT_WIDTH = HISTOGRAM + LATENCY_BOUNDS_MS.length + 1;
const SLOTS = 60;

function latencyBounds(first: number, factor: number, last: number): Float64Array {
  const bounds: number[] = [];
  for (let bound = first; bound < last * factor; bound *= factor) bounds.push(bound);
  return Float64Array.from(bounds);
}

function bucketOf(latencyMs: number): number {
  if (!(latencyMs > LATENCY_BOUNDS_MS[0]!)) return 0;
  const index = Math.ceil(Math.log(latencyMs / LATENCY_BOUNDS_MS[0]!) / Math.log(1.25));
  // Float rounding can land one bucket off at a bound: settle it against the table.
  let slot = Math.min(index, LATENCY_BOUNDS_MS.length);
  while (slot > 0 && latencyMs <= LATENCY_BOUNDS_MS[slot - 1]!) slot--;
  while (slot < LATENCY_BOUNDS_MS.length && latencyMs > LATENCY_BOUNDS_MS[slot]!) slot++;
  return slot;
}

/** A ring of SLOTS time slots of `slotMs` each: the last SLOTS × slotMs of requests. */
class Ring {
  /** Which period (time / slotMs) each slot holds now; a slot from an older period is stale. */
  private readonly periods = new Float64Array(SLOTS).fill(-1);
  private readonly cells = new Uint32Array(SLOTS * SLOT_WIDTH);

  constructor(readonly slotMs: number) {}

  record(nowMs: number, failed: boolean, bucket: number): void {
    const period = Math.floor(nowMs / this.slotMs);
    const slot = period % SLOTS;
    const base = slot * SLOT_WIDTH;
    if (this.periods[slot] !== period) {
      this.periods[slot] = period;
      this.cells.fill(0, base, base + SLOT_WIDTH);
    }
    this.cells[base + REQUESTS]!++;
    if (failed) this.cells[base + FAILURES]!++;
    this.cells[base + HISTOGRAM + bucket]!++;
  }

  /** Adds the slots of the last SLOTS periods (the current one included) into `into`. */
  addTo(nowMs: number, into: Float64Array): void {
    const current = Math.floor(nowMs / this.slotMs);
    for (let slot = 0; slot < SLOTS; slot++) {
      const period = this.periods[slot]!;
      if (period < 0 || period <= current - SLOTS || period > current) continue;
      const base = slot * SLOT_WIDTH;
      for (let i = 0; i < SLOT_WIDTH; i++) into[i]! += this.cells[base + i]!;
    }
  }
}

export interface WindowStats {
  /** Seconds the figures cover: the window, or less when the proxy started more recently. */
  window_s: number;
  requests: number;
  requests_per_second: number;
  /** Share of requests answered without a 5xx; null when there were none. */
  success_rate: number | null;
  /** Share of requests answered with a 5xx (the proxy's own 502/503/504 included) or not answered at all. */
  failure_rate: number | null;
  /** Milliseconds; null when there were no requests. */
  latency_ms: { p50: number; p90: number; p99: number } | null;
}

export interface Ejection {
  endpoint: string;
  /** When the ejection ends (ISO 8601). */
  until: string;
  remaining_s: number;
}

export interface ClusterStatsReport {
  name: string;
  last_minute: WindowStats;
  last_hour: WindowStats;
  ejected: Ejection[];
}

export interface ServiceStatsReport extends ClusterStatsReport {
  /** The clusters whose requests these are. */
  clusters: string[];
}

export interface StatsReport {
  generated_at: string;
  clusters: ClusterStatsReport[];
  services: ServiceStatsReport[];
  /** Limits, adaptive concurrency and overload actions now (host/overload), when the manifest sets any. */
  overload?: OverloadStatsReport;
}

/** A cluster to keep figures for, and the registry service it sends to, if any. */
export interface StatsCluster {
  name: string;
  service?: string;
}

/** Where the report finds the endpoints ejected right now in a cluster. */
export type EjectionSource = (cluster: string, nowMs: number) => Ejection[];

class ClusterCell {
  readonly minute = new Ring(1000);
  readonly hour = new Ring(60_000);
}

export class RequestStats {
  private readonly cells = new Map<string, ClusterCell>();
  /** Service name -> the clusters that send to it. */
  private readonly services = new Map<string, string[]>();
  private readonly startedMs: number;
  /** Where the report's `overload` section comes from; unset when overload protection is off. */
  overload: (() => OverloadStatsReport) | undefined;
  /** What a report waits for first: worker threads handing over the requests they finished. */
  settle: (() => Promise<void>) | undefined;

  /**
   * `clusters`: what to keep figures for, in report order. Requests of any other cluster name (a
   * filter naming a cluster that does not exist, or none) are counted under "-", so a filter
   * cannot make this grow.
   */
  constructor(
    clusters: readonly StatsCluster[],
    private readonly ejections: EjectionSource,
    private readonly clock: () => number = Date.now,
  ) {
    for (const { name, service } of clusters) {
      this.cells.set(name, new ClusterCell());
      if (service !== undefined) this.services.set(service, [...(this.services.get(service) ?? []), name]);
    }
    this.cells.set('-', new ClusterCell());
    this.startedMs = clock();
  }

  /** report(), once every request finished before the call is counted (see settle). */
  async settledReport(): Promise<StatsReport> {
    await this.settle?.();
    return this.report();
  }

  /** One finished request. `status` 0 = no response reached the client. */
  record(cluster: string, status: number, durationMs: number): void {
    const cell = this.cells.get(cluster) ?? this.cells.get('-')!;
    const nowMs = this.clock();
    const failed = status >= 500 || status === 0;
    const bucket = bucketOf(durationMs);
    cell.minute.record(nowMs, failed, bucket);
    cell.hour.record(nowMs, failed, bucket);
  }

  report(): StatsReport {
    const nowMs = this.clock();
    const clusters: ClusterStatsReport[] = [];
    const ejectedByCluster = new Map<string, Ejection[]>();
    for (const [name, cell] of this.cells) {
      const hour = this.window([cell.hour], nowMs, 3600);
      // "-" only appears once something was counted there.
      if (name === '-' && hour.requests === 0) continue;
      const ejected = name === '-' ? [] : this.ejections(name, nowMs);
      ejectedByCluster.set(name, ejected);
      clusters.push({ name, last_minute: this.window([cell.minute], nowMs, 60), last_hour: hour, ejected });
    }
    const services: ServiceStatsReport[] = [];
    for (const [name, members] of this.services) {
      const cells = members.map((member) => this.cells.get(member)!);
      // Two subsets of one service may share an instance: list each ejected endpoint once.
      const ejected = new Map<string, Ejection>();
      for (const member of members) for (const ejection of ejectedByCluster.get(member)!) ejected.set(ejection.endpoint, ejection);
      services.push({
        name,
        clusters: members,
        last_minute: this.window(cells.map((cell) => cell.minute), nowMs, 60),
        last_hour: this.window(cells.map((cell) => cell.hour), nowMs, 3600),
        ejected: [...ejected.values()],
      });
    }
    const report: StatsReport = { generated_at: new Date(nowMs).toISOString(), clusters, services };
    if (this.overload !== undefined) report.overload = this.overload();
    return report;
  }

  /** The figures of `rings` together over their window. */
  private window(rings: readonly Ring[], nowMs: number, windowSeconds: number): WindowStats {
    const sums = new Float64Array(SLOT_WIDTH);
    for (const ring of rings) ring.addTo(nowMs, sums);
    const requests = sums[REQUESTS]!;
    const failures = sums[FAILURES]!;
    // The rate is taken over the window as reported (to 0.1 s), so the two figures agree.
    const covered = round(Math.min(windowSeconds, Math.max(1, (nowMs - this.startedMs) / 1000)), 1);
    return {
      window_s: covered,
      requests,
      requests_per_second: round(requests / covered, 3),
      success_rate: requests === 0 ? null : round((requests - failures) / requests, 4),
      failure_rate: requests === 0 ? null : round(failures / requests, 4),
      latency_ms: requests === 0 ? null : { p50: quantile(sums, requests, 0.5), p90: quantile(sums, requests, 0.9), p99: quantile(sums, requests, 0.99) },
    };
  }
}

/** The q-quantile of the histogram in `sums`, interpolated linearly inside its bucket. */
function quantile(sums: Float64Array, total: number, q: number): number {
  const rank = q * total;
  let seen = 0;
  for (let bucket = 0; bucket <= LATENCY_BOUNDS_MS.length; bucket++) {
    const count = sums[HISTOGRAM + bucket]!;
    if (count === 0 || seen + count < rank) {
      seen += count;
      continue;
    }
    if (bucket === LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[bucket - 1]!;
    const lower = bucket === 0 ? 0 : LATENCY_BOUNDS_MS[bucket - 1]!;
    const upper = LATENCY_BOUNDS_MS[bucket]!;
    return round(lower + ((upper - lower) * (rank - seen)) / count, 3);
  }
  return 0;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** The breaker's shared-data key of an endpoint's ejection deadline (notes/FILTER-CONTRACT.md). */
export function ejectionKey(cluster: string, endpoint: string): string {
  return `breaker.ejected.${cluster}.${endpoint}`;
}

/**
 * The endpoints of a cluster the breaker has ejected at `nowMs`: those whose shared-data
 * deadline (8 bytes, little-endian i64 ns since the epoch) is still ahead, in any of the
 * namespaces (vm_ids) of the filters that serve.
 */
export function breakerEjections(sharedData: SharedData, vmIds: Iterable<string>, cluster: string, endpoints: readonly string[], nowMs: number): Ejection[] {
  const nowNs = BigInt(Math.round(nowMs)) * 1_000_000n;
  const ejected: Ejection[] = [];
  for (const endpoint of endpoints) {
    const untilNs = latestDeadline(sharedData, vmIds, ejectionKey(cluster, endpoint));
    if (untilNs <= nowNs) continue;
    const untilMs = Number(untilNs / 1_000_000n);
    ejected.push({ endpoint, until: new Date(untilMs).toISOString(), remaining_s: round((untilMs - nowMs) / 1000, 1) });
  }
  return ejected;
}

/** The latest ejection deadline stored under `key` in any of `vmIds` (0n when none is). */
function latestDeadline(sharedData: SharedData, vmIds: Iterable<string>, key: string): bigint {
  let latest = 0n;
  for (const vmId of vmIds) {
    const entry = sharedData.get(vmId, key);
    if (entry === undefined || entry.value.byteLength !== 8) continue;
    const untilNs = new DataView(entry.value.buffer, entry.value.byteOffset, 8).getBigInt64(0, true);
    if (untilNs > latest) latest = untilNs;
  }
  return latest;
}
