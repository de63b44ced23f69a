// Filter modules and the VMs that run them.
//
// FilterModule: compiled, checked bytes (ABI marker, memory, allocator, imports Weft can link).
// WasmVm: one instance with its root context; every call into the guest goes through it. Around
// each call it makes the callback's context the active one (AbiState), so host calls act for the
// right stream, and restores the previous one afterwards. Anything a guest call throws (a wasm
// trap, proc_exit, AssemblyScript abort, stack overflow, an exception from the host) poisons the
// instance: the VM marks itself broken and the caller gets a FilterTrap, or, for callbacks the VM
// drives itself (tick, http_call response, queue ready), the VmHost hears of it via reportTrap.

import { createHash } from 'node:crypto';
import type { AbiVersion, LogLevel } from './enums.js';
import { FilterHeadersStatus, WasmResult } from './enums.js';
import { HeaderMap } from './header-map.js';
import type { HttpCallResponse, HttpContextHost, VmHost } from './host-api.js';
import {
  BUDGET_EXPORT,
  CALL_DEPTH_EXPORT,
  CpuBudgetSpent,
  DEFAULT_FUEL,
  DEFAULT_MAX_MEMORY_MB,
  FUEL_EXPORT,
  InstrumentError,
  instrumentModule,
  MEMORY_LIMIT_EXPORT,
  MEMORY_REFUSALS_EXPORT,
  MemoryCapped,
  OutOfFuel,
  SPENT_EXPORT,
  SPENT_LIMIT_EXPORT,
  WASM_PAGE_BYTES,
} from './fuel.js';
import { envFunctions, GuestAbort } from './hostcalls.js';
import { buildImportObject, unlinkableImport } from './imports.js';
import { AbiState } from './state.js';
import { ProcExit, wasiFunctions } from './wasi.js';

/** A module Weft refuses to load; the message says why. */
export class ModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleError';
  }
}

/** A VM that could not start: instantiation failed, the guest trapped or refused its configuration. */
export class VmStartError extends Error {
  /** The guest export the start failed in (`proxy_on_configure`, ...), or `instantiate` before any. */
  readonly phase: string;

  constructor(message: string, options: { phase: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VmStartError';
    this.phase = options.phase;
  }
}

/** A guest call failed; the VM that made it is broken. `phase` is the export that was running. */
export class FilterTrap extends Error {
  constructor(
    readonly phase: string,
    cause: unknown,
  ) {
    super(`trapped in ${phase}: ${describe(cause)}`, { cause });
    this.name = 'FilterTrap';
  }
}

const ABI_MARKERS: ReadonlyArray<readonly [string, AbiVersion]> = [
  ['proxy_abi_version_0_2_1', '0.2.1'],
  ['proxy_abi_version_0_2_0', '0.2.0'],
];
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

export class FilterModule {
  private constructor(
    readonly module: WebAssembly.Module,
    readonly abiVersion: AbiVersion,
    readonly sha256: string,
    readonly size: number,
    /** Which optional callbacks the module exports (the same for every VM of it). */
    readonly exports: VmCapabilities,
    /** Instrumented for fuel and the memory cap (host/abi/fuel.ts); VmOptions' limits apply. */
    readonly contained: boolean,
  ) {}

  /**
   * A module posted to another thread (structured clone keeps the fields and the compiled
   * WebAssembly.Module, not the class): the same module there, without compiling it again.
   */
  static fromClone(clone: FilterModule): FilterModule {
    return new FilterModule(clone.module, clone.abiVersion, clone.sha256, clone.size, clone.exports, clone.contained);
  }

  /**
   * Compiles and checks a filter; throws ModuleError with the reason when Weft cannot run it.
   * `sha256` and `size` are the given bytes', also when the module runs instrumented.
   */
  static async compile(bytes: Uint8Array, options: CompileOptions = {}): Promise<FilterModule> {
    if (bytes.length < 8 || WASM_MAGIC.some((byte, i) => bytes[i] !== byte)) {
      throw new ModuleError('not a WebAssembly module (it does not start with the \\0asm magic number)');
    }
    const contained = options.contain ?? true;
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(contained ? instrumentModule(bytes).bytes : bytes);
    } catch (error) {
      throw await compileError(bytes, error);
    }
    const exports = new Map(WebAssembly.Module.exports(module).map((item) => [item.name, item.kind]));
    const marker = ABI_MARKERS.find(([name]) => exports.get(name) === 'function');
    if (marker === undefined) {
      throw new ModuleError(
        'declares no supported proxy-wasm ABI version (exports none of proxy_abi_version_0_2_0, proxy_abi_version_0_2_1)',
      );
    }
    if (exports.get('memory') !== 'memory') throw new ModuleError('exports no linear memory named "memory"');
    if (exports.get('proxy_on_memory_allocate') !== 'function' && exports.get('malloc') !== 'function') {
      throw new ModuleError('exports no allocator (proxy_on_memory_allocate or malloc)');
    }
    const unlinkable = unlinkableImport(module);
    if (unlinkable !== undefined) throw new ModuleError(unlinkable);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const has = (name: string): boolean => exports.get(name) === 'function';
    const capabilities: VmCapabilities = {
      createContext: has('proxy_on_context_create'),
      requestHeaders: has('proxy_on_request_headers'),
      requestBody: has('proxy_on_request_body'),
      requestTrailers: has('proxy_on_request_trailers'),
      responseHeaders: has('proxy_on_response_headers'),
      responseBody: has('proxy_on_response_body'),
      responseTrailers: has('proxy_on_response_trailers'),
      log: has('proxy_on_log'),
      done: has('proxy_on_done'),
      delete: has('proxy_on_delete'),
      endsAfterRequestHeaders: false,
      endsAfterResponseHeaders: false,
    };
    return new FilterModule(module, marker[1], sha256, bytes.length, capabilities, contained);
  }
}

export interface CompileOptions {
  /**
   * Instrument the module so the host can stop a call that runs too long and cap its memory
   * (default true). False runs the bytes as they are, with no limits (to measure what they cost).
   */
  contain?: boolean;
}

/** Why a module did not compile: its own fault when the original bytes do not compile either. */
async function compileError(bytes: Uint8Array, error: unknown): Promise<ModuleError> {
  const reason = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause));
  try {
    await WebAssembly.compile(bytes);
  } catch (original) {
    return new ModuleError(`not a WebAssembly module (${reason(original)})`);
  }
  if (error instanceof InstrumentError) return new ModuleError(`cannot be instrumented for fuel and memory limits: ${error.message}`);
  return new ModuleError(`compiles, but not once instrumented for fuel and memory limits (${reason(error)}); this is a bug in Weft`);
}

/**
 * The HTTP callbacks a module may say it implements, as bits of the u32 its `weft_phases(root)`
 * export answers once configured (Weft's AssemblyScript SDK exports it from RootContext.phases()).
 * The SDK exports every proxy_on_* callback whatever the filter overrides, so without the answer
 * the host would call them all; with it, the VM reports the others as absent and the chain skips
 * them. A module without the export (a Rust, Go or C++ SDK build) is called for everything it exports.
 */
export const PHASES_EXPORT = 'weft_phases';
/**
 * Weft's return area: `weft_return_area()` and `weft_return_area_bytes()` give a block the guest
 * takes each returned value out of before its next host call (the Weft SDK declares one), so the
 * host writes values that fit there instead of calling the guest's allocator for each.
 */
const RETURN_AREA_EXPORT = 'weft_return_area';
const RETURN_AREA_BYTES_EXPORT = 'weft_return_area_bytes';
export const enum DeclaredPhase {
  RequestHeaders = 1,
  RequestBody = 2,
  RequestTrailers = 4,
  ResponseHeaders = 8,
  ResponseBody = 16,
  ResponseTrailers = 32,
  Log = 64,
  Done = 128,
  /**
   * Not a phase: the guest creates a stream's context at the stream's first callback itself, so
   * the host does not call proxy_on_context_create for streams (one call fewer per filter and
   * request). The Weft SDK answers it; proxy_on_delete still ends every stream.
   */
  ContextAtFirstCallback = 256,
  /**
   * Not a phase: the guest deletes a stream's context itself when a callback flagged LAST_CALLBACK
   * (proxy_on_request_headers or proxy_on_response_headers, bit 2 of end_of_stream) returns
   * Continue, so the host calls no proxy_on_delete for it. The host flags the headers callback
   * after which no other declared callback can follow (the Weft SDK answers this bit).
   */
  DeletesAfterLastCallback = 512,
}

/** Bit 1 of a headers callback's end_of_stream argument: this is the last callback the stream has for the filter (DeletesAfterLastCallback). */
const LAST_CALLBACK = 2;
const ALL_PHASES = 255;

/** Which optional exports the guest has (and, per VM, declared); the chain skips the phases a filter does not implement. */
export interface VmCapabilities {
  /** proxy_on_context_create for each stream (false: the guest creates contexts at their first callback). */
  readonly createContext: boolean;
  readonly requestHeaders: boolean;
  readonly requestBody: boolean;
  readonly requestTrailers: boolean;
  readonly responseHeaders: boolean;
  readonly responseBody: boolean;
  readonly responseTrailers: boolean;
  readonly log: boolean;
  readonly done: boolean;
  readonly delete: boolean;
  /** A Continue from proxy_on_request_headers ends the stream's context (DeletesAfterLastCallback): no on_delete follows. */
  readonly endsAfterRequestHeaders: boolean;
  /** The same for proxy_on_response_headers. */
  readonly endsAfterResponseHeaders: boolean;
}

export interface VmOptions {
  vmConfig: Uint8Array;
  pluginConfig: Uint8Array;
  /** Fuel per guest call (units ≈ wasm instructions, see fuel.ts); default DEFAULT_FUEL. */
  fuel?: number;
  /** Largest linear memory, in MiB; default DEFAULT_MAX_MEMORY_MB. */
  maxMemoryMb?: number;
  /**
   * Fuel the host's calls may spend between two resetCpuSpent() (a second, for the filter's CPU
   * budget); a call that finds it spent traps with CpuBudgetSpent. Default: no limit.
   */
  cpuBudgetFuel?: number;
}

/** The globals an instrumented module exports (fuel.ts) that a VM reads after it boots. */
interface ContainmentGlobals {
  fuel: WebAssembly.Global;
  spent: WebAssembly.Global;
  spentLimit: WebAssembly.Global;
  depth: WebAssembly.Global;
  memoryRefusals: WebAssembly.Global;
}

/** Whether the calls from the host spent the CPU limit of this window (the wrappers' check, fuel.ts). */
function cpuBudgetReached(containment: ContainmentGlobals): boolean {
  return (containment.spent.value as bigint) >= (containment.spentLimit.value as bigint);
}

/** A guest export: wasm values in, one value (or undefined) out. */
type GuestFunction = (...args: number[]) => unknown;

/** The guest's callbacks, resolved once per instance; undefined = not exported (skipped). */
interface GuestExports {
  contextCreate?: GuestFunction;
  vmStart?: GuestFunction;
  configure?: GuestFunction;
  tick?: GuestFunction;
  queueReady?: GuestFunction;
  foreignFunction?: GuestFunction;
  httpCallResponse?: GuestFunction;
  grpcInitialMetadata?: GuestFunction;
  grpcMessage?: GuestFunction;
  grpcTrailingMetadata?: GuestFunction;
  grpcClose?: GuestFunction;
  requestHeaders?: GuestFunction;
  requestBody?: GuestFunction;
  requestTrailers?: GuestFunction;
  responseHeaders?: GuestFunction;
  responseBody?: GuestFunction;
  responseTrailers?: GuestFunction;
  log?: GuestFunction;
  done?: GuestFunction;
  delete?: GuestFunction;
}

const ROOT_CONTEXT_ID = 1;
/** The context of calls that belong to no context (_initialize, main, _start). */
const VM_CONTEXT_ID = 0;

export class WasmVm {
  readonly rootContextId = ROOT_CONTEXT_ID;
  /** Set by the first trap; a broken VM refuses stream calls and runs nothing else. */
  broken = false;

  private readonly state: AbiState;
  private readonly imports: WebAssembly.Imports;
  private fns: GuestExports = {};
  /** The module's exports narrowed by the phases the guest declared (weft_phases), once it is configured. */
  private capabilities: VmCapabilities;
  private destroyed = false;
  /** Set while a root that answered false from proxy_on_done may still call proxy_done (the deadline). */
  private finishing: NodeJS.Timeout | undefined;
  /** The instrumented module's globals (fuel.ts); undefined for a module compiled without containment. */
  private containment: ContainmentGlobals | undefined;
  private readonly fuelBudget: number;
  private readonly cpuBudgetFuel: number | undefined;
  private readonly maxMemoryMb: number;

  private constructor(
    readonly module: FilterModule,
    private readonly host: VmHost,
    options: VmOptions,
  ) {
    this.state = new AbiState(host, ROOT_CONTEXT_ID, options.vmConfig, options.pluginConfig, {
      tick: () => this.deliverTick(),
      queueReady: (queueId) => queueMicrotask(() => this.deliverQueueReady(queueId)),
      httpCallResponse: (token, response, failure) => this.deliverHttpCallResponse(token, response, failure),
      grpcInitialMetadata: (token, pairs) => this.deliverGrpcMetadata(token, pairs, 'initial'),
      grpcMessage: (token, message) => this.deliverGrpcMessage(token, message),
      grpcTrailingMetadata: (token, pairs) => this.deliverGrpcMetadata(token, pairs, 'trailing'),
      grpcClose: (token, status, message) => this.deliverGrpcClose(token, status, message),
    }, (id) => {
      const stream = host.liveStream(id);
      return stream !== undefined && stream.hasContextIn(this) ? stream : undefined;
    });
    this.fuelBudget = Math.min(options.fuel ?? DEFAULT_FUEL, Number.MAX_SAFE_INTEGER); // an integer BigInt() takes exactly
    this.cpuBudgetFuel = options.cpuBudgetFuel;
    this.maxMemoryMb = options.maxMemoryMb ?? DEFAULT_MAX_MEMORY_MB;
    this.capabilities = module.exports;
    const log = host.log.bind(host);
    this.imports = buildImportObject(module.module, envFunctions(this.state), wasiFunctions(this.state.memory, log), log);
  }

  /**
   * Instantiates and boots a VM: _initialize then main(0, 0) (or _start), then
   * proxy_on_context_create(root, 0), proxy_on_vm_start, proxy_on_configure.
   * Throws VmStartError when any of it fails.
   */
  static async create(module: FilterModule, host: VmHost, options: VmOptions): Promise<WasmVm> {
    const vm = new WasmVm(module, host, options);
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module.module, vm.imports);
    } catch (error) {
      throw instantiationError(error);
    }
    vm.boot(instance);
    return vm;
  }

  /** create() without the await, for replacing a trapped VM on the request path. */
  static createSync(module: FilterModule, host: VmHost, options: VmOptions): WasmVm {
    const vm = new WasmVm(module, host, options);
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module.module, vm.imports);
    } catch (error) {
      throw instantiationError(error);
    }
    vm.boot(instance);
    return vm;
  }

  /** Which optional callbacks the guest has: its module's exports, less the phases it declared it does not implement. */
  get has(): VmCapabilities {
    return this.capabilities;
  }

  // ---- stream contexts (driven by the chain; traps throw FilterTrap) ---------------------------

  /**
   * proxy_on_context_create(stream.id, root): host calls in that context act on `stream`. The
   * stream answers for itself whether it has a context here (HttpContextHost.hasContextIn): the
   * VM keeps no table of its streams, the chain passes the stream to every call.
   */
  createHttpContext(stream: HttpContextHost): void {
    this.ensureUsable('proxy_on_context_create');
    if (stream.id === ROOT_CONTEXT_ID) throw new Error(`context ${ROOT_CONTEXT_ID} is the root context`);
    const fn = this.capabilities.createContext ? this.fns.contextCreate : undefined;
    if (fn !== undefined) this.call('proxy_on_context_create', fn, stream.id, stream, ROOT_CONTEXT_ID, 0, 0, 0);
  }

  /**
   * Whether the request (or response) headers callback that answered `status` ended the stream's
   * context in the guest (DeletesAfterLastCallback): the caller then sends the stream's context
   * nothing more, on_delete included.
   */
  endedContext(request: boolean, status: number): boolean {
    return status === FilterHeadersStatus.Continue && (request ? this.capabilities.endsAfterRequestHeaders : this.capabilities.endsAfterResponseHeaders);
  }

  /** proxy_on_request_headers; the raw status the guest returned (0 when not exported). See endedContext. */
  onRequestHeaders(stream: HttpContextHost, headerCount: number, endOfStream: boolean): number {
    const fn = this.fns.requestHeaders;
    const flags = (endOfStream ? 1 : 0) | (this.capabilities.endsAfterRequestHeaders ? LAST_CALLBACK : 0);
    return fn === undefined ? 0 : this.streamCall('proxy_on_request_headers', fn, stream, headerCount, flags);
  }

  onRequestBody(stream: HttpContextHost, bodySize: number, endOfStream: boolean): number {
    const fn = this.fns.requestBody;
    return fn === undefined ? 0 : this.streamCall('proxy_on_request_body', fn, stream, bodySize, endOfStream ? 1 : 0);
  }

  onRequestTrailers(stream: HttpContextHost, trailerCount: number): number {
    const fn = this.fns.requestTrailers;
    return fn === undefined ? 0 : this.streamCall('proxy_on_request_trailers', fn, stream, trailerCount, 0);
  }

  onResponseHeaders(stream: HttpContextHost, headerCount: number, endOfStream: boolean): number {
    const fn = this.fns.responseHeaders;
    const flags = (endOfStream ? 1 : 0) | (this.capabilities.endsAfterResponseHeaders ? LAST_CALLBACK : 0);
    return fn === undefined ? 0 : this.streamCall('proxy_on_response_headers', fn, stream, headerCount, flags);
  }

  onResponseBody(stream: HttpContextHost, bodySize: number, endOfStream: boolean): number {
    const fn = this.fns.responseBody;
    return fn === undefined ? 0 : this.streamCall('proxy_on_response_body', fn, stream, bodySize, endOfStream ? 1 : 0);
  }

  onResponseTrailers(stream: HttpContextHost, trailerCount: number): number {
    const fn = this.fns.responseTrailers;
    return fn === undefined ? 0 : this.streamCall('proxy_on_response_trailers', fn, stream, trailerCount, 0);
  }

  /** proxy_on_log. Skipped on a broken or destroyed VM (nothing left to log from). */
  onLog(stream: HttpContextHost): void {
    const fn = this.capabilities.log ? this.fns.log : undefined;
    if (fn !== undefined && this.live()) this.call('proxy_on_log', fn, stream.id, stream, 0, 0, 0, 0);
  }

  /** proxy_on_done for a stream; its answer is ignored (Envoy HTTP: on_delete follows regardless). */
  onDone(stream: HttpContextHost): void {
    const fn = this.capabilities.done ? this.fns.done : undefined;
    if (fn !== undefined && this.live()) this.call('proxy_on_done', fn, stream.id, stream, 0, 0, 0, 0);
  }

  /** proxy_on_delete; skipped on a broken or destroyed VM. Afterwards the stream has no context here. */
  onDelete(stream: HttpContextHost): void {
    const fn = this.fns.delete;
    if (fn !== undefined && this.live()) this.call('proxy_on_delete', fn, stream.id, stream, 0, 0, 0, 0);
  }

  /**
   * proxy_on_foreign_function(root, functionId, args.length), with `args` readable as buffer 8
   * during the call: how the host hands a filter an event of its own. Traps throw FilterTrap.
   */
  onForeignFunction(functionId: number, args: Uint8Array): void {
    const fn = this.fns.foreignFunction;
    if (fn === undefined) return;
    this.ensureUsable('proxy_on_foreign_function');
    this.state.foreignArgs = args;
    try {
      this.call('proxy_on_foreign_function', fn, ROOT_CONTEXT_ID, undefined, functionId, args.length, 0, 0);
    } finally {
      this.state.foreignArgs = undefined;
    }
  }

  /**
   * Ends the VM: ticks off, then the root's proxy_on_done and, when it answered true (or called
   * proxy_done meanwhile), proxy_on_delete. A root that answers false still has work (spec: it
   * calls proxy_done when finished): its http_call responses and queue notifications are still
   * delivered, and proxy_done from one of them runs proxy_on_delete; after ROOT_DONE_TIMEOUT_MS
   * the VM ends without it. No guest code runs once the VM has ended.
   */
  destroy(): void {
    if (this.destroyed || this.finishing !== undefined) return;
    const state = this.state;
    if (state.tickPeriod > 0) this.host.setTickPeriod(0, state.callbacks.tick);
    if (!this.live()) return this.end();
    state.rootDonePending = true;
    let done: number;
    try {
      done = this.fns.done === undefined ? 1 : this.call('proxy_on_done', this.fns.done, ROOT_CONTEXT_ID, undefined, 0, 0, 0, 0);
    } catch (trap) {
      this.host.reportTrap(trap as Error, 'proxy_on_done');
      return this.end();
    }
    if (done !== 0 || state.rootDoneCalled) return this.deleteRoot();
    this.finishing = setTimeout(() => {
      this.host.log(WARN, `the root context answered false from proxy_on_done and did not call proxy_done within ${ROOT_DONE_TIMEOUT_MS} ms; ending the VM without proxy_on_delete`);
      this.end();
    }, ROOT_DONE_TIMEOUT_MS);
    this.finishing.unref();
  }

  /** The root finished: proxy_on_delete, then the end. */
  private deleteRoot(): void {
    const remove = this.fns.delete;
    try {
      if (remove !== undefined && this.live()) this.call('proxy_on_delete', remove, ROOT_CONTEXT_ID, undefined, 0, 0, 0, 0);
    } catch (trap) {
      this.host.reportTrap(trap as Error, 'proxy_on_delete');
    }
    this.end();
  }

  private end(): void {
    clearTimeout(this.finishing);
    this.finishing = undefined;
    this.state.rootDonePending = false;
    this.destroyed = true;
    // Nothing is left to hear the answers: the calls stop now rather than run to their deadline.
    const calls = [...this.state.grpcCalls.values()];
    this.state.grpcCalls.clear();
    for (const call of calls) call.cancel();
  }

  // ---- boot ------------------------------------------------------------------------------------

  private boot(instance: WebAssembly.Instance): void {
    const exports = instance.exports;
    const fn = (name: string): GuestFunction | undefined => {
      const value = exports[name];
      return typeof value === 'function' ? (value as GuestFunction) : undefined;
    };
    // The spec prefers proxy_on_memory_allocate; malloc is its deprecated alias (AS, old Rust).
    const allocate = fn('proxy_on_memory_allocate') ?? fn('malloc')!;
    this.state.memory.attach(exports.memory as WebAssembly.Memory, allocate);
    if (this.module.contained) this.applyLimits(exports);
    this.fns = {
      contextCreate: fn('proxy_on_context_create'),
      vmStart: fn('proxy_on_vm_start'),
      configure: fn('proxy_on_configure'),
      tick: fn('proxy_on_tick'),
      queueReady: fn('proxy_on_queue_ready'),
      foreignFunction: fn('proxy_on_foreign_function'),
      httpCallResponse: fn('proxy_on_http_call_response'),
      grpcInitialMetadata: fn('proxy_on_grpc_receive_initial_metadata'),
      grpcMessage: fn('proxy_on_grpc_receive'),
      // solo-io's AssemblyScript SDK exports the trailing one under a shorter name.
      grpcTrailingMetadata: fn('proxy_on_grpc_receive_trailing_metadata') ?? fn('proxy_on_grpc_trailing_metadata'),
      grpcClose: fn('proxy_on_grpc_close'),
      requestHeaders: fn('proxy_on_request_headers'),
      requestBody: fn('proxy_on_request_body'),
      requestTrailers: fn('proxy_on_request_trailers'),
      responseHeaders: fn('proxy_on_response_headers'),
      responseBody: fn('proxy_on_response_body'),
      responseTrailers: fn('proxy_on_response_trailers'),
      log: fn('proxy_on_log'),
      done: fn('proxy_on_done'),
      delete: fn('proxy_on_delete'),
    };
    const f = this.fns;

    try {
      const initialize = fn('_initialize');
      const start = fn('_start');
      const main = fn('main');
      if (initialize !== undefined) {
        this.call('_initialize', initialize, VM_CONTEXT_ID, undefined, 0, 0, 0, 0);
        // Reactors may also export main (Go, C++): cpp-host calls it after _initialize.
        if (main !== undefined) this.call('main', main, VM_CONTEXT_ID, undefined, 0, 0, 0, 0);
      } else if (start !== undefined) {
        this.runStart(start);
      }
      this.takeReturnArea(fn(RETURN_AREA_EXPORT), fn(RETURN_AREA_BYTES_EXPORT));
      if (f.contextCreate !== undefined) this.call('proxy_on_context_create', f.contextCreate, ROOT_CONTEXT_ID, undefined, 0, 0, 0, 0);
      const config = this.state;
      if (f.vmStart !== undefined && this.call('proxy_on_vm_start', f.vmStart, ROOT_CONTEXT_ID, undefined, config.vmConfig.length, 0, 0, 0) === 0) {
        throw new VmStartError('proxy_on_vm_start returned false', { phase: 'proxy_on_vm_start' });
      }
      if (f.configure !== undefined && this.call('proxy_on_configure', f.configure, ROOT_CONTEXT_ID, undefined, config.pluginConfig.length, 0, 0, 0) === 0) {
        throw new VmStartError('proxy_on_configure returned false', { phase: 'proxy_on_configure' });
      }
      const phases = fn(PHASES_EXPORT);
      if (phases !== undefined) this.capabilities = declaredCapabilities(this.module.exports, this.call(PHASES_EXPORT, phases, ROOT_CONTEXT_ID, undefined, 0, 0, 0, 0));
    } catch (error) {
      // A VM that did not start never runs again: drop its tick and anything in flight.
      if (this.state.tickPeriod > 0) this.host.setTickPeriod(0, this.state.callbacks.tick);
      this.destroyed = true;
      if (error instanceof FilterTrap) throw new VmStartError(error.message, { phase: error.phase, cause: error });
      throw error;
    }
  }

  /** Sets the memory cap, fuel budget and CPU limit of this instance; a memory already over the cap does not start. */
  private applyLimits(exports: WebAssembly.Exports): void {
    const global = (name: string) => exports[name] as WebAssembly.Global;
    const capPages = Math.floor((this.maxMemoryMb * MIB) / WASM_PAGE_BYTES);
    global(MEMORY_LIMIT_EXPORT).value = capPages;
    global(BUDGET_EXPORT).value = BigInt(this.fuelBudget);
    if (this.cpuBudgetFuel !== undefined) global(SPENT_LIMIT_EXPORT).value = BigInt(Math.min(Math.floor(this.cpuBudgetFuel), Number.MAX_SAFE_INTEGER));
    this.containment = {
      fuel: global(FUEL_EXPORT),
      spent: global(SPENT_EXPORT),
      spentLimit: global(SPENT_LIMIT_EXPORT),
      depth: global(CALL_DEPTH_EXPORT),
      memoryRefusals: global(MEMORY_REFUSALS_EXPORT),
    };
    const size = this.state.memory.byteLength;
    if (size > capPages * WASM_PAGE_BYTES) {
      throw new VmStartError(`its memory starts at ${(size / MIB).toFixed(1)} MiB, over its max_memory_mb of ${this.maxMemoryMb}`, { phase: 'instantiate' });
    }
  }

  /**
   * Starts a new CPU window: what the host's calls spent so far no longer counts against
   * cpuBudgetFuel. Answers whether the window that ends spent it (a VM whose last call went over
   * the limit, and was not called again before the window ended).
   */
  resetCpuSpent(): boolean {
    const containment = this.containment;
    if (containment === undefined) return false;
    const spentAll = cpuBudgetReached(containment);
    containment.spent.value = 0n;
    return spentAll;
  }

  /** Asks a guest that declares a return area where it is (once, at boot). */
  private takeReturnArea(area: GuestFunction | undefined, bytes: GuestFunction | undefined): void {
    if (area === undefined || bytes === undefined) return;
    const at = this.call(RETURN_AREA_EXPORT, area, VM_CONTEXT_ID, undefined, 0, 0, 0, 0);
    const size = this.call(RETURN_AREA_BYTES_EXPORT, bytes, VM_CONTEXT_ID, undefined, 0, 0, 0, 0);
    this.state.memory.useReturnArea(at, size);
  }

  /** A command's _start; proc_exit(0) from it is a normal end (WASI command semantics). */
  private runStart(start: GuestFunction): void {
    try {
      this.call('_start', start, VM_CONTEXT_ID, undefined, 0, 0, 0, 0);
    } catch (trap) {
      const cause = trap instanceof FilterTrap ? trap.cause : undefined;
      if (!(cause instanceof ProcExit) || cause.code !== 0) throw trap;
      this.broken = false; // call() marked it broken, but the instance ended cleanly
      if (this.containment !== undefined) this.containment.depth.value = 0; // the exit unwound _start's wrapper
    }
  }

  // ---- calling the guest -----------------------------------------------------------------------

  /**
   * Calls `fn(id, a, b, c, d)` with context `id` active (extra arguments are ignored by wasm),
   * restoring the previous active context afterwards: calls nest when a host call re-enters the
   * guest (the allocator). Returns the result as u32 (0 for void); throws FilterTrap.
   */
  private call(phase: string, fn: GuestFunction, id: number, stream: HttpContextHost | undefined, a: number, b: number, c: number, d: number): number {
    const state = this.state;
    const savedId = state.activeId;
    const savedStream = state.activeStream;
    state.activeId = id;
    state.activeStream = stream;
    try {
      return (fn(id, a, b, c, d) as number) >>> 0;
    } catch (error) {
      this.broken = true;
      throw error instanceof FilterTrap ? error : new FilterTrap(phase, this.trapCause(error));
    } finally {
      state.activeId = savedId;
      state.activeStream = savedStream;
    }
  }

  /**
   * What a trap says: the fuel check's `unreachable` as running out of fuel, the wrapper's as the
   * CPU budget spent; a note when the memory cap refused growth.
   */
  private trapCause(error: unknown): unknown {
    const containment = this.containment;
    if (containment === undefined) return error;
    if ((containment.fuel.value as bigint) < 0n) return new OutOfFuel(this.fuelBudget);
    // Only the wrapper's check traps with the total at its limit: the total grows after a call ends.
    if (cpuBudgetReached(containment)) return new CpuBudgetSpent();
    const refusals = containment.memoryRefusals.value as number;
    if (refusals > 0 && error instanceof WebAssembly.RuntimeError) {
      return new MemoryCapped(error, this.maxMemoryMb, refusals);
    }
    return error;
  }

  private streamCall(phase: string, fn: GuestFunction, stream: HttpContextHost, a: number, b: number): number {
    this.ensureUsable(phase);
    return this.call(phase, fn, stream.id, stream, a, b, 0, 0);
  }

  private live(): boolean {
    return !this.broken && !this.destroyed;
  }

  private ensureUsable(phase: string): void {
    if (this.broken) throw new FilterTrap(phase, new Error('the VM is broken by an earlier trap'));
    if (this.destroyed) throw new FilterTrap(phase, new Error('the VM was destroyed'));
  }

  // ---- callbacks the VM drives itself (traps go to VmHost.reportTrap) --------------------------

  private rootCall(phase: string, fn: GuestFunction, a: number, b: number, c: number, d: number): void {
    try {
      this.call(phase, fn, ROOT_CONTEXT_ID, undefined, a, b, c, d);
    } catch (trap) {
      this.host.reportTrap(trap as Error, phase);
      if (this.finishing !== undefined) this.end();
      return;
    }
    // A finishing root that called proxy_done in this callback is done now.
    if (this.finishing !== undefined && this.state.rootDoneCalled) this.deleteRoot();
  }

  private deliverTick(): void {
    const fn = this.fns.tick;
    if (fn !== undefined && this.live()) this.rootCall('proxy_on_tick', fn, 0, 0, 0, 0);
  }

  private deliverQueueReady(queueId: number): void {
    const fn = this.fns.queueReady;
    if (fn !== undefined && this.live()) this.rootCall('proxy_on_queue_ready', fn, queueId, 0, 0, 0);
  }

  /** proxy_on_http_call_response(root, token, headers, body, trailers) with maps 6/7 and buffer 4 readable. */
  private deliverHttpCallResponse(token: number, response: HttpCallResponse | null, failure = 'reset'): void {
    const fn = this.fns.httpCallResponse;
    if (fn === undefined || !this.live()) return;
    const state = this.state;
    if (response === null) {
      state.statusCode = CALL_FAILED_STATUS;
      state.statusMessage = failure;
      try {
        this.rootCall('proxy_on_http_call_response', fn, token, 0, 0, 0);
      } finally {
        state.statusCode = 0;
        state.statusMessage = '';
      }
      return;
    }
    const headers = HeaderMap.fromEntries(response.headers);
    const trailers = HeaderMap.fromEntries(response.trailers);
    state.callResponseHeaders = headers;
    state.callResponseTrailers = trailers;
    state.callResponseBody = response.body;
    try {
      this.rootCall('proxy_on_http_call_response', fn, token, headers.size, response.body.length, trailers.size);
    } finally {
      state.callResponseHeaders = undefined;
      state.callResponseTrailers = undefined;
      state.callResponseBody = undefined;
    }
  }

  /** proxy_on_grpc_receive_initial_metadata / _trailing_metadata(root, token, n) with map 4 or 5 readable. */
  private deliverGrpcMetadata(token: number, pairs: Array<[string, string]>, which: 'initial' | 'trailing'): void {
    const fn = which === 'initial' ? this.fns.grpcInitialMetadata : this.fns.grpcTrailingMetadata;
    if (fn === undefined || !this.live()) return;
    const map = HeaderMap.fromEntries(pairs);
    const state = this.state;
    if (which === 'initial') state.grpcInitialMetadata = map;
    else state.grpcTrailingMetadata = map;
    try {
      this.rootCall(`proxy_on_grpc_receive_${which}_metadata`, fn, token, map.size, 0, 0);
    } finally {
      state.grpcInitialMetadata = undefined;
      state.grpcTrailingMetadata = undefined;
    }
  }

  /** proxy_on_grpc_receive(root, token, len) with buffer 5 readable. */
  private deliverGrpcMessage(token: number, message: Uint8Array): void {
    const fn = this.fns.grpcMessage;
    if (fn === undefined || !this.live()) return;
    this.state.grpcMessage = message;
    try {
      this.rootCall('proxy_on_grpc_receive', fn, token, message.length, 0, 0);
    } finally {
      this.state.grpcMessage = undefined;
    }
  }

  /** proxy_on_grpc_close(root, token, status), its message readable with proxy_get_status. */
  private deliverGrpcClose(token: number, status: number, message: string): void {
    const fn = this.fns.grpcClose;
    if (fn === undefined || !this.live()) return;
    const state = this.state;
    state.statusCode = status;
    state.statusMessage = message;
    try {
      this.rootCall('proxy_on_grpc_close', fn, token, status, 0, 0);
    } finally {
      state.statusCode = 0;
      state.statusMessage = '';
    }
  }
}

const MIB = 1024 * 1024;

/** How long a root context that answered false from proxy_on_done may take to call proxy_done. */
export const ROOT_DONE_TIMEOUT_MS = 5000;
const WARN = 3 as LogLevel;
/** The exports a module has, less the stream callbacks its `weft_phases` answer leaves out. */
function declaredCapabilities(exported: VmCapabilities, declared: number): VmCapabilities {
  const says = (phase: DeclaredPhase): boolean => (declared & phase) !== 0;
  const deletesItself = says(DeclaredPhase.DeletesAfterLastCallback) && exported.delete;
  return {
    createContext: exported.createContext && !says(DeclaredPhase.ContextAtFirstCallback),
    requestHeaders: exported.requestHeaders && says(DeclaredPhase.RequestHeaders),
    requestBody: exported.requestBody && says(DeclaredPhase.RequestBody),
    requestTrailers: exported.requestTrailers && says(DeclaredPhase.RequestTrailers),
    responseHeaders: exported.responseHeaders && says(DeclaredPhase.ResponseHeaders),
    responseBody: exported.responseBody && says(DeclaredPhase.ResponseBody),
    responseTrailers: exported.responseTrailers && says(DeclaredPhase.ResponseTrailers),
    log: exported.log && says(DeclaredPhase.Log),
    done: exported.done && says(DeclaredPhase.Done),
    // Delete always runs: the guest keeps per-request state until then, unless it ends the
    // context itself after its last headers callback.
    delete: exported.delete,
    endsAfterRequestHeaders: deletesItself && (declared & ALL_PHASES) === DeclaredPhase.RequestHeaders,
    endsAfterResponseHeaders: deletesItself && (declared & ALL_PHASES & ~DeclaredPhase.RequestHeaders) === DeclaredPhase.ResponseHeaders,
  };
}

/** proxy_get_status during the callback of a failed http_call. */
const CALL_FAILED_STATUS = WasmResult.BrokenConnection;

function instantiationError(error: unknown): VmStartError {
  if (error instanceof WebAssembly.LinkError) return new VmStartError(`could not link the module: ${error.message}`, { phase: 'instantiate', cause: error });
  // Anything else was thrown by the module's start function.
  return new VmStartError(`trapped in the start function: ${describe(error)}`, { phase: 'start', cause: error });
}

/** A trap's cause in a few words: wasm traps and guest exits by their message, host errors by name too. */
function describe(cause: unknown): string {
  if (cause instanceof WebAssembly.RuntimeError || cause instanceof ProcExit || cause instanceof GuestAbort || cause instanceof OutOfFuel || cause instanceof CpuBudgetSpent || cause instanceof MemoryCapped) {
    return cause.message;
  }
  if (cause instanceof Error) return cause.name === 'Error' ? cause.message : `${cause.name}: ${cause.message}`;
  return String(cause);
}
