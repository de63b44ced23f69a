// The filter's request metrics, defined through proxy_define_metric and exported by the host
// on the admin /metrics:
//   telemetry_requests_total{route, cluster, class}                 counter
//   telemetry_request_duration_milliseconds{route, cluster}         histogram
// A label set is defined the first time a request has it and kept, by route then cluster, so
// each later request costs two map lookups and one host call per metric, and builds no
// strings. Label values come from the router's route names and the manifest's cluster names,
// a bounded set.

import { Counter, Histogram } from "../../../sdk/assembly";

/** The metrics of one (route, cluster): a counter per status class (made when first seen) and the histogram. */
class LabelSet {
  readonly labels: string;
  /** Indexed by statusIndex: none, 1xx .. 5xx. */
  readonly counters: StaticArray<Counter | null> = new StaticArray<Counter | null>(6);
  readonly duration: Histogram;

  constructor(route: string, cluster: string) {
    const labels = "route=\"" + escapeLabel(route) + "\",cluster=\"" + escapeLabel(cluster) + "\"";
    this.duration = new Histogram("telemetry_request_duration_milliseconds{" + labels + "}");
    this.labels = labels;
  }

  counter(status: i64): Counter {
    const index = statusIndex(status);
    let counter = unchecked(this.counters[index]);
    if (counter === null) {
      counter = new Counter("telemetry_requests_total{" + this.labels + ",class=\"" + statusClass(status) + "\"}");
      unchecked((this.counters[index] = counter));
    }
    return counter;
  }
}

export class RequestMetrics {
  private readonly byRoute: Map<string, Map<string, LabelSet>> = new Map<string, Map<string, LabelSet>>();

  /** One finished request: its route, cluster, response code (0 = none) and total time. */
  record(route: string, cluster: string, status: i64, durationMs: u64): void {
    let byCluster: Map<string, LabelSet>;
    if (this.byRoute.has(route)) byCluster = this.byRoute.get(route);
    else this.byRoute.set(route, (byCluster = new Map<string, LabelSet>()));
    let set: LabelSet;
    if (byCluster.has(cluster)) set = byCluster.get(cluster);
    else byCluster.set(cluster, (set = new LabelSet(route, cluster)));
    set.counter(status).increment();
    set.duration.record(durationMs);
  }
}

/** 0 for "none", else the hundreds digit. */
function statusIndex(status: i64): i32 {
  return status < 100 || status > 599 ? 0 : <i32>(status / 100);
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
