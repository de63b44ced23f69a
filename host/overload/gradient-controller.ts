// Adaptive concurrency for one cluster, the way Envoy's adaptive_concurrency gradient controller
// works:
//
//  - minRTT: every `minRttIntervalMs` (plus up to `jitterRatio` of it, so a fleet of proxies does
//    not measure in step) the limit is pinned at `minConcurrency` until `minRttRequestCount`
//    requests have completed; the percentile of their latencies is the latency of the upstream
//    without queueing.
//  - sampleRTT: every `updateIntervalMs`, the percentile of the latencies completed since.
//  - gradient = clamp(minRTT · (1 + buffer) / sampleRTT, 0.5, 2): above 1 the upstream answers as
//    fast as unloaded (room to grow), below 1 requests queue there.
//  - limit = clamp(gradient · limit + √(gradient · limit), minConcurrency, maxConcurrency): the
//    square root is the headroom that keeps probing for more concurrency.
//
// Requests over the limit are refused at once (the caller answers 503). A limit that stays at
// the minimum for 5 windows in a row suggests a stale minRTT, so it is measured again then.
// State is explicit fields; the only timers are the two intervals, unref'd.

import { LatencySamples } from './latency-samples.js';

export interface GradientSettings {
  /** minRTT · (1 + bufferRatio) counts as "not queueing"; Envoy's buffer, 25 % by default. */
  bufferRatio: number;
  minConcurrency: number;
  maxConcurrency: number;
  minRttIntervalMs: number;
  minRttRequestCount: number;
  /** Extra random delay before each minRTT measurement, as a share of the interval. */
  jitterRatio: number;
  updateIntervalMs: number;
  /** Which percentile of a window's latencies stands for it, 0..1 (0.5: the median). */
  sampleQuantile: number;
}

/** Envoy's defaults (min_rtt_calc_params, concurrency_limit_params, sample_aggregate_percentile). */
export const GRADIENT_DEFAULTS: GradientSettings = {
  bufferRatio: 0.25,
  minConcurrency: 3,
  maxConcurrency: 1000,
  minRttIntervalMs: 60_000,
  minRttRequestCount: 50,
  jitterRatio: 0.15,
  updateIntervalMs: 100,
  sampleQuantile: 0.5,
};

/** Windows in a row at the minimum limit after which minRTT is measured again (as Envoy). */
const MIN_LIMIT_WINDOWS_BEFORE_REMEASURE = 5;
/** Latencies kept per window (reservoir); enough for a stable median and p99. */
const SAMPLE_CAPACITY = 2048;

export interface GradientObserver {
  /** After every change of limit, minRTT, sampleRTT or measuring state. */
  updated(controller: GradientController): void;
  /** A minRTT measurement finished (`minRttMs` 0 when no request completed during it). */
  minRttMeasured(controller: GradientController): void;
}

export class GradientController {
  /** Requests allowed in flight now. */
  limit: number;
  inFlight = 0;
  minRttMs = 0;
  sampleRttMs = 0;
  gradient = 1;
  /** True while the limit is pinned at minConcurrency to measure minRTT. */
  measuringMinRtt = false;
  /** Requests refused because the limit was reached. */
  refused = 0;

  /** The limit to go back to once the minRTT measurement is done. */
  private limitBeforeMeasuring = 0;
  /** Latencies of requests sent before this time belong to an older window and are dropped. */
  private windowStartMs = 0;
  private windowsAtMinimum = 0;
  private readonly samples: LatencySamples;
  private minRttTimer: NodeJS.Timeout | undefined;
  private updateTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly settings: GradientSettings,
    private readonly observer: GradientObserver,
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {
    this.limit = settings.minConcurrency;
    this.samples = new LatencySamples(SAMPLE_CAPACITY, random);
  }

  start(): void {
    this.enterMinRttWindow();
    this.updateTimer = setInterval(() => this.update(), this.settings.updateIntervalMs);
    this.updateTimer.unref();
  }

  stop(): void {
    clearInterval(this.updateTimer);
    clearTimeout(this.minRttTimer);
  }

  /** Takes a slot when one is free; false means refuse the request. */
  tryAcquire(): boolean {
    if (this.inFlight < this.limit) {
      this.inFlight++;
      return true;
    }
    this.refused++;
    return false;
  }

  /**
   * Gives the slot back. `startMs` is when the request was admitted (same clock as `now`);
   * `sample` is false for a request whose latency says nothing about the upstream (it failed,
   * or the client left).
   */
  release(startMs: number, sample: boolean): void {
    this.inFlight--;
    if (!sample || startMs < this.windowStartMs) return;
    this.samples.add(this.now() - startMs);
    if (this.measuringMinRtt && this.samples.seen >= this.settings.minRttRequestCount) this.finishMinRtt();
  }

  /** One sampling window is over: sampleRTT from its latencies, then the next limit. */
  update(): void {
    if (this.measuringMinRtt || this.samples.seen === 0) return;
    this.sampleRttMs = this.samples.quantile(this.settings.sampleQuantile);
    this.samples.clear();
    this.setLimit(this.nextLimit());
    this.observer.updated(this);
  }

  private nextLimit(): number {
    const { bufferRatio, minConcurrency, maxConcurrency } = this.settings;
    // A sample of 0 (sub-resolution latencies) means no queueing at all: grow as fast as allowed.
    const raw = this.sampleRttMs > 0 ? (this.minRttMs * (1 + bufferRatio)) / this.sampleRttMs : 2;
    this.gradient = Math.min(2, Math.max(0.5, raw));
    const scaled = this.limit * this.gradient;
    return Math.min(maxConcurrency, Math.max(minConcurrency, Math.floor(scaled + Math.sqrt(scaled))));
  }

  private setLimit(next: number): void {
    const atMinimum = next === this.settings.minConcurrency && this.limit === next;
    this.limit = next;
    this.windowsAtMinimum = atMinimum && !this.measuringMinRtt ? this.windowsAtMinimum + 1 : 0;
    if (this.windowsAtMinimum >= MIN_LIMIT_WINDOWS_BEFORE_REMEASURE) {
      this.windowsAtMinimum = 0;
      this.enterMinRttWindow();
    }
  }

  private enterMinRttWindow(): void {
    if (this.measuringMinRtt) return;
    clearTimeout(this.minRttTimer);
    this.measuringMinRtt = true;
    this.limitBeforeMeasuring = this.limit;
    this.limit = this.settings.minConcurrency;
    // Latencies seen before now were measured at another concurrency: they say nothing of minRTT.
    this.samples.clear();
    this.windowStartMs = this.now();
    this.observer.updated(this);
  }

  private finishMinRtt(): void {
    this.minRttMs = this.samples.quantile(this.settings.sampleQuantile);
    this.samples.clear();
    this.measuringMinRtt = false;
    this.limit = this.limitBeforeMeasuring;
    const { minRttIntervalMs, jitterRatio } = this.settings;
    this.minRttTimer = setTimeout(() => this.enterMinRttWindow(), minRttIntervalMs + Math.floor(this.random() * jitterRatio * minRttIntervalMs));
    this.minRttTimer.unref();
    this.observer.minRttMeasured(this);
    this.observer.updated(this);
  }
}
