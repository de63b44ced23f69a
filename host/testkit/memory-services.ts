// In-memory versions of the VM-wide services the ABI layer talks to (host/abi/host-api.ts):
// shared queues that deliver synchronously (nothing runs on its own in a test), filter metrics
// and a body buffer. Shared data is the proxy's own store (host/chain/shared-state.ts). The test
// kit runs filters on them; the ABI tests' probe host uses them too.

import { MetricType, WasmResult } from '../abi/enums.js';
import { Registry } from 'prom-client';
import type { BodyBuffer, FilterMetrics, SharedQueues } from '../abi/host-api.js';
import { PrometheusFilterMetrics } from '../telemetry/filter-metrics.js';

/** A body with proxy_set_buffer_bytes semantics (see BodyBuffer.set). */
export class MemoryBody implements BodyBuffer {
  constructor(public data: Uint8Array = new Uint8Array(0)) {}

  bytes(): Uint8Array {
    return this.data;
  }

  set(start: number, size: number, data: Uint8Array): WasmResult {
    if (start === 0) {
      this.data = Buffer.concat([data, this.data.subarray(Math.min(size, this.data.length))]);
      return WasmResult.Ok;
    }
    if (start >= this.data.length) {
      this.data = Buffer.concat([this.data, data]);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }
}

/** Shared queues; a queue's owner hears of every enqueue through its onReady. */
export class MemoryQueues implements SharedQueues {
  private readonly queues = new Map<number, { name: string; items: Uint8Array[]; onReady: (id: number) => void; maxDepth: number }>();

  register(vmId: string, name: string, onReady: (queueId: number) => void, maxDepth: number): number {
    const existing = this.resolve(vmId, name);
    if (existing !== undefined) {
      this.queues.get(existing)!.maxDepth = maxDepth;
      return existing;
    }
    const id = this.queues.size + 1;
    this.queues.set(id, { name: `${vmId}/${name}`, items: [], onReady, maxDepth });
    return id;
  }

  resolve(vmId: string, name: string): number | undefined {
    for (const [id, queue] of this.queues) if (queue.name === `${vmId}/${name}`) return id;
    return undefined;
  }

  enqueue(queueId: number, data: Uint8Array): WasmResult {
    const queue = this.queues.get(queueId);
    if (queue === undefined) return WasmResult.NotFound;
    if (queue.items.length >= queue.maxDepth) return WasmResult.InternalFailure;
    queue.items.push(data.slice());
    queue.onReady(queueId); // the VM defers the guest callback itself: it must not re-enter the guest
    return WasmResult.Ok;
  }

  dequeue(queueId: number): Uint8Array | null | undefined {
    const queue = this.queues.get(queueId);
    if (queue === undefined) return undefined;
    return queue.items.shift() ?? null;
  }
}

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricRecord {
  readonly kind: MetricKind;
  /** The name the filter defined, labels included (`hits{tenant="a"}`). */
  readonly name: string;
  readonly id: number;
  /** Histogram: every value recorded, in order (Prometheus keeps only buckets). */
  readonly observed: bigint[];
}

const KINDS: Record<number, MetricKind> = { [MetricType.Counter]: 'counter', [MetricType.Gauge]: 'gauge', [MetricType.Histogram]: 'histogram' };

/**
 * The proxy's own filter metrics (a private Prometheus registry, so the rules are the proxy's:
 * a counter only goes up, record adds to it, defining a name twice gives the same id), remembered
 * by the name the filter gave so a test can ask for "hits{tenant=\"a\"}".
 */
export class RecordingMetrics implements FilterMetrics {
  private readonly real = new PrometheusFilterMetrics(new Registry());
  private readonly records = new Map<number, MetricRecord>();

  define(type: MetricType, name: string): number {
    const id = this.real.define(type, name);
    if (!this.records.has(id)) this.records.set(id, { kind: KINDS[type] ?? 'counter', name, id, observed: [] });
    return id;
  }

  increment(id: number, delta: bigint): WasmResult {
    return this.real.increment(id, delta);
  }

  record(id: number, value: bigint): WasmResult {
    const result = this.real.record(id, value);
    const record = this.records.get(id);
    if (result === WasmResult.Ok && record?.kind === 'histogram') record.observed.push(value);
    return result;
  }

  get(id: number): bigint | WasmResult {
    return this.real.get(id);
  }

  /** Every metric defined so far. */
  all(): MetricRecord[] {
    return [...this.records.values()];
  }

  /** The metric defined as `name` (of any kind), or undefined. */
  byName(name: string): MetricRecord | undefined {
    for (const record of this.records.values()) if (record.name === name) return record;
    return undefined;
  }
}
