// Shared by the abi-*.test.ts files: WAT compiled with wabt, a probe module whose
// proxy_on_request_headers runs one named case (a WAT expression) per call, and the two
// interfaces the ABI layer talks to (VmHost, HttpContextHost) with every knob open for ABI tests
// (failure injection, re-entry); their services are the test kit's (host/testkit).

import wabtInit from 'wabt';
import { LogLevel, StreamType, WasmResult } from '../host/abi/enums.js';
import { HeaderMap } from '../host/abi/header-map.js';
import type { BodyBuffer, HttpCallRequest, HttpCallResponse, HttpContextHost, VmHost } from '../host/abi/host-api.js';
import { FilterModule, WasmVm } from '../host/abi/vm.js';
import { FilterQuotas } from '../host/chain/filter-quotas.js';
import { InMemorySharedData } from '../host/chain/shared-state.js';
import { MemoryBody, MemoryQueues, RecordingMetrics } from '../host/testkit/memory-services.js';

/** The in-memory body the kit uses; the ABI tests place request and response bodies with it. */
export { MemoryBody as TestBody };

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

/** WebAssembly text to binary. */
export async function wat(source: string): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const module = wabt.parseWat('test.wat', source, { mutable_globals: true, sign_extension: true, bulk_memory: true });
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

// ---- the probe module ------------------------------------------------------------------------

/** Fixed scratch addresses the cases use as out-pointers. */
export const OUT_PTR = 0x1000;
export const OUT_LEN = 0x1004;
export const OUT_X = 0x1008;
/** Where the probe's bump allocator starts. */
const HEAP_START = 0x8000;

/** Every import the probe declares, with its WAT signature. */
export const IMPORTS: ReadonlyArray<readonly [string, string, string]> = [
  ['env', 'proxy_log', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_log_level', '(param i32) (result i32)'],
  ['env', 'proxy_get_current_time_nanoseconds', '(param i32) (result i32)'],
  ['env', 'proxy_set_tick_period_milliseconds', '(param i32) (result i32)'],
  ['env', 'proxy_get_buffer_status', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_buffer_bytes', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_set_buffer_bytes', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_header_map_size', '(param i32 i32) (result i32)'],
  ['env', 'proxy_get_header_map_pairs', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_set_header_map_pairs', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_header_map_value', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_add_header_map_value', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_replace_header_map_value', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_remove_header_map_value', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_continue_stream', '(param i32) (result i32)'],
  ['env', 'proxy_close_stream', '(param i32) (result i32)'],
  ['env', 'proxy_send_local_response', '(param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_status', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_http_call', '(param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_grpc_call', '(param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_shared_data', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_set_shared_data', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_register_shared_queue', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_resolve_shared_queue', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_enqueue_shared_queue', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_dequeue_shared_queue', '(param i32 i32 i32) (result i32)'],
  ['env', 'proxy_define_metric', '(param i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_increment_metric', '(param i32 i64) (result i32)'],
  ['env', 'proxy_record_metric', '(param i32 i64) (result i32)'],
  ['env', 'proxy_get_metric', '(param i32 i32) (result i32)'],
  ['env', 'proxy_get_property', '(param i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_set_property', '(param i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_set_effective_context', '(param i32) (result i32)'],
  ['env', 'proxy_done', '(result i32)'],
  ['env', 'proxy_call_foreign_function', '(param i32 i32 i32 i32 i32 i32) (result i32)'],
  ['env', 'proxy_get_configuration', '(param i32 i32) (result i32)'],
  ['env', 'proxy_continue_request', '(result i32)'],
  ['env', 'abort', '(param i32 i32 i32 i32)'],
  ['wasi_snapshot_preview1', 'fd_write', '(param i32 i32 i32 i32) (result i32)'],
  ['wasi_snapshot_preview1', 'random_get', '(param i32 i32) (result i32)'],
  ['wasi_snapshot_preview1', 'clock_time_get', '(param i32 i64 i32) (result i32)'],
  ['wasi_snapshot_preview1', 'environ_sizes_get', '(param i32 i32) (result i32)'],
  ['wasi_snapshot_preview1', 'fd_fdstat_get', '(param i32 i32) (result i32)'],
  ['wasi_snapshot_preview1', 'poll_oneoff', '(param i32 i32 i32 i32) (result i32)'],
  ['wasi_unstable', 'proc_exit', '(param i32)'],
];

export interface ProbeSpec {
  /** ABI marker to export; null for none. Default 0_2_1. */
  abi?: '0_2_1' | '0_2_0' | null;
  /** Name the bump allocator is exported under. Default proxy_on_memory_allocate. */
  allocator?: 'proxy_on_memory_allocate' | 'malloc';
  /** Named cases: WAT expressions of type i32, run by Probe.run; `$a` and `$b` are its arguments. */
  cases?: Record<string, string>;
  /** More module fields (exports such as proxy_on_vm_start). */
  fields?: string;
  /** More imports, as WAT import fields. */
  imports?: string;
}

/**
 * Builds probe modules. Strings and bytes placed with str()/bytes() become data segments; the
 * returned text is "(i32.const ptr) (i32.const len)", ready to be spliced into a call.
 */
export class ProbeBuilder {
  private readonly segments: string[] = [];
  private next = 64;

  str(text: string): string {
    return this.bytes(Buffer.from(text, 'utf8'));
  }

  bytes(data: Uint8Array): string {
    const [ptr, len] = this.place(data);
    return `(i32.const ${ptr}) (i32.const ${len})`;
  }

  /** Places bytes (or UTF-8 text) in a data segment; returns [address, length]. */
  place(data: Uint8Array | string): [number, number] {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const ptr = this.next;
    this.next = (ptr + bytes.length + 8) & ~7;
    if (this.next >= OUT_PTR) throw new Error('probe data segment overflows into the scratch area');
    const escaped = Array.from(bytes, (byte) => `\\${byte.toString(16).padStart(2, '0')}`).join('');
    this.segments.push(`(data (i32.const ${ptr}) "${escaped}")`);
    return [ptr, bytes.length];
  }

  /** An AssemblyScript string (UTF-16LE, byte length in the u32 before it); returns its address. */
  assemblyScriptString(text: string): number {
    const utf16 = Buffer.from(text, 'utf16le');
    const header = Buffer.alloc(4);
    header.writeUInt32LE(utf16.length);
    return this.place(Buffer.concat([header, utf16]))[0] + 4;
  }

  /** The module text and the index of each case (the header count Probe.run passes). */
  module(spec: ProbeSpec = {}): { source: string; caseIndex: Map<string, number> } {
    const abi = spec.abi === undefined ? '0_2_1' : spec.abi;
    const allocator = spec.allocator ?? 'proxy_on_memory_allocate';
    const caseIndex = new Map<string, number>();
    const branches = Object.entries(spec.cases ?? {}).map(([name, body], index) => {
      caseIndex.set(name, index);
      return `(if (i32.eq (local.get $case) (i32.const ${index})) (then (return ${body})))`;
    });
    const source = `(module
  ${IMPORTS.map(([module, name, signature]) => `(import "${module}" "${name}" (func $${name} ${signature}))`).join('\n  ')}
  ${spec.imports ?? ''}
  (memory (export "memory") 1)
  ${this.segments.join('\n  ')}
  (global $heap (mut i32) (i32.const ${HEAP_START}))
  (global $a (mut i32) (i32.const 0))
  (global $b (mut i32) (i32.const 0))
  ${abi === null ? '' : `(func (export "proxy_abi_version_${abi}"))`}
  (func (export "${allocator}") (param $size i32) (result i32)
    (local $ptr i32)
    (local $limit i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.set $limit (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (global.get $heap) (local.get $limit))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap) (local.get $limit)) (i32.const 16)) (i32.const 1))) (i32.const -1))
        (then (return (i32.const 0))))))
    (local.get $ptr))
  (func (export "proxy_on_request_trailers") (param $ctx i32) (param $value i32) (result i32)
    (global.set $a (local.get $value)) (i32.const 0))
  (func (export "proxy_on_response_trailers") (param $ctx i32) (param $value i32) (result i32)
    (global.set $b (local.get $value)) (i32.const 0))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $case i32) (param $eos i32) (result i32)
    ${branches.join('\n    ')}
    (i32.const -1))
  ${spec.fields ?? ''}
)`;
    return { source, caseIndex };
  }
}

/** A started probe VM with one stream context (id STREAM_ID). */
export class Probe {
  static readonly STREAM_ID = 2;

  private constructor(
    readonly vm: WasmVm,
    readonly host: TestVmHost,
    readonly stream: TestStream,
    private readonly caseIndex: Map<string, number>,
  ) {}

  static async start(
    builder: ProbeBuilder,
    spec: ProbeSpec,
    options: { host?: TestVmHost; stream?: TestStream; vmConfig?: Uint8Array; pluginConfig?: Uint8Array } = {},
  ): Promise<Probe> {
    const { source, caseIndex } = builder.module(spec);
    const module = await FilterModule.compile(await wat(source));
    const host = options.host ?? new TestVmHost();
    const vm = await WasmVm.create(module, host, {
      vmConfig: options.vmConfig ?? new Uint8Array(0),
      pluginConfig: options.pluginConfig ?? new Uint8Array(0),
    });
    const stream = options.stream ?? new TestStream();
    host.openStream(vm, stream);
    return new Probe(vm, host, stream, caseIndex);
  }

  /** Runs case `name` in the stream context with $a = a and $b = b; returns what it returned. */
  run(name: string, a = 0, b = 0): number {
    const index = this.caseIndex.get(name);
    if (index === undefined) throw new Error(`no probe case ${name}`);
    this.vm.onRequestTrailers(this.stream, a >>> 0);
    this.vm.onResponseTrailers(this.stream, b >>> 0);
    return this.vm.onRequestHeaders(this.stream, index, false);
  }
}

// ---- in-memory hosts -------------------------------------------------------------------------

export interface LocalResponse {
  status: number;
  details: string;
  body: Uint8Array;
  headers: Array<[string, string]>;
  grpcStatus: number;
}

export class TestStream implements HttpContextHost {
  /** `id`: the stream's context id; by default the probe's own stream's. */
  constructor(readonly id: number = Probe.STREAM_ID) {}

  /** Its VM host keeps the open streams (TestVmHost.openStream); one VM per host here. */
  hasContextIn(): boolean {
    return true;
  }

  readonly maps: Array<HeaderMap | undefined> = [new HeaderMap([':method', 'GET', ':path', '/', 'x-a', 'one']), undefined, undefined, undefined];
  readonly bodies: Array<MemoryBody | undefined> = [undefined, undefined];
  readonly properties = new Map<string, Uint8Array>();
  readonly propertyKeysAsked: string[] = [];
  readonly localResponses: LocalResponse[] = [];
  readonly continued: StreamType[] = [];
  readonly closed: StreamType[] = [];
  /** When set, getProperty throws it (a host bug, seen from the guest). */
  failure: Error | undefined;
  /** Runs inside continueStream, before it returns (to re-enter the VM from a host call). */
  onContinue: (() => void) | undefined;

  headerMap(map: number): HeaderMap | undefined {
    return this.maps[map];
  }

  body(buffer: number): BodyBuffer | undefined {
    return this.bodies[buffer];
  }

  getProperty(key: string): Uint8Array | undefined {
    if (this.failure !== undefined) throw this.failure;
    this.propertyKeysAsked.push(key);
    return this.properties.get(key);
  }

  setProperty(key: string, value: Uint8Array): WasmResult {
    this.properties.set(key, value);
    return WasmResult.Ok;
  }

  sendLocalResponse(status: number, details: string, body: Uint8Array, headers: Array<[string, string]>, grpcStatus: number): WasmResult {
    this.localResponses.push({ status, details, body, headers, grpcStatus });
    return WasmResult.Ok;
  }

  continueStream(stream: StreamType): WasmResult {
    this.continued.push(stream);
    this.onContinue?.();
    return WasmResult.Ok;
  }

  closeStream(stream: StreamType): WasmResult {
    this.closed.push(stream);
    return WasmResult.Ok;
  }
}

export class TestVmHost implements VmHost {
  pluginName = 'probe';
  rootId = 'probe-root';
  vmId = '';
  logLevel: LogLevel | undefined = undefined;
  readonly logs: Array<[LogLevel, string]> = [];
  readonly traps: Array<{ error: Error; phase: string }> = [];
  readonly properties = new Map<string, Uint8Array>();
  readonly httpCalls: Array<{ request: HttpCallRequest; done: (response: HttpCallResponse | null) => void }> = [];
  httpCallResult: WasmResult = WasmResult.Ok;
  /** gRPC for the VM; absent = the calls answer Unimplemented (set it to a real one, e.g. makeGrpcCall). */
  grpcCall?: VmHost['grpcCall'];
  readonly tickPeriods: number[] = [];
  onTick: (() => void) | undefined;
  readonly foreign = new Map<string, (args: Uint8Array) => Uint8Array | WasmResult>();
  readonly sharedData = new InMemorySharedData();
  readonly quotaRefusals: string[] = [];
  quotas = new FilterQuotas(undefined, (quota) => this.quotaRefusals.push(quota));
  readonly queues = new MemoryQueues();
  readonly metrics = new RecordingMetrics();
  /** Streams with a context in this host's VM, by id: what proxy_set_effective_context finds. */
  private readonly streams = new Map<number, TestStream>();

  /** Creates the stream's context in `vm`, as the chain does. */
  openStream(vm: WasmVm, stream: TestStream): void {
    this.streams.set(stream.id, stream);
    vm.createHttpContext(stream);
  }

  /** proxy_on_delete for the stream; afterwards its id is unknown. */
  deleteStream(vm: WasmVm, stream: TestStream): void {
    this.streams.delete(stream.id);
    vm.onDelete(stream);
  }

  liveStream(id: number): HttpContextHost | undefined {
    return this.streams.get(id);
  }

  log(level: LogLevel, message: string): void {
    this.logs.push([level, message]);
  }

  /** Messages logged at `level`. */
  messages(level: LogLevel = LogLevel.Info): string[] {
    return this.logs.filter(([l]) => l === level).map(([, message]) => message);
  }

  reportTrap(error: Error, phase: string): void {
    this.traps.push({ error, phase });
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.properties.get(key);
  }

  httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null) => void): WasmResult {
    if (this.httpCallResult === WasmResult.Ok) this.httpCalls.push({ request, done });
    return this.httpCallResult;
  }

  setTickPeriod(ms: number, onTick: () => void): void {
    this.tickPeriods.push(ms);
    this.onTick = ms > 0 ? onTick : undefined;
  }

  foreignFunction(name: string): ((args: Uint8Array) => Uint8Array | WasmResult) | undefined {
    return this.foreign.get(name);
  }
}
