// A real chain in the test process: filters written as small WAT modules, each a FilterSlot
// with a real VM, one HttpStream over them, and a StreamOwner that records what the chain hands
// the proxy. Tests drive the stream through an exact sequence (pauses, http_call answers, body
// chunks) and read back one log of what the filters reported and what reached the "proxy".

import { WasmResult } from '../../host/abi/enums.js';
import { HeaderMap } from '../../host/abi/header-map.js';
import type { HttpCallRequest, HttpCallResponse } from '../../host/abi/host-api.js';
import { FilterModule } from '../../host/abi/vm.js';
import { Chain } from '../../host/chain/chain.js';
import { FilterSlot } from '../../host/chain/filter-slot.js';
import { HttpStream, type RequestInfo, type StreamOwner } from '../../host/chain/http-stream.js';
import type { ChainServices } from '../../host/chain/services.js';
import { IMPORTS, wat } from '../abi-harness.js';
import { standaloneServices } from './control-plane.js';

/** The guest callbacks a test filter may define, with their WAT parameters. */
const SIGNATURES = {
  request_headers: '(param $ctx i32) (param $n i32) (param $eos i32) (result i32)',
  request_body: '(param $ctx i32) (param $n i32) (param $eos i32) (result i32)',
  request_trailers: '(param $ctx i32) (param $n i32) (result i32)',
  response_headers: '(param $ctx i32) (param $n i32) (param $eos i32) (result i32)',
  response_body: '(param $ctx i32) (param $n i32) (param $eos i32) (result i32)',
  response_trailers: '(param $ctx i32) (param $n i32) (result i32)',
  http_call_response: '(param $root i32) (param $token i32) (param $nh i32) (param $bl i32) (param $nt i32)',
  log: '(param $ctx i32)',
  done: '(param $ctx i32) (result i32)',
  delete: '(param $ctx i32)',
} as const;
export type Callback = keyof typeof SIGNATURES;

const STREAM_CALLBACKS = new Set<Callback>(['request_headers', 'request_body', 'request_trailers', 'response_headers', 'response_body', 'response_trailers', 'log', 'done', 'delete']);

/** Scratch memory the helper functions use. */
const SCRATCH = 0x1000;
const HEAP_START = 0x8000;

/**
 * Builds one test filter. Callback bodies are WAT instructions (ending with the i32 result where
 * the callback has one) and may use these helpers:
 * - `(call $report <str> (value))`: adds "<name>:<text>=<value>" to the harness log;
 *   `(call $say <str>)` adds "<name>:<text>". `<str>` is `f.str("text")`.
 * - `(call $continue (i32.const 0|1))` / `(call $close (i32.const 0|1))`: result dropped, reported as "continue=<result>".
 * - `(call $local (i32.const status))`: send_local_response(status, body "local"), reported as "local=<result>";
 *   `(call $local_details (i32.const status) (i32.const grpc))` also gives details "by_test" and a gRPC status.
 * - `(call $call_out)`: http_call GET / to cluster "side"; its result is reported as "http_call=<result>".
 * - `(call $resume_stream)`: set_effective_context to the last stream context this filter saw.
 * - `(call $add_header (i32.const map) <str> <str>)`: add a header value to a map.
 */
export class TestFilter {
  private readonly segments: string[] = [];
  private next = 64;

  constructor(readonly name: string) {}

  /** Declares a mutable i32 global (starting at 0) the callbacks may use as `$name`. */
  global(name: string): string {
    this.segments.push(`(global $${name} (mut i32) (i32.const 0))`);
    return `$${name}`;
  }

  /** Places UTF-8 text in a data segment; "(i32.const ptr) (i32.const len)". */
  str(text: string): string {
    const bytes = Buffer.from(text, 'utf8');
    const ptr = this.next;
    this.next = (ptr + bytes.length + 8) & ~7;
    if (this.next >= SCRATCH) throw new Error('test filter data overflows into the scratch area');
    const escaped = Array.from(bytes, (byte) => `\\${byte.toString(16).padStart(2, '0')}`).join('');
    this.segments.push(`(data (i32.const ${ptr}) "${escaped}")`);
    return `(i32.const ${ptr}) (i32.const ${bytes.length})`;
  }

  /** The module text with these callbacks. */
  module(callbacks: Partial<Record<Callback, string>>, extraFields = ''): string {
    const report = this.str('report');
    const localBody = this.str('local');
    const details = this.str('by_test');
    const callHeaders = this.pairs([[':method', 'GET'], [':path', '/'], [':authority', 'side']]);
    const cluster = this.str('side');
    const exports = Object.entries(callbacks).map(([name, body]) => {
      const track = STREAM_CALLBACKS.has(name as Callback) ? '(global.set $stream (local.get $ctx))' : '';
      return `(func (export "proxy_on_${name}") ${SIGNATURES[name as Callback]} ${track} ${body})`;
    });
    // Helpers first: their strings must be placed before the data segments are written out.
    const helpers = `
  (func $report (param $ptr i32) (param $len i32) (param $value i32)
    (i32.store (i32.const ${SCRATCH}) (local.get $value))
    (memory.copy (i32.const ${SCRATCH + 4}) (local.get $ptr) (local.get $len))
    (drop (call $proxy_call_foreign_function ${report} (i32.const ${SCRATCH}) (i32.add (local.get $len) (i32.const 4)) (i32.const 0) (i32.const 0))))
  (func $say (param $ptr i32) (param $len i32)
    (call $report (local.get $ptr) (local.get $len) (i32.const -1)))
  (func $continue (param $dir i32)
    (call $report ${this.str('continue')} (call $proxy_continue_stream (local.get $dir))))
  (func $close (param $dir i32)
    (call $report ${this.str('close')} (call $proxy_close_stream (local.get $dir))))
  (func $local (param $status i32)
    (call $report ${this.str('local')}
      (call $proxy_send_local_response (local.get $status) (i32.const 0) (i32.const 0) ${localBody} (i32.const 0) (i32.const 0) (i32.const -1))))
  (func $local_details (param $status i32) (param $grpc i32)
    (call $report ${this.str('local')}
      (call $proxy_send_local_response (local.get $status) ${details} ${localBody} (i32.const 0) (i32.const 0) (local.get $grpc))))
  (func $call_out
    (call $report ${this.str('http_call')}
      (call $proxy_http_call ${cluster} ${callHeaders} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const ${SCRATCH + 0x800}))))
  (func $resume_stream
    (drop (call $proxy_set_effective_context (global.get $stream))))
  (func $add_header (param $map i32) (param $kp i32) (param $kl i32) (param $vp i32) (param $vl i32)
    (drop (call $proxy_add_header_map_value (local.get $map) (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl))))
`;
    return `(module
  ${IMPORTS.map(([module, name, signature]) => `(import "${module}" "${name}" (func $${name} ${signature}))`).join('\n  ')}
  (memory (export "memory") 1)
  ${this.segments.join('\n  ')}
  (global $heap (mut i32) (i32.const ${HEAP_START}))
  (global $stream (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32))
  (func (export "proxy_on_vm_start") (param $root i32) (param $n i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param $root i32) (param $n i32) (result i32) (i32.const 1))
  ${helpers}
  ${exports.join('\n  ')}
  ${extraFields}
)`;
  }

  /** A header-map pairs encoding placed in a data segment. */
  private pairs(entries: Array<[string, string]>): string {
    const parts: Buffer[] = [];
    const count = Buffer.alloc(4 + 8 * entries.length);
    count.writeUInt32LE(entries.length, 0);
    entries.forEach(([key, value], i) => {
      count.writeUInt32LE(Buffer.byteLength(key), 4 + 8 * i);
      count.writeUInt32LE(Buffer.byteLength(value), 8 + 8 * i);
      parts.push(Buffer.from(`${key}\0${value}\0`));
    });
    const bytes = Buffer.concat([count, ...parts]);
    const ptr = this.next;
    this.next = (ptr + bytes.length + 8) & ~7;
    const escaped = Array.from(bytes, (byte) => `\\${byte.toString(16).padStart(2, '0')}`).join('');
    this.segments.push(`(data (i32.const ${ptr}) "${escaped}")`);
    return `(i32.const ${ptr}) (i32.const ${bytes.length})`;
  }
}

/** A filter: its name and its module text. */
export interface FilterSource {
  name: string;
  wat: string;
}

/** Builds a filter from callbacks written with its helpers (see TestFilter). */
export function testFilter(name: string, build: (f: TestFilter) => Partial<Record<Callback, string>>): FilterSource {
  const filter = new TestFilter(name);
  return { name, wat: filter.module(build(filter)) };
}

export interface PendingCall {
  filter: string;
  request: HttpCallRequest;
  done: (response: HttpCallResponse | null) => void;
}

/** What the chain handed the proxy, in order; hooks let a test act as the proxy would. */
export class RecordingOwner implements StreamOwner {
  readonly info: RequestInfo = { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', localPort: 8080, scheme: 'http', startTimeMs: Date.now() };
  stream!: HttpStream;
  bytesReceived = 0;
  bytesSent = 0;
  /** Runs when the request headers passed every filter (the proxy would now pick an endpoint). */
  onRequestHeadersReady: (() => void) | undefined;

  constructor(private readonly log: string[]) {}

  requestHeadersReady(endOfStream: boolean): void {
    this.log.push(`proxy:request-headers${endOfStream ? ' end' : ''}`);
    this.onRequestHeadersReady?.();
  }
  requestBodyReady(data: Uint8Array, endOfStream: boolean): void {
    this.log.push(`proxy:request-body ${Buffer.from(data).toString()}${endOfStream ? ' end' : ''}`);
  }
  responseHeadersReady(endOfStream: boolean): void {
    this.log.push(`proxy:response-headers ${this.stream.responseHeaders?.get(':status')}${endOfStream ? ' end' : ''}`);
  }
  responseBodyReady(data: Uint8Array, endOfStream: boolean): void {
    this.log.push(`proxy:response-body ${Buffer.from(data).toString()}${endOfStream ? ' end' : ''}`);
  }
  requestTrailersReady(trailers: HeaderMap): void {
    this.log.push(`proxy:request-trailers ${trailers.flat.join(' ')}`);
  }
  responseTrailersReady(trailers: HeaderMap): void {
    this.log.push(`proxy:response-trailers ${trailers.flat.join(' ')}`);
  }
  answeredLocally(): void {
    this.log.push('proxy:answered-locally');
  }
  chainFailed(status: number, flag: string, reason: string): void {
    this.log.push(`proxy:failed ${status} ${flag} ${reason}`);
  }
  resetByFilter(): void {
    this.log.push('proxy:reset');
  }
}

export interface StreamRig {
  stream: HttpStream;
  owner: RecordingOwner;
  /** Filter reports and proxy events, in the order they happened. */
  log: string[];
  /** http_calls the filters sent and the test has not answered yet. */
  calls: PendingCall[];
  slots: FilterSlot[];
  /** Lets microtasks (deferred continues, local responses) run. */
  settle(): Promise<void>;
}

export interface RigOptions {
  /** Request headers (pseudo-headers included); default GET / with host example.test. */
  requestHeaders?: string[];
  maxBufferedBodyBytes?: number;
  services?: Partial<ChainServices>;
}

/** Compiles the filters into slots of one chain and opens one stream on it. */
export async function streamRig(filters: FilterSource[], options: RigOptions = {}): Promise<StreamRig> {
  const log: string[] = [];
  const calls: PendingCall[] = [];
  let callingFilter = '';
  const report = (args: Uint8Array): Uint8Array => {
    const value = Buffer.from(args).readInt32LE(0);
    const text = Buffer.from(args.subarray(4)).toString();
    log.push(value === -1 ? `${callingFilter}:${text}` : `${callingFilter}:${text}=${value}`);
    return new Uint8Array(0);
  };
  const slots: FilterSlot[] = [];
  for (const filter of filters) {
    const services: ChainServices = {
      ...standaloneServices(),
      foreignFunctions: new Map([['report', (args: Uint8Array) => ((callingFilter = filter.name), report(args))]]),
      httpCall: (request, done) => {
        calls.push({ filter: filter.name, request, done });
        return WasmResult.Ok;
      },
      ...options.services,
    };
    const module = await FilterModule.compile(await wat(filter.wat));
    slots.push(FilterSlot.create({ name: filter.name, config: '', root_id: '', vm_config: '', on_error: 'fail_closed' }, module, services));
  }
  const chain = new Chain('default', slots);
  const owner = new RecordingOwner(log);
  const headers = new HeaderMap(options.requestHeaders ?? [':method', 'GET', ':path', '/', ':authority', 'example.test', ':scheme', 'http']);
  const stream = new HttpStream(chain, headers, owner, options.maxBufferedBodyBytes ?? 1024 * 1024);
  owner.stream = stream;
  return {
    stream,
    owner,
    log,
    calls,
    slots,
    settle: () => new Promise((resolve) => setImmediate(resolve)),
  };
}

/** An http_call answer: status, no body. */
export function callAnswer(status: number): HttpCallResponse {
  return { headers: [[':status', String(status)]], body: new Uint8Array(0), trailers: [] };
}

/** Response headers as the proxy hands them to the stream. */
export function responseHeaders(status: number, ...rest: string[]): HeaderMap {
  return new HeaderMap([':status', String(status), ...rest]);
}
