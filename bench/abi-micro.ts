// Micro-benchmarks of the ABI layer (host/abi), run by bench/run.ts in a process of their own
// pinned to the proxy core. Each operation is one proxy_on_request_headers call through WasmVm:
//   - into an empty callback (a call into wasm, the floor of every filter phase);
//   - into the SDK no-op filter (test/filters/noop), what the SDK's dispatch adds;
//   - whose guest fetches the 10 request headers once (proxy_get_header_map_pairs), with a new
//     map per call (serialised, then copied) and with the same map (a second filter: copy only);
//   - whose guest reads one property (proxy_get_property "request\0path", segments as SDKs send them).
// The guest of the rows that are not the SDK's is a few lines of WAT below, so the numbers
// are the host's cost, not an SDK's. Fixtures answer from constants: only host/abi is measured.
// usage: node dist/bench/abi-micro.js ITERATIONS   (prints one MICRO_RESULT line)
import { FilterQuotas } from '../host/chain/filter-quotas.js';
import { existsSync, readFileSync } from 'node:fs';
import wabtInit from 'wabt';
import { LogLevel, WasmResult } from '../host/abi/enums.js';
import type { HeaderMap as HeaderMapType } from '../host/abi/header-map.js';
import type { BodyBuffer, HttpContextHost, VmHost } from '../host/abi/host-api.js';
import type { FilterModule as FilterModuleType, WasmVm as WasmVmType } from '../host/abi/vm.js';
import { microResultPrefix, type MicroResult } from './micro-runner.js';
import { requestHeaders } from './scenarios.js';
import { spread } from './stats.js';
import { noopFilterWasm } from './weft.js';

const repeats = 5;
const STREAM_ID = 2;
const MODE_EMPTY = 0;
const MODE_HEADER_PAIRS = 1;
const MODE_PROPERTY = 2;

const guestWat = `(module
  (import "env" "proxy_get_header_map_pairs" (func $get_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 64) "request\\00path")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  ;; A bump allocator reset by every callback: the host's copies live for one call.
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param i32 i32))
  ;; The header count argument picks what the callback does; it answers the byte length the
  ;; host handed over (-1 when the host call failed), so the harness can check it.
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $mode i32) (param $eos i32) (result i32)
    (global.set $heap (i32.const 1024))
    (if (i32.eq (local.get $mode) (i32.const ${MODE_HEADER_PAIRS}))
      (then (return (call $answer (call $get_pairs (i32.const 0) (i32.const 8) (i32.const 12))))))
    (if (i32.eq (local.get $mode) (i32.const ${MODE_PROPERTY}))
      (then (return (call $answer (call $get_property (i32.const 64) (i32.const 12) (i32.const 8) (i32.const 12))))))
    (i32.const 0))
  (func $answer (param $result i32) (result i32)
    (if (result i32) (i32.eqz (local.get $result))
      (then (i32.load (i32.const 12)))
      (else (i32.const -1))))
)`;

/** The stream a benchmark guest acts on: its request headers and one property, nothing else. */
class FixtureStream implements HttpContextHost {
  readonly id = STREAM_ID;
  requestHeaders: HeaderMapType;
  readonly path = Buffer.from('/api/orders/12345?page=2', 'utf8');

  constructor(headers: HeaderMapType) {
    this.requestHeaders = headers;
  }

  hasContextIn(): boolean {
    return true;
  }

  headerMap(map: number): HeaderMapType | undefined {
    return map === 0 ? this.requestHeaders : undefined;
  }
  body(): BodyBuffer | undefined {
    return undefined;
  }
  getProperty(key: string): Uint8Array | undefined {
    return key === 'request.path' ? this.path : undefined;
  }
  setProperty(): WasmResult {
    return WasmResult.Unimplemented;
  }
  sendLocalResponse(): WasmResult {
    return WasmResult.Unimplemented;
  }
  continueStream(): WasmResult {
    return WasmResult.Unimplemented;
  }
  closeStream(): WasmResult {
    return WasmResult.Unimplemented;
  }
}

/** A VM host for guests that only use the calls measured here; anything else is refused. */
function fixtureHost(rootId: string): VmHost {
  const refuse = () => WasmResult.Unimplemented;
  return {
    pluginName: rootId,
    rootId,
    vmId: '',
    logLevel: LogLevel.Warn,
    log: () => {},
    liveStream: () => undefined,
    reportTrap: (error) => {
      throw error;
    },
    sharedData: { get: () => undefined, set: refuse, bytesUsed: () => 0 },
    queues: { register: () => 0, resolve: () => undefined, enqueue: refuse, dequeue: () => undefined },
    metrics: { define: () => 0, increment: refuse, record: refuse, get: refuse },
    getProperty: () => undefined,
    httpCall: refuse,
    quotas: new FilterQuotas(undefined, () => {}),
    setTickPeriod: () => {},
    foreignFunction: () => undefined,
  };
}

/** Nanoseconds per call of `op`, median (min–max) over repeats, after a warm-up pass. */
function time(iterations: number, op: () => number): ReturnType<typeof spread> {
  let sink = 0;
  for (let i = 0; i < Math.min(iterations, 100_000); i++) sink += op();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += op();
    samples.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  if (Number.isNaN(sink)) throw new Error('unreachable: keeps the results alive');
  return spread(samples);
}

function expectEqual(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: the guest got ${got | 0}, expected ${want}`);
}

async function main(): Promise<MicroResult> {
  const iterations = Number(process.argv[2]);
  if (!(iterations >= 1)) throw new Error('usage: node dist/bench/abi-micro.js ITERATIONS');

  let abi: { FilterModule: typeof FilterModuleType; WasmVm: typeof WasmVmType; HeaderMap: typeof HeaderMapType };
  try {
    const [vm, headerMap] = await Promise.all([import('../host/abi/vm.js'), import('../host/abi/header-map.js')]);
    abi = { FilterModule: vm.FilterModule, WasmVm: vm.WasmVm, HeaderMap: headerMap.HeaderMap };
  } catch (error) {
    return { skipped: `the ABI layer (host/abi/vm.ts, host/abi/header-map.ts) is not built yet: ${(error as Error).message}` };
  }
  const { FilterModule, WasmVm, HeaderMap } = abi;

  const flatHeaders = requestHeaders.flatMap((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const stream = new FixtureStream(new HeaderMap(flatHeaders.slice()));
  const vmOptions = { vmConfig: new Uint8Array(0), pluginConfig: new Uint8Array(0) };

  const wabt = await wabtInit();
  const parsed = wabt.parseWat('abi-micro.wat', guestWat);
  const guestBytes = parsed.toBinary({}).buffer;
  parsed.destroy();
  const guest = await WasmVm.create(await FilterModule.compile(guestBytes), fixtureHost('abi-micro'), vmOptions);
  guest.createHttpContext(stream);

  expectEqual('header map handover', guest.onRequestHeaders(stream, MODE_HEADER_PAIRS, false), stream.requestHeaders.serializedSize());
  expectEqual('property read', guest.onRequestHeaders(stream, MODE_PROPERTY, false), stream.path.length);

  const benchmarks: { name: string; nsPerOp: NonNullable<ReturnType<typeof spread>> }[] = [];
  const add = (name: string, op: () => number) => benchmarks.push({ name, nsPerOp: time(iterations, op)! });

  add('call into wasm: empty proxy_on_request_headers', () => guest.onRequestHeaders(stream, MODE_EMPTY, false));
  if (existsSync(noopFilterWasm)) {
    const noop = await WasmVm.create(await FilterModule.compile(readFileSync(noopFilterWasm)), fixtureHost('noop'), vmOptions);
    noop.createHttpContext(stream);
    add('call into wasm: SDK no-op filter, proxy_on_request_headers', () => noop.onRequestHeaders(stream, 10, false));
  }
  add('header map handover, 10 headers, new map (serialise + copy)', () => {
    stream.requestHeaders = new HeaderMap(flatHeaders.slice());
    return guest.onRequestHeaders(stream, MODE_HEADER_PAIRS, false);
  });
  add('header map handover, 10 headers, same map (copy only)', () => guest.onRequestHeaders(stream, MODE_HEADER_PAIRS, false));
  add('property read: request.path', () => guest.onRequestHeaders(stream, MODE_PROPERTY, false));
  return { iterations, repeats, benchmarks };
}

main().then(
  (result) => console.log(microResultPrefix + JSON.stringify(result)),
  (error: Error) => {
    console.error(`abi-micro: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
