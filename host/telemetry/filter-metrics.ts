// Metrics a filter defines through proxy_define_metric, exported on /metrics.
//
// Naming (a filter names a metric freely; Prometheus does not accept every name):
// - A name may carry labels in Prometheus syntax: `requests_total{route="api",class="2xx"}`
//   is the series {route="api",class="2xx"} of the family `requests_total`. Without braces
//   (or when they do not parse) the whole name is the family name.
// - Family and label names keep [A-Za-z0-9_] (and `:` in family names); any other character
//   becomes `_`, and a leading digit gets a `_` in front. `my.filter-hits` -> `my_filter_hits`.
// - The host's own families start with `weft_`, `process_` or `nodejs_`; a filter family
//   with one of those prefixes is exported as `wasm_<name>` so a filter can never shadow them.
// - A family first defined as one type and then as another (a filter bug) exports the second
//   type as `<name>_<type>`, e.g. `hits_gauge`.
// - Label names `le` and `quantile` are Prometheus's own and become `le_` / `quantile_`.
//
// Semantics follow Envoy's host: defining the same (type, name) twice returns the same id, in
// any filter and across hot swaps (metrics are global); a counter increments by > 0 only;
// record adds to a counter, sets a gauge, observes a histogram; a histogram has no value to get.

import type { Registry } from 'prom-client';
import type { FilterMetrics } from '../abi/host-api.js';
import { MetricType, WasmResult } from '../abi/enums.js';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterCell, type GaugeCell, type HistogramCell, type Labels } from './series.js';

/** Envoy's default histogram buckets: filters mostly record milliseconds or sizes. */
const FILTER_HISTOGRAM_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

const HOST_PREFIXES = /^(weft_|process_|nodejs_)/;
const RESERVED_LABELS = new Set(['le', 'quantile']);
const TYPE_NAMES = { [MetricType.Counter]: 'counter', [MetricType.Gauge]: 'gauge', [MetricType.Histogram]: 'histogram' } as const;

type Defined =
  | { type: MetricType.Counter; cell: CounterCell }
  | { type: MetricType.Gauge; cell: GaugeCell }
  | { type: MetricType.Histogram; cell: HistogramCell };

type AnyFamily = CounterFamily | GaugeFamily | HistogramFamily;

export class PrometheusFilterMetrics implements FilterMetrics {
  /** Index = metric id; id 0 is never handed out. */
  private readonly defined: Array<Defined | undefined> = [undefined];
  private readonly idsByDefinition = new Map<string, number>();
  private readonly families = new Map<string, { type: MetricType; family: AnyFamily }>();

  constructor(private readonly registry: Registry) {}

  /** The ABI layer checks `type` is a MetricType before calling (anything else is BadArgument there). */
  define(type: MetricType, name: string): number {
    const definition = `${type}\u0000${name}`;
    const known = this.idsByDefinition.get(definition);
    if (known !== undefined) return known;

    const { family, labels } = parseMetricName(name);
    const id = this.defined.length;
    this.defined.push(this.newSeries(type, family, labels));
    this.idsByDefinition.set(definition, id);
    return id;
  }

  increment(id: number, delta: bigint): WasmResult {
    const metric = this.defined[id];
    if (metric === undefined) return WasmResult.NotFound;
    switch (metric.type) {
      case MetricType.Counter:
        if (delta <= 0n) return WasmResult.BadArgument;
        metric.cell.inc(Number(delta));
        return WasmResult.Ok;
      case MetricType.Gauge:
        metric.cell.inc(Number(delta));
        return WasmResult.Ok;
      case MetricType.Histogram:
        return WasmResult.BadArgument;
    }
  }

  record(id: number, value: bigint): WasmResult {
    const metric = this.defined[id];
    if (metric === undefined) return WasmResult.NotFound;
    switch (metric.type) {
      case MetricType.Counter:
        if (value < 0n) return WasmResult.BadArgument;
        metric.cell.inc(Number(value));
        return WasmResult.Ok;
      case MetricType.Gauge:
        metric.cell.set(Number(value));
        return WasmResult.Ok;
      case MetricType.Histogram:
        metric.cell.observe(Number(value));
        return WasmResult.Ok;
    }
  }

  get(id: number): bigint | WasmResult {
    const metric = this.defined[id];
    if (metric === undefined) return WasmResult.NotFound;
    if (metric.type === MetricType.Histogram) return WasmResult.BadArgument;
    return BigInt(Math.trunc(metric.cell.value));
  }

  private newSeries(type: MetricType, familyName: string, labels: Labels): Defined {
    let name = HOST_PREFIXES.test(familyName) ? `wasm_${familyName}` : familyName;
    while (this.families.has(name) && this.families.get(name)!.type !== type) name = `${name}_${TYPE_NAMES[type]}`;
    const help = `Defined by a filter (proxy_define_metric)`;
    switch (type) {
      case MetricType.Counter:
        return { type, cell: this.family(name, type, () => new CounterFamily(this.registry, name, help)).cell(labels) };
      case MetricType.Gauge:
        return { type, cell: this.family(name, type, () => new GaugeFamily(this.registry, name, help)).cell(labels) };
      case MetricType.Histogram:
        return { type, cell: this.family(name, type, () => new HistogramFamily(this.registry, name, help, FILTER_HISTOGRAM_BUCKETS)).cell(labels) };
    }
  }

  private family<F extends AnyFamily>(name: string, type: MetricType, create: () => F): F {
    let entry = this.families.get(name);
    if (entry === undefined) {
      entry = { type, family: create() };
      this.families.set(name, entry);
    }
    return entry.family as F;
  }
}

const WITH_LABELS = /^([^{]*)\{(.*)\}$/s;
const LABEL_PAIR = /\s*([^=,\s]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/gy;

/** `family{a="1",b="2"}` -> sanitised family and labels (see the naming rules at the top). */
export function parseMetricName(name: string): { family: string; labels: Labels } {
  const match = WITH_LABELS.exec(name);
  if (match) {
    const labels: Record<string, string> = {};
    const body = match[2]!;
    LABEL_PAIR.lastIndex = 0;
    let consumed = 0;
    for (let pair = LABEL_PAIR.exec(body); pair !== null; pair = LABEL_PAIR.exec(body)) {
      labels[sanitizeLabelName(pair[1]!)] = pair[2]!.replace(/\\(.)/g, (_escape, char: string) => (char === 'n' ? '\n' : char));
      consumed = LABEL_PAIR.lastIndex;
    }
    if (consumed === body.length) return { family: sanitizeFamilyName(match[1]!), labels };
  }
  return { family: sanitizeFamilyName(name), labels: {} };
}

function sanitizeFamilyName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_:]/g, '_');
  return /^[A-Za-z_:]/.test(cleaned) ? cleaned : `_${cleaned}`;
}

function sanitizeLabelName(name: string): string {
  let cleaned = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (!/^[A-Za-z_]/.test(cleaned)) cleaned = `_${cleaned}`;
  // Names starting with `__` are reserved for Prometheus itself.
  cleaned = cleaned.replace(/^__+/, '_');
  return RESERVED_LABELS.has(cleaned) ? `${cleaned}_` : cleaned;
}
