// One filter of a chain: its compiled module, its spec, and the VM that currently runs it.
// A trap poisons a VM; the slot replaces it with a fresh instance before the next request.

import type { LogLevel, WasmResult } from '../abi/enums.js';
import type { FilterMetrics, HttpCallRequest, HttpCallResponse, SharedData, SharedQueues, VmHost } from '../abi/host-api.js';
import { FilterModule, FilterTrap, WasmVm } from '../abi/vm.js';
import type { FilterSpec } from '../config/schema.js';
import type { ChainServices, PhaseObserver } from './services.js';

/** The phases a filter's time is measured by, as label values of the phase histogram. */
export const PHASES = ['request_headers', 'request_body', 'response_headers', 'response_body', 'log'] as const;
export type PhaseName = (typeof PHASES)[number];

export class FilterSlot implements VmHost {
  readonly pluginName: string;
  readonly rootId: string;
  readonly vmId = '';
  readonly failOpen: boolean;
  /** Pre-bound histogram children, one per phase, so the hot path does no label lookups. */
  readonly phaseTimers: readonly PhaseObserver[];
  private vm: WasmVm;
  private tick: NodeJS.Timeout | undefined;
  private destroyed = false;

  private constructor(
    readonly spec: FilterSpec,
    readonly module: FilterModule,
    private readonly services: ChainServices,
    private readonly vmConfig: Uint8Array,
    private readonly pluginConfig: Uint8Array,
  ) {
    this.pluginName = spec.name;
    this.rootId = spec.root_id;
    this.failOpen = spec.on_error === 'fail_open';
    this.phaseTimers = PHASES.map((phase) => services.telemetry.filterPhase(spec.name, phase));
    this.vm = undefined as unknown as WasmVm; // set by start() before the slot is handed out
  }

  /** Instantiates and starts the first VM; throws (VmStartError) when the filter refuses to start. */
  static create(spec: FilterSpec, module: FilterModule, services: ChainServices): FilterSlot {
    const encoder = new TextEncoder();
    const slot = new FilterSlot(spec, module, services, encoder.encode(spec.vm_config), encoder.encode(spec.config));
    slot.vm = slot.startVm();
    return slot;
  }

  /** The VM new requests use: the current one, or a fresh one when the current one trapped. */
  currentVm(): WasmVm {
    if (this.vm.broken) this.replaceVm();
    return this.vm;
  }

  get logLevel(): LogLevel {
    return this.services.logLevel;
  }

  get sharedData(): SharedData {
    return this.services.sharedData;
  }

  get queues(): SharedQueues {
    return this.services.queues;
  }

  get metrics(): FilterMetrics {
    return this.services.filterMetrics;
  }

  log(level: LogLevel, message: string): void {
    this.services.filterLog(this.pluginName, level, message);
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.services.hostProperty(key);
  }

  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null) => void): WasmResult {
    return this.services.httpCall(request, done);
  }

  setTickPeriod(ms: number, onTick: () => void): void {
    if (this.tick !== undefined) clearInterval(this.tick);
    this.tick = undefined;
    if (ms > 0 && !this.destroyed) {
      this.tick = setInterval(onTick, ms);
      this.tick.unref();
    }
  }

  foreignFunction(name: string): ((args: Uint8Array) => Uint8Array | WasmResult) | undefined {
    return this.services.foreignFunctions.get(name);
  }

  /** A trap outside a request (tick, http_call callback, queue): counted and logged; the VM is replaced lazily. */
  reportTrap(error: Error, phase: string): void {
    this.recordTrap(phase, error);
  }

  /** Counts and logs a trap; the VM has already marked itself broken. */
  recordTrap(phase: string, error: unknown): void {
    this.services.telemetry.filterTrap(this.pluginName);
    // A FilterTrap already says where it trapped; anything else is a host-side failure of that phase.
    const message = error instanceof FilterTrap ? error.message : `failed in ${phase}: ${error instanceof Error ? error.message : String(error)}`;
    this.services.filterLog(this.pluginName, 4 as LogLevel, message);
  }

  /** Stops ticks and deletes the root context; the slot serves nothing afterwards. */
  destroy(): void {
    this.destroyed = true;
    this.setTickPeriod(0, noop);
    if (!this.vm.broken) this.vm.destroy();
  }

  private startVm(): WasmVm {
    return WasmVm.createSync(this.module, this, { vmConfig: this.vmConfig, pluginConfig: this.pluginConfig });
  }

  private replaceVm(): void {
    this.setTickPeriod(0, noop);
    try {
      this.vm = this.startVm();
      this.services.filterLog(this.pluginName, 2 as LogLevel, 'replaced a trapped VM with a fresh instance');
    } catch (error) {
      // A module that started once and now refuses to start again stays broken; every request
      // then meets it as a failed filter and its on_error policy applies.
      this.recordTrap('vm_start', error);
    }
  }
}

function noop(): void {}
