// The filter's request metrics, defined through proxy_define_metric and exported by the host
// on the admin /metrics:
//   telemetry_requests_total{route, cluster, class}                 counter
//   telemetry_request_duration_milliseconds{route, cluster}         histogram
// A label set is defined the first time a request has it and kept in a map, so each later
// request costs one map lookup and one host call per metric. Label values come from the
// router's route names and the manifest's cluster names, a bounded set.

import { Counter, Histogram } from "../../../sdk/assembly";

export class RequestMetrics {
  private readonly counters: Map<string, Counter> = new Map<string, Counter>();
  private readonly histograms: Map<string, Histogram> = new Map<string, Histogram>();

  /** One finished request: its route, cluster, response code (0 = none) and total time. */
  record(route: string, cluster: string, status: i64, durationMs: u64): void {
    const labels = "route=\"" + escapeLabel(route) + "\",cluster=\"" + escapeLabel(cluster) + "\"";
    const counterName = "telemetry_requests_total{" + labels + ",class=\"" + statusClass(status) + "\"}";
    let counter: Counter;
    if (this.counters.has(counterName)) counter = this.counters.get(counterName);
    else this.counters.set(counterName, (counter = new Counter(counterName)));
    counter.increment();

    const histogramName = "telemetry_request_duration_milliseconds{" + labels + "}";
    let histogram: Histogram;
    if (this.histograms.has(histogramName)) histogram = this.histograms.get(histogramName);
    else this.histograms.set(histogramName, (histogram = new Histogram(histogramName)));
    histogram.record(durationMs);
  }
}

/** "2xx", "4xx", ...; "none" when the client went away before any response. */
export function statusClass(status: i64): string {
  if (status < 100 || status > 599) return "none";
  return (status / 100).toString() + "xx";
}

/** A label value inside double quotes, escaped as the Prometheus text format does. */
function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"").replaceAll("\n", "\\n");
}
