// One filter running in-process for a test: its module compiled and contained as the proxy runs
// it (host/abi/vm.ts), with the VM-wide host services in memory and under the test's control.
// The test sets what the proxy would know (plugin config, properties, clusters), opens streams
// (stream-under-test.ts) and reads back what the filter did: logs, metrics, http_calls (which it
// answers), shared data, ticks. Nothing runs on its own: no timers, no sockets.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { LogLevel, WasmResult } from '../abi/enums.js';
import type { HttpCallRequest, HttpCallResponse, HttpContextHost, SharedData, VmHost } from '../abi/host-api.js';
import { FilterModule, VmStartError, WasmVm } from '../abi/vm.js';
import { weftForeignFunctions, type ForeignFunction } from '../extensions/index.js';
import { clusterProperties, type EndpointFacts } from '../proxy/cluster-properties.js';
import { FilterQuotas } from '../chain/filter-quotas.js';
import { InMemorySharedData } from '../chain/shared-state.js';
import { MemoryQueues, RecordingMetrics, type MetricRecord } from './memory-services.js';
import { StreamUnderTest, type StreamOptions } from './stream-under-test.js';
import { bytesOf, type Bytes, type HeaderInput, headerPairs } from './values.js';

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical';
const LEVEL_NAMES: readonly LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];

/** An endpoint as a balancer sees it in `weft.cluster.<name>.endpoints`; only address is required. */
export interface EndpointInput {
  address: string;
  weight?: number;
  healthy?: boolean;
  inFlight?: number;
  latencyEwmaMs?: number;
  consecutiveFailures?: number;
  recentFailures?: number;
  requestsTotal?: number;
}

export interface FilterOptions {
  /** plugin_name, and the name logs are filed under; default the file's name without .wasm. */
  name?: string;
  /** plugin_root_id; default "". */
  rootId?: string;
  /** The plugin configuration: bytes and strings as they are, anything else as JSON. */
  config?: unknown;
  /** The VM configuration, the same way. */
  vmConfig?: unknown;
  /** Properties the host answers for every context (a stream's own properties come first). */
  properties?: Record<string, Bytes>;
  /** Clusters the proxy knows: http_call may use them, `weft.cluster.<name>.endpoints` describes them. */
  clusters?: Record<string, ReadonlyArray<string | EndpointInput>>;
  /** Foreign functions besides Weft's own (weft.crypto.verify, weft.clock.monotonic_ns), or replacing them. */
  foreignFunctions?: Record<string, ForeignFunction>;
  /** Lowest level kept (and told the filter); default trace, so a test sees every line. */
  logLevel?: LogLevelName;
  /** Another filter's sharedData, for filters that must see each other's entries (two instances of one filter). */
  sharedData?: SharedData;
  /** Fuel per call and memory cap, as in the manifest (fuel, max_memory_mb); default the proxy's. */
  fuel?: number;
  maxMemoryMb?: number;
}

/** A log line the filter wrote. */
export interface LogLine {
  level: LogLevelName;
  message: string;
}

/** The filter refused to start (trapped, or proxy_on_vm_start / proxy_on_configure returned false). */
export class FilterStartError extends Error {
  constructor(
    cause: VmStartError,
    /** What it logged meanwhile: usually why it refused its configuration. */
    readonly logs: readonly LogLine[],
  ) {
    const complaints = logs.filter((line) => line.level === 'warn' || line.level === 'error' || line.level === 'critical');
    super([cause.message, ...complaints.map((line) => `  ${line.level}: ${line.message}`)].join('\n'), { cause });
    this.name = 'FilterStartError';
  }
}

/** An http_call the filter made; answer it with respond() or fail(), once. */
export class HttpCallUnderTest {
  answered = false;

  constructor(
    readonly request: HttpCallRequest,
    private readonly done: (response: HttpCallResponse | null) => void,
  ) {}

  get cluster(): string {
    return this.request.cluster;
  }

  get timeoutMs(): number {
    return this.request.timeoutMs;
  }

  /** A header of the request (:method, :path, :authority included), the first value; undefined when absent. */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.request.headers.find(([key]) => key === lower)?.[1];
  }

  get body(): Buffer {
    return Buffer.from(this.request.body);
  }

  /** Delivers the answer: proxy_on_http_call_response runs now, before respond() returns. */
  respond(response: { status: number; headers?: HeaderInput; body?: Bytes; trailers?: HeaderInput }): void {
    this.answer({
      headers: [[':status', String(response.status)], ...headerPairs(response.headers ?? [])],
      body: bytesOf(response.body ?? ''),
      trailers: headerPairs(response.trailers ?? []),
    });
  }

  /** The call failed (connection refused, timeout, reset): the filter hears of it as the proxy tells it. */
  fail(): void {
    this.answer(null);
  }

  private answer(response: HttpCallResponse | null): void {
    if (this.answered) throw new Error(`the http_call to ${this.cluster} was answered already`);
    this.answered = true;
    this.done(response);
  }
}

export class FilterUnderTest implements VmHost {
  readonly pluginName: string;
  readonly rootId: string;
  readonly vmId = '';
  readonly logLevel: LogLevel;
  readonly sharedData: SharedData;
  readonly queues = new MemoryQueues();
  /** The proxy's default quotas; a refusal shows as the call's InternalFailure. */
  readonly quotas = new FilterQuotas(undefined, () => {});
  readonly metrics = new RecordingMetrics();
  /** Every log line, in order. */
  readonly logs: LogLine[] = [];
  /** Every http_call the filter made, in order. */
  readonly httpCalls: HttpCallUnderTest[] = [];
  /** Traps in callbacks the VM drives itself (tick, http_call response, queue ready); stream callbacks throw instead. */
  readonly traps: Array<{ phase: string; error: Error }> = [];
  /** The tick period the filter asked for; 0 = none. */
  tickPeriodMs = 0;

  private vm: WasmVm | undefined;
  private onTick: (() => void) | undefined;
  private nextStreamId = 2; // 1 is the root context
  /** Streams not yet complete, by id: where proxy_set_effective_context finds them. */
  private readonly openStreams = new Map<number, StreamUnderTest>();
  private readonly hostProperties: (key: string) => Uint8Array | undefined;
  private readonly foreign: Map<string, ForeignFunction>;

  private constructor(readonly module: FilterModule, private readonly options: FilterOptions, name: string) {
    this.pluginName = name;
    this.rootId = options.rootId ?? '';
    this.logLevel = LEVEL_NAMES.indexOf(options.logLevel ?? 'trace') as LogLevel;
    this.sharedData = options.sharedData ?? new InMemorySharedData();
    this.foreign = new Map([...weftForeignFunctions, ...Object.entries(options.foreignFunctions ?? {})]);
    const clusters = new Map(Object.entries(options.clusters ?? {}).map(([cluster, endpoints]) => [cluster, { name: cluster, endpoints: endpoints.map(endpointFacts) }]));
    const clusterFacts = clusterProperties({ all: () => clusters.values(), get: (cluster) => clusters.get(cluster) });
    const given = new Map(Object.entries(options.properties ?? {}).map(([key, value]) => [key, bytesOf(value)]));
    this.hostProperties = (key) => given.get(key) ?? clusterFacts(key);
  }

  /**
   * Compiles the module (a .wasm path or its bytes) and starts a VM of it with `options`; throws
   * FilterStartError, with the filter's complaints, when it refuses to start.
   */
  static async load(wasm: string | Uint8Array, options: FilterOptions = {}): Promise<FilterUnderTest> {
    const bytes = typeof wasm === 'string' ? await readFile(wasm) : wasm;
    const name = options.name ?? (typeof wasm === 'string' ? basename(wasm, '.wasm') : 'filter');
    const filter = new FilterUnderTest(await FilterModule.compile(bytes), options, name);
    await filter.start();
    return filter;
  }

  /** A new HTTP stream (context) of this filter. */
  stream(options: StreamOptions = {}): StreamUnderTest {
    return new StreamUnderTest(this.runningVm(), this.nextStreamId++, options, this.openStreams);
  }

  /** Ends this VM and starts a fresh one with the same module and options (what a trap or a hot swap does). */
  async restart(): Promise<void> {
    this.close();
    await this.start();
  }

  /** proxy_on_done / proxy_on_delete for the root context; the filter runs nothing afterwards. */
  close(): void {
    this.vm?.destroy();
    this.vm = undefined;
  }

  /** True once a callback trapped: the proxy would replace this VM before the next request. */
  get broken(): boolean {
    return this.vm?.broken ?? true;
  }

  // ---- what the filter did -----------------------------------------------------------------

  /** Messages logged at `level` (every level when omitted). */
  messages(level?: LogLevelName): string[] {
    return this.logs.filter((line) => level === undefined || line.level === level).map((line) => line.message);
  }

  /** Counter or gauge value by the name the filter defined (labels included); undefined when not defined. */
  metric(name: string): number | undefined {
    const record = this.metrics.byName(name);
    if (record === undefined || record.kind === 'histogram') return undefined;
    return Number(this.metrics.get(record.id) as bigint);
  }

  /** Values recorded on a histogram, in order; undefined when not defined. */
  histogram(name: string): number[] | undefined {
    const record = this.metrics.byName(name);
    return record?.kind === 'histogram' ? record.observed.map(Number) : undefined;
  }

  /** Every metric the filter defined. */
  definedMetrics(): MetricRecord[] {
    return this.metrics.all();
  }

  /** http_calls not answered yet. */
  pendingHttpCalls(): HttpCallUnderTest[] {
    return this.httpCalls.filter((call) => !call.answered);
  }

  /** A shared data entry of this filter's vm_id, as bytes; undefined when absent. */
  getSharedData(key: string): Buffer | undefined {
    const entry = this.sharedData.get(this.vmId, key);
    return entry === undefined ? undefined : Buffer.from(entry.value);
  }

  /** Sets a shared data entry, as another worker or filter instance would. */
  setSharedData(key: string, value: Bytes): void {
    this.sharedData.set(this.vmId, key, Uint8Array.from(bytesOf(value)), 0, Infinity); // the store keeps what it is given
  }

  /** Runs proxy_on_tick once, as the proxy does every tickPeriodMs; throws when the filter set no period. */
  tick(): void {
    if (this.onTick === undefined) throw new Error(`${this.pluginName} set no tick period (proxy_set_tick_period_milliseconds)`);
    this.onTick();
  }

  /** Runs proxy_on_foreign_function, the way the proxy hands a filter an event of its own. */
  foreignEvent(functionId: number, args: Bytes = ''): void {
    this.runningVm().onForeignFunction(functionId, bytesOf(args));
  }

  // ---- VmHost: what the ABI layer calls ------------------------------------------------------

  log(level: LogLevel, message: string): void {
    this.logs.push({ level: LEVEL_NAMES[level] ?? 'critical', message });
  }

  reportTrap(error: Error, phase: string): void {
    this.traps.push({ phase, error });
  }

  liveStream(id: number): HttpContextHost | undefined {
    return this.openStreams.get(id);
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.hostProperties(key);
  }

  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null) => void): WasmResult {
    // The proxy's checks (host/proxy/http-call.ts): a cluster it knows, and the three pseudo-headers.
    const names = new Set(request.headers.map(([name]) => name));
    if (!Object.hasOwn(this.options.clusters ?? {}, request.cluster)) return WasmResult.BadArgument;
    if (!names.has(':method') || !names.has(':path') || !names.has(':authority')) return WasmResult.BadArgument;
    this.httpCalls.push(new HttpCallUnderTest(request, done));
    return WasmResult.Ok;
  }

  setTickPeriod(ms: number, onTick: () => void): void {
    this.tickPeriodMs = ms;
    this.onTick = ms > 0 ? onTick : undefined;
  }

  foreignFunction(name: string): ForeignFunction | undefined {
    return this.foreign.get(name);
  }

  // ---- internals -----------------------------------------------------------------------------

  private async start(): Promise<void> {
    const from = this.logs.length;
    try {
      this.vm = await WasmVm.create(this.module, this, {
        vmConfig: configBytes(this.options.vmConfig),
        pluginConfig: configBytes(this.options.config),
        fuel: this.options.fuel,
        maxMemoryMb: this.options.maxMemoryMb,
      });
    } catch (error) {
      if (error instanceof VmStartError) throw new FilterStartError(error, this.logs.slice(from));
      throw error;
    }
  }

  private runningVm(): WasmVm {
    if (this.vm === undefined) throw new Error(`${this.pluginName} is closed`);
    return this.vm;
  }
}

function configBytes(config: unknown): Uint8Array {
  if (config === undefined) return new Uint8Array(0);
  if (typeof config === 'string' || config instanceof Uint8Array) return bytesOf(config);
  return Buffer.from(JSON.stringify(config));
}

function endpointFacts(input: string | EndpointInput): EndpointFacts {
  const endpoint = typeof input === 'string' ? { address: input } : input;
  const recentFailures = endpoint.recentFailures ?? 0;
  return {
    address: endpoint.address,
    weight: endpoint.weight ?? 1,
    healthy: endpoint.healthy ?? true,
    inFlight: endpoint.inFlight ?? 0,
    latencyEwmaMs: endpoint.latencyEwmaMs ?? 0,
    consecutiveFailures: endpoint.consecutiveFailures ?? 0,
    requestsTotal: endpoint.requestsTotal ?? 0,
    recentFailures: () => recentFailures,
  };
}
