// What a chain needs from the rest of the host, as one interface handed in by the composition root.
// The chain never imports the proxy: http_call and cluster properties arrive through here.

import type { LogLevel, WasmResult } from '../abi/enums.js';
import type { FilterQuotaSpec, QuotaName } from './filter-quotas.js';
import type { FilterMetrics, GrpcCall, GrpcCallEvents, GrpcCallRequest, HttpCallRequest, HttpCallResponse, SharedData, SharedQueues } from '../abi/host-api.js';

export interface PhaseObserver {
  observe(seconds: number): void;
}

export interface ChainTelemetry {
  /** A histogram child bound to (filter, phase). */
  filterPhase(filter: string, phase: string): PhaseObserver;
  filterTrap(filter: string): void;
  /** A filter entered (`true`) or left (`false`) a cool-down after repeated traps. */
  filterCooldown(filter: string, active: boolean): void;
  /** A filter was refused something past one of its quotas (host/chain/filter-quotas.ts). */
  filterQuotaExceeded(filter: string, quota: QuotaName | 'cpu_budget_ms_per_s'): void;
}

export interface ChainServices {
  /** The level below which filters' log calls are dropped (proxy_get_log_level answers it). */
  readonly logLevel: LogLevel;
  readonly sharedData: SharedData;
  readonly queues: SharedQueues;
  readonly filterMetrics: FilterMetrics;
  readonly telemetry: ChainTelemetry;
  /** Quotas of filters that set none of their own, over the built-in defaults (DEFAULT_FILTER_QUOTAS). */
  readonly quotaDefaults?: Partial<FilterQuotaSpec>;
  readonly foreignFunctions: ReadonlyMap<string, (args: Uint8Array) => Uint8Array | WasmResult>;
  filterLog(filter: string, level: LogLevel, message: string): void;
  /** Properties served by the host itself, e.g. `weft.cluster.<name>.endpoints`. */
  hostProperty(key: string): Uint8Array | undefined;
  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null, failure?: string) => void): WasmResult;
  /** gRPC calls from filters (host/proxy/grpc-call.ts); absent = the calls answer Unimplemented. */
  grpcCall?(request: GrpcCallRequest, events: GrpcCallEvents): GrpcCall | WasmResult;
}
