// Host-side quotas of one filter: what a filter may hold in or ask of the host, whatever its
// fuel and memory limits (those bound the VM; these bound the host's own memory and work).
// Exceeding one answers the ABI's error status (InternalFailure, which every SDK treats as a
// failed call) or drops the log line, and counts in weft_filter_quota_exceeded_total.

import type { VmQuotas } from '../abi/host-api.js';

/** The quotas, as the manifest's `quotas:` on a filter writes them. */
export interface FilterQuotaSpec {
  /** Bytes (keys + values) the filter's vm_id namespace of shared data may hold. */
  shared_data_bytes: number;
  /** Items a shared queue the filter registered may hold before enqueues fail. */
  queue_depth: number;
  /** Distinct metrics the filter may define. */
  metrics: number;
  /** proxy_log lines per second kept; the rest are dropped. */
  log_lines_per_s: number;
  /** proxy_http_call requests in flight at once. */
  http_calls: number;
  /** Largest proxy_http_call response body; a larger one fails the call. */
  http_call_response_bytes: number;
}

export type QuotaName = keyof FilterQuotaSpec;

export const DEFAULT_FILTER_QUOTAS: FilterQuotaSpec = {
  shared_data_bytes: 16 * 1024 * 1024,
  queue_depth: 10_000,
  metrics: 1_000,
  log_lines_per_s: 100,
  http_calls: 64,
  http_call_response_bytes: 1024 * 1024,
};

/** Where a refusal is counted (weft_filter_quota_exceeded_total{filter, quota}). */
export type QuotaExceeded = (quota: QuotaName) => void;

/** The counting quotas of one filter (its slot): log lines per second, calls in flight, metrics defined. */
export class FilterQuotas implements VmQuotas {
  readonly limits: FilterQuotaSpec;
  private logWindowStartMs = 0;
  private logLinesInWindow = 0;
  private httpCallsInFlight = 0;
  private readonly metricNames = new Set<string>();

  constructor(
    overrides: Partial<FilterQuotaSpec> | undefined,
    private readonly exceeded: QuotaExceeded,
  ) {
    this.limits = { ...DEFAULT_FILTER_QUOTAS, ...overrides };
  }

  /** Counts a refusal that the store enforcing the quota reported (shared data, queues). */
  refused(quota: QuotaName): void {
    this.exceeded(quota);
  }

  /** Whether this log line is kept: at most log_lines_per_s per one-second window. */
  takeLogLine(nowMs: number): boolean {
    if (nowMs - this.logWindowStartMs >= 1000) {
      this.logWindowStartMs = nowMs;
      this.logLinesInWindow = 0;
    }
    if (this.logLinesInWindow < this.limits.log_lines_per_s) {
      this.logLinesInWindow++;
      return true;
    }
    this.refused('log_lines_per_s');
    return false;
  }

  /** Whether one more http_call may start; the caller gives it back with httpCallEnded(). */
  takeHttpCall(): boolean {
    if (this.httpCallsInFlight < this.limits.http_calls) {
      this.httpCallsInFlight++;
      return true;
    }
    this.refused('http_calls');
    return false;
  }

  httpCallEnded(): void {
    this.httpCallsInFlight--;
  }

  /** Whether the filter may define a metric of this name (redefining one it has costs nothing). */
  mayDefineMetric(name: string): boolean {
    if (this.metricNames.has(name)) return true;
    if (this.metricNames.size < this.limits.metrics) {
      this.metricNames.add(name);
      return true;
    }
    this.refused('metrics');
    return false;
  }
}
