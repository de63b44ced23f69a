// Metric families whose series ("cells") are plain objects the hot path holds on to.
//
// Why not prom-client's own Counter/Histogram: even a bound child (`histogram.labels(...)`)
// hashes its label set on every observe. Here a caller looks a cell up once (when a cluster
// or a chain is set up) and each observation is a field update. prom-client still owns the
// registry and the text format: families register themselves and hand it their values only
// when /metrics is scraped.

import type { Metric, Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

export class CounterCell {
  value = 0;
  inc(delta = 1): void {
    this.value += delta;
  }
}

export class GaugeCell {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(delta = 1): void {
    this.value += delta;
  }
}

export class HistogramCell {
  /** counts[i] = observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let slot = 0;
    while (slot < bounds.length && value > bounds[slot]!) slot++;
    this.counts[slot]!++;
    this.sum += value;
    this.count++;
  }
}

type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One value line of the exposition, in the shape prom-client's Registry formats. */
interface ExportedValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** The members prom-client's Registry uses on a registered metric. */
abstract class Family<Cell> {
  /**
   * How one scrape combines this family over worker threads (prom-client's AggregatorRegistry):
   * `sum` for what each worker counts on its own, `max` for what every worker holds alike.
   */
  aggregator: 'sum' | 'max' = 'sum';
  private readonly cells = new Map<string, { labels: Labels; cell: Cell }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly type: MetricKind,
  ) {
    // The Registry only calls name/help/type/aggregator/get/reset on what it holds; its
    // TypeScript signature names prom-client's own classes, hence the cast.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The cell for one label set; created on first use, the same object afterwards. */
  cell(labels: Labels = {}): Cell {
    const key = JSON.stringify(labels);
    let entry = this.cells.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, cell: this.newCell() };
      this.cells.set(key, entry);
    }
    return entry.cell;
  }

  protected abstract newCell(): Cell;
  protected abstract export(labels: Labels, cell: Cell, out: ExportedValue[]): void;

  async get(): Promise<{ name: string; help: string; type: MetricKind; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const { labels, cell } of this.cells.values()) this.export(labels, cell, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics(): forget every series. */
  reset(): void {
    this.cells.clear();
  }
}

export class CounterFamily extends Family<CounterCell> {
  constructor(registry: Registry, name: string, help: string) {
    super(registry, name, help, 'counter');
  }
  protected newCell(): CounterCell {
    return new CounterCell();
  }
  protected export(labels: Labels, cell: CounterCell, out: ExportedValue[]): void {
    out.push({ labels: { ...labels }, value: cell.value });
  }
}

export class GaugeFamily extends Family<GaugeCell> {
  constructor(registry: Registry, name: string, help: string, aggregator: 'sum' | 'max' = 'sum') {
    super(registry, name, help, 'gauge');
    this.aggregator = aggregator;
  }
  protected newCell(): GaugeCell {
    return new GaugeCell();
  }
  protected export(labels: Labels, cell: GaugeCell, out: ExportedValue[]): void {
    out.push({ labels: { ...labels }, value: cell.value });
  }
}

export class HistogramFamily extends Family<HistogramCell> {
  private readonly bounds: Float64Array;

  constructor(registry: Registry, name: string, help: string, buckets: readonly number[]) {
    super(registry, name, help, 'histogram');
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
  }
  protected newCell(): HistogramCell {
    return new HistogramCell(this.bounds);
  }
  protected export(labels: Labels, cell: HistogramCell, out: ExportedValue[]): void {
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    cell.bounds.forEach((bound, index) => {
      cumulative += cell.counts[index]!;
      out.push({ metricName: bucket, labels: { ...labels, le: bound }, value: cumulative });
    });
    out.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: cell.count });
    out.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: cell.sum });
    out.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: cell.count });
  }
}
