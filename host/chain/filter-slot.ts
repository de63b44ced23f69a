// One filter of a chain: its compiled module, its spec, and the VM that currently runs it.
// A trap poisons a VM; the slot replaces it with a fresh instance before the next request,
// unless the filter trapped so often that it is cooling down (trap-cooldown.ts).
//
// A slot may serve several chains at once: a hot swap that keeps a filter's module and
// configuration hands the same slot (so the same VM and its in-VM state) to the next chain.
// Chains retain and release it; the last release destroys it.

import { type LogLevel, WasmResult } from '../abi/enums.js';
import type { FilterMetrics, GrpcCall, GrpcCallEvents, GrpcCallRequest, HttpCallRequest, HttpCallResponse, HttpContextHost, SharedData, SharedQueues, VmHost } from '../abi/host-api.js';
import { CpuBudgetSpent, DEFAULT_CPU_BUDGET_MS_PER_S, FUEL_PER_CPU_MS } from '../abi/fuel.js';
import { FilterModule, FilterTrap, VmStartError, WasmVm } from '../abi/vm.js';
import type { FilterSpec } from '../config/schema.js';
import { liveStream } from './http-stream.js';
import type { ChainServices, PhaseObserver } from './services.js';
import { FilterQuotas } from './filter-quotas.js';
import { DEFAULT_TRAP_COOLDOWN, TrapCooldown } from './trap-cooldown.js';

/** The phases a filter's time is measured by, as label values of the phase histogram. */
export const PHASES = ['request_headers', 'request_body', 'response_headers', 'response_body', 'log', 'request_trailers', 'response_trailers'] as const;
export type PhaseName = (typeof PHASES)[number];

/** What a slot needs of a filter's spec; the manifest's FilterSpec and the registry's chain entries both fit. */
export type SlotSpec = Pick<FilterSpec, 'name' | 'config' | 'root_id' | 'vm_config' | 'on_error'> &
  Partial<Pick<FilterSpec, 'fuel' | 'max_memory_mb' | 'cpu_budget_ms_per_s' | 'trap_cooldown' | 'vm_id' | 'quotas'>>;

export class FilterSlot implements VmHost {
  readonly pluginName: string;
  readonly rootId: string;
  /** The namespace of its shared data and queues: the manifest's vm_id, else the filter's name (vmIdOf). */
  readonly vmId: string;
  readonly quotas: FilterQuotas;
  readonly failOpen: boolean;
  /** Pre-bound histogram children, one per phase, so the hot path does no label lookups. */
  readonly phaseTimers: readonly PhaseObserver[];
  private vm: WasmVm;
  private tick: NodeJS.Timeout | undefined;
  private destroyed = false;
  /** Chains holding this slot. */
  private references = 0;
  /** While the first VM starts: its warn-and-above log lines, for the error when it does not start. */
  private startComplaints: string[] | undefined;
  private readonly cooldown: TrapCooldown;
  /** CPU budget: ms per second, and in fuel; the VM counts what its calls spend, and budgetWindow starts its next second. */
  private readonly cpuBudgetMs: number;
  private readonly cpuBudgetFuel: number;
  private budgetWindow: NodeJS.Timeout | undefined;
  /** Logged once that the filter asked for ticks faster than MIN_TICK_MS. */
  private warnedShortTick = false;
  /** The last VM whose trap was counted: a broken VM counts once, however many requests meet it. */
  private countedVm: WasmVm | undefined;

  private constructor(
    readonly spec: SlotSpec,
    readonly module: FilterModule,
    private readonly services: ChainServices,
    private readonly vmConfig: Uint8Array,
    private readonly pluginConfig: Uint8Array,
    private readonly onDestroyed: (() => void) | undefined,
  ) {
    this.pluginName = spec.name;
    this.rootId = spec.root_id;
    this.vmId = vmIdOf(spec);
    this.failOpen = spec.on_error === 'fail_open';
    this.quotas = new FilterQuotas({ ...services.quotaDefaults, ...spec.quotas }, (quota) => services.telemetry.filterQuotaExceeded(spec.name, quota));
    this.phaseTimers = PHASES.map((phase) => services.telemetry.filterPhase(spec.name, phase));
    this.cooldown = new TrapCooldown({ ...DEFAULT_TRAP_COOLDOWN, ...spec.trap_cooldown }, {
      started: ({ traps, window_ms, cooldown_ms }, cause) => {
        services.telemetry.filterCooldown(spec.name, true);
        const mode = this.failOpen ? 'skip it (fail_open)' : 'get 500 (fail_closed)';
        const why = cause === 'traps' ? `trapped ${traps} times within ${window_ms} ms` : `spent its CPU budget (cpu_budget_ms_per_s ${this.cpuBudgetMs})`;
        services.filterLog(spec.name, WARN, `${why}: cooling down for ${cooldown_ms} ms, requests ${mode} without calling it`);
      },
      ended: (expired) => {
        services.telemetry.filterCooldown(spec.name, false);
        if (expired) services.filterLog(spec.name, INFO, 'cool-down over: the next request gets a fresh VM');
      },
    });
    this.cpuBudgetMs = spec.cpu_budget_ms_per_s ?? DEFAULT_CPU_BUDGET_MS_PER_S;
    this.cpuBudgetFuel = this.cpuBudgetMs * FUEL_PER_CPU_MS;
    this.vm = undefined as unknown as WasmVm; // set by start() before the slot is handed out
  }

  /**
   * Instantiates and starts the first VM; throws (VmStartError) when the filter refuses to start,
   * with what the filter logged at warn level or above while starting (usually its reason).
   * `onDestroyed` hears when the last chain released the slot (or destroy() was called).
   */
  static create(spec: SlotSpec, module: FilterModule, services: ChainServices, onDestroyed?: () => void): FilterSlot {
    const encoder = new TextEncoder();
    const slot = new FilterSlot(spec, module, services, encoder.encode(spec.vm_config), encoder.encode(spec.config), onDestroyed);
    const complaints: string[] = [];
    slot.startComplaints = complaints;
    try {
      slot.vm = slot.startVm();
      slot.startBudgetWindow();
    } catch (error) {
      if (!(error instanceof VmStartError) || complaints.length === 0) throw error;
      throw new VmStartError(`${error.message} (the filter logged: ${complaints.join('; ')})`, { phase: error.phase, cause: error.cause });
    } finally {
      slot.startComplaints = undefined;
    }
    return slot;
  }

  /** Every second, a new CPU window for the VM; a VM that spent the last one (and was not called since) is retired. */
  private startBudgetWindow(): void {
    this.budgetWindow = setInterval(() => {
      if (this.vm.resetCpuSpent() && !this.vm.broken) this.cpuBudgetSpent();
    }, 1000);
    this.budgetWindow.unref();
  }

  /** A chain takes the slot. */
  retain(): void {
    this.references++;
  }

  /** A chain lets go; the last one destroys the slot. */
  release(): void {
    if (--this.references === 0) this.destroy();
  }

  /**
   * The VM new requests use: the current one, or a fresh one when the current one trapped. During
   * a cool-down, the broken one: it refuses every call, so the filter's on_error mode applies.
   */
  currentVm(): WasmVm {
    if (this.vm.broken && !this.cooldown.active) this.replaceVm();
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
    if (this.startComplaints !== undefined && level >= WARN) this.startComplaints.push(message);
    this.services.filterLog(this.pluginName, level, message);
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.services.hostProperty(key);
  }

  liveStream(id: number): HttpContextHost | undefined {
    return liveStream(id);
  }

  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null, failure?: string) => void): WasmResult {
    const quotas = this.quotas;
    if (!quotas.takeHttpCall()) return WasmResult.InternalFailure; // its http_calls quota is in flight
    const result = this.services.httpCall(request, (response, failure) => {
      quotas.httpCallEnded();
      done(response, failure);
    });
    if (result !== WasmResult.Ok) quotas.httpCallEnded(); // not sent: nothing will answer
    return result;
  }

  /** A gRPC call or stream counts against the http_calls quota while it is open, as an http_call does. */
  grpcCall(request: GrpcCallRequest, events: GrpcCallEvents): GrpcCall | WasmResult {
    if (this.services.grpcCall === undefined) return WasmResult.Unimplemented;
    const quotas = this.quotas;
    if (!quotas.takeHttpCall()) return WasmResult.InternalFailure;
    let open = true;
    const end = (): void => {
      if (!open) return;
      open = false;
      quotas.httpCallEnded();
    };
    const opened = this.services.grpcCall(request, {
      initialMetadata: events.initialMetadata,
      message: events.message,
      trailingMetadata: events.trailingMetadata,
      close: (status, message) => {
        end();
        events.close(status, message);
      },
    });
    if (typeof opened === 'number') {
      end(); // not sent: nothing will answer
      return opened;
    }
    return {
      send: (message, endStream) => opened.send(message, endStream),
      closeSend: () => opened.closeSend(),
      cancel: () => {
        end();
        opened.cancel();
      },
    };
  }

  setTickPeriod(ms: number, onTick: () => void): void {
    if (this.tick !== undefined) clearInterval(this.tick);
    this.tick = undefined;
    if (ms > 0 && ms < MIN_TICK_MS) {
      if (!this.warnedShortTick) this.services.filterLog(this.pluginName, WARN, `asked for a tick every ${ms} ms; ticks come at most every ${MIN_TICK_MS} ms`);
      this.warnedShortTick = true;
      ms = MIN_TICK_MS;
    }
    if (ms > 0 && !this.destroyed) {
      this.tick = setInterval(onTick, ms);
      this.tick.unref();
    }
  }

  foreignFunction(name: string): ((args: Uint8Array) => Uint8Array | WasmResult) | undefined {
    return this.services.foreignFunctions.get(name);
  }

  /**
   * The VM's calls spent the CPU budget of this second (it refused the next call, or the second
   * ended): its VM is retired and it cools down (its on_error mode applies).
   */
  private cpuBudgetSpent(): void {
    this.services.telemetry.filterQuotaExceeded(this.pluginName, 'cpu_budget_ms_per_s');
    this.vm.broken = true; // refuses every further call; the cool-down's end brings a fresh VM
    this.setTickPeriod(0, noop);
    this.cooldown.begin('cpu_budget');
  }

  /** A trap outside a request (tick, http_call callback, queue): counted and logged; the VM is replaced lazily. */
  reportTrap(error: Error, phase: string): void {
    this.recordTrap(phase, error);
  }

  /** Counts and logs a trap; the VM has already marked itself broken. */
  recordTrap(phase: string, error: unknown): void {
    // During a cool-down, requests meet the broken VM without calling it: no new traps.
    if (this.cooldown.active) return;
    if (error instanceof FilterTrap && error.cause instanceof CpuBudgetSpent) {
      // The first call after the calls that spent the budget refused to run: not a trap of the
      // filter's own, so none is counted.
      this.cpuBudgetSpent();
      return;
    }
    this.services.telemetry.filterTrap(this.pluginName);
    // A FilterTrap already says where it trapped; anything else is a host-side failure of that phase.
    const message = error instanceof FilterTrap ? error.message : `failed in ${phase}: ${error instanceof Error ? error.message : String(error)}`;
    this.services.filterLog(this.pluginName, 4 as LogLevel, message);
    if (this.vm.broken && this.countedVm !== this.vm) {
      this.countedVm = this.vm;
      this.cooldown.record();
    }
  }

  /** Stops ticks and deletes the root context; the slot serves nothing afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.setTickPeriod(0, noop);
    clearInterval(this.budgetWindow);
    this.cooldown.stop();
    if (!this.vm.broken) this.vm.destroy();
    this.onDestroyed?.();
  }

  private startVm(): WasmVm {
    const { fuel, max_memory_mb: maxMemoryMb } = this.spec;
    return WasmVm.createSync(this.module, this, { vmConfig: this.vmConfig, pluginConfig: this.pluginConfig, fuel, maxMemoryMb, cpuBudgetFuel: this.cpuBudgetFuel });
  }

  private replaceVm(): void {
    this.setTickPeriod(0, noop);
    try {
      this.vm = this.startVm();
      this.services.filterLog(this.pluginName, 2 as LogLevel, 'replaced a trapped VM with a fresh instance');
    } catch (error) {
      // A module that started once and now refuses to start again stays broken; every request
      // then meets it as a failed filter and its on_error policy applies. Each failed start
      // counts towards a cool-down, which ends the rebuild attempts for a while.
      this.recordTrap('vm_start', error);
      this.cooldown.record();
    }
  }
}

/** A filter's shared-data and queue namespace: its vm_id, else its own name. */
export function vmIdOf(spec: { name: string; vm_id?: string }): string {
  return spec.vm_id ?? spec.name;
}

/** The shortest tick period: a filter cannot keep the event loop busy with its ticks alone. */
const MIN_TICK_MS = 10;

function noop(): void {}

const INFO = 2 as LogLevel;
const WARN = 3 as LogLevel;
