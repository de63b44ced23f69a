// The proxy's protection of itself, after Envoy's overload manager: two resources measured all
// the time (the event loop's delay and the memory in use), and actions that run while a
// resource is at or over the threshold the manifest gives for that action. The thresholds make
// the steps: typically keep-alive stops first, then a share of new requests is shed, and at
// last new connections are refused. Every start and stop is logged and shows in /metrics and
// /stats.
//
// Measuring: the event-loop delay is the larger of perf_hooks' delay histogram (its longest
// delay in the refresh interval: one stall of a filter that burns CPU is seen, not averaged
// away) and how late the refresh timer itself fired (the histogram's own timer can miss a
// stall that ends just as the refresh reads it); memory is V8's heap in use plus external
// memory, where filter VMs' linear memory and buffers live.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { OverloadSpec, OverloadTrigger } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import { OverloadRefusal } from './cluster-guard.js';
import type { ManagerCells } from './overload-metrics.js';

export const OVERLOAD_ACTIONS = ['stop_keepalive', 'shed_requests', 'refuse_connections'] as const;
export type OverloadAction = (typeof OVERLOAD_ACTIONS)[number];

const MIB = 1024 * 1024;
/** How often the delay histogram samples the loop, ms; finer costs more timer wake-ups. */
const DELAY_RESOLUTION_MS = 10;

/** What the actions act on: the listener. */
export interface OverloadEffects {
  /** refuse_connections started (true) or stopped (false). */
  refuseConnections(refuse: boolean): void;
}

export interface OverloadReport {
  event_loop_delay_ms: number;
  heap_used_mb: number;
  /** Every configured action and whether it runs now. */
  actions: Partial<Record<OverloadAction, boolean>>;
  shed_requests_total: number;
}

export class OverloadManager {
  /** Read by the listener for every response: ask clients to close their connection. */
  keepAliveStopped = false;
  eventLoopDelayMs = 0;
  heapUsedBytes = 0;
  private readonly active = new Map<OverloadAction, boolean>();
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  private timer: NodeJS.Timeout | undefined;
  private lastRefreshMs = 0;
  private shedding = false;
  /** Share of requests to shed, 0..1. */
  private readonly shedShare: number;
  private shedCount = 0;
  private readonly shedRefusal: OverloadRefusal;

  constructor(
    private readonly spec: OverloadSpec,
    private readonly cells: ManagerCells,
    private readonly logger: Logger,
    private readonly effects: OverloadEffects,
  ) {
    this.shedShare = (spec.shed_requests?.share_percent ?? 0) / 100;
    this.shedRefusal = new OverloadRefusal('OM', 'overloaded: try again later', spec.shed_requests?.retry_after_s ?? 0);
    for (const action of OVERLOAD_ACTIONS) {
      if (spec[action] === undefined) continue;
      this.active.set(action, false);
      cells.active(action).set(0);
    }
  }

  start(): void {
    this.histogram.enable();
    this.lastRefreshMs = performance.now();
    this.timer = setInterval(() => this.refresh(), this.spec.refresh_interval_ms);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  /**
   * Whether to shed the request arriving now: while shed_requests runs, each request with
   * probability share_percent. At random, not every n-th: a fixed pattern can line up with a
   * client's own rhythm and shed the same client every time.
   */
  shed(): OverloadRefusal | undefined {
    if (!this.shedding || Math.random() >= this.shedShare) return undefined;
    this.shedCount++;
    this.cells.shed.inc();
    return this.shedRefusal;
  }

  /** Measures both resources, then starts and stops actions. */
  refresh(): void {
    // The histogram is in nanoseconds; max is 0 when no sample was taken (the loop never ran).
    const now = performance.now();
    const timerLateMs = now - this.lastRefreshMs - this.spec.refresh_interval_ms;
    this.lastRefreshMs = now;
    this.eventLoopDelayMs = Math.max(this.histogram.max / 1e6, timerLateMs);
    this.histogram.reset();
    const heap = getHeapStatistics();
    this.heapUsedBytes = heap.used_heap_size + heap.external_memory;
    this.cells.eventLoopDelaySeconds.set(this.eventLoopDelayMs / 1000);
    this.cells.heapUsedBytes.set(this.heapUsedBytes);
    for (const [action, wasActive] of this.active) {
      const isActive = this.reached(this.spec[action]!);
      if (isActive !== wasActive) this.switchAction(action, isActive);
    }
  }

  report(): OverloadReport {
    return {
      event_loop_delay_ms: round(this.eventLoopDelayMs),
      heap_used_mb: round(this.heapUsedBytes / MIB),
      actions: Object.fromEntries(this.active),
      shed_requests_total: this.shedCount,
    };
  }

  private reached(trigger: OverloadTrigger): boolean {
    const delay = trigger.event_loop_delay_ms;
    const heap = trigger.heap_used_mb;
    return (delay !== undefined && this.eventLoopDelayMs >= delay) || (heap !== undefined && this.heapUsedBytes >= heap * MIB);
  }

  private switchAction(action: OverloadAction, active: boolean): void {
    this.active.set(action, active);
    this.cells.active(action).set(active ? 1 : 0);
    if (active) this.cells.activations(action).inc();
    const measured = { action, event_loop_delay_ms: round(this.eventLoopDelayMs), heap_used_mb: round(this.heapUsedBytes / MIB) };
    if (active) this.logger.warn(measured, 'overload action started');
    else this.logger.info(measured, 'overload action stopped');
    switch (action) {
      case 'stop_keepalive':
        this.keepAliveStopped = active;
        break;
      case 'shed_requests':
        this.shedding = active;
        break;
      case 'refuse_connections':
        this.effects.refuseConnections(active);
        break;
    }
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
