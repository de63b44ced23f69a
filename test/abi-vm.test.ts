import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LogLevel, StreamType, WasmResult } from '../host/abi/enums.js';
import { HeaderMap } from '../host/abi/header-map.js';
import { encodePairs } from '../host/abi/pairs.js';
import { decodeBool, decodeInt64, decodeString, encodeBool, encodeInt64, encodeString, encodeUint64, propertyKey } from '../host/abi/properties.js';
import { FilterModule, FilterTrap, ModuleError, ROOT_DONE_TIMEOUT_MS, VmStartError, WasmVm } from '../host/abi/vm.js';
import { OUT_LEN, OUT_PTR, OUT_X, Probe, ProbeBuilder, TestBody, TestStream, TestVmHost, wat } from './abi-harness.js';

const out = `(i32.const ${OUT_PTR}) (i32.const ${OUT_LEN})`;
/** WAT: log (at info) the bytes a call just returned through OUT_PTR/OUT_LEN. */
const logReturned = `(drop (call $proxy_log (i32.const 2) (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_LEN}))))`;
/** WAT: run `call` (an i32 WasmResult); on Ok log what it returned and answer 0, else answer the result. */
const callAndLog = (call: string): string =>
  `(block (result i32) (local.set $case ${call}) (if (i32.eqz (local.get $case)) (then ${logReturned})) (local.get $case))`;

async function moduleFrom(source: string): Promise<FilterModule> {
  return FilterModule.compile(await wat(source));
}

const NO_CONFIG = { vmConfig: new Uint8Array(0), pluginConfig: new Uint8Array(0) };

describe('FilterModule.compile', () => {
  it('refuses bytes that are not WebAssembly, saying so', async () => {
    await assert.rejects(FilterModule.compile(Buffer.from('definitely not wasm')), (error: Error) => {
      assert.ok(error instanceof ModuleError);
      assert.match(error.message, /^not a WebAssembly module \(/);
      return true;
    });
    const badBody = Buffer.concat([Buffer.from('0061736d01000000', 'hex'), Buffer.from('ff00ff', 'hex')]);
    await assert.rejects(FilterModule.compile(badBody), /^ModuleError: not a WebAssembly module \(/);
  });

  it('refuses a module that declares no supported ABI version', async () => {
    const builder = new ProbeBuilder();
    await assert.rejects(
      FilterModule.compile(await wat(builder.module({ abi: null }).source)),
      (error: Error) =>
        error instanceof ModuleError &&
        error.message === 'declares no supported proxy-wasm ABI version (exports none of proxy_abi_version_0_2_0, proxy_abi_version_0_2_1)',
    );
    const v010 = '(module (memory (export "memory") 1) (func (export "malloc") (param i32) (result i32) (i32.const 0)) (func (export "proxy_abi_version_0_1_0")))';
    await assert.rejects(FilterModule.compile(await wat(v010)), /declares no supported proxy-wasm ABI version/);
  });

  it('refuses a module without memory, without allocator, or with imports Weft cannot provide', async () => {
    const marker = '(func (export "proxy_abi_version_0_2_1"))';
    const alloc = '(func (export "malloc") (param i32) (result i32) (i32.const 0))';
    await assert.rejects(moduleFrom(`(module ${marker} ${alloc})`), /exports no linear memory named "memory"/);
    await assert.rejects(moduleFrom(`(module (memory (export "memory") 1) ${marker})`), /exports no allocator \(proxy_on_memory_allocate or malloc\)/);
    await assert.rejects(
      moduleFrom(`(module (import "wbg" "f" (func)) (memory (export "memory") 1) ${marker} ${alloc})`),
      /imports wbg\.f from module "wbg", which Weft does not provide/,
    );
    await assert.rejects(
      moduleFrom(`(module (import "env" "table" (table 1 funcref)) (memory (export "memory") 1) ${marker} ${alloc})`),
      /imports table env\.table, which Weft does not provide/,
    );
  });

  it('describes an accepted module', async () => {
    const builder = new ProbeBuilder();
    const bytes = await wat(builder.module({ abi: '0_2_0', allocator: 'malloc' }).source);
    const module = await FilterModule.compile(bytes);
    assert.equal(module.abiVersion, '0.2.0');
    assert.equal(module.size, bytes.length);
    assert.equal(module.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(module.exports.requestHeaders, true);
    assert.equal(module.exports.requestTrailers, true);
    assert.equal(module.exports.requestBody, false);
    assert.equal(module.exports.log, false);
  });
});

describe('WasmVm boot', () => {
  const bootFields = (w: ProbeBuilder, vmStartResult = 1, configureResult = 1): string => `
    (func (export "_initialize") (drop (call $proxy_log (i32.const 2) ${w.str('initialize')})))
    (func (export "main") (param i32 i32) (result i32) (drop (call $proxy_log (i32.const 2) ${w.str('main')})) (i32.const 0))
    (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
      (if (i32.and (i32.eq (local.get $ctx) (i32.const 1)) (i32.eqz (local.get $parent)))
        (then (drop (call $proxy_log (i32.const 2) ${w.str('root created')}))))
      (if (i32.and (i32.eq (local.get $ctx) (i32.const 2)) (i32.eq (local.get $parent) (i32.const 1)))
        (then (drop (call $proxy_log (i32.const 2) ${w.str('stream created')})))))
    (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
      (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 6) (i32.const 0) (local.get $size) ${out})) (then ${logReturned}))
      (i32.const ${vmStartResult}))
    (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
      (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (local.get $size) ${out})) (then ${logReturned}))
      (i32.const ${configureResult}))`;

  it('runs _initialize, main, then creates the root context and passes both configurations', async () => {
    const w = new ProbeBuilder();
    const host = new TestVmHost();
    await Probe.start(w, { fields: bootFields(w) }, { host, vmConfig: Buffer.from('vm-cfg'), pluginConfig: Buffer.from('{"plugin":1}') });
    assert.deepEqual(host.messages(), ['initialize', 'main', 'root created', 'vm-cfg', '{"plugin":1}', 'stream created']);
  });

  it('createSync boots the same way', async () => {
    const w = new ProbeBuilder();
    const host = new TestVmHost();
    const module = await moduleFrom(w.module({ fields: bootFields(w) }).source);
    const vm = WasmVm.createSync(module, host, { vmConfig: Buffer.from('v'), pluginConfig: Buffer.from('p') });
    assert.equal(vm.rootContextId, 1);
    assert.deepEqual(host.messages(), ['initialize', 'main', 'root created', 'v', 'p']);
  });

  it('fails with VmStartError when vm_start or configure answers false, and stops ticks it set', async () => {
    const w = new ProbeBuilder();
    const host = new TestVmHost();
    const module = await moduleFrom(w.module({ fields: bootFields(w, 0, 1) }).source);
    await assert.rejects(WasmVm.create(module, host, NO_CONFIG), (e: Error) => e instanceof VmStartError && e.message === 'proxy_on_vm_start returned false');
    const w2 = new ProbeBuilder();
    const ticking = `
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (drop (call $proxy_set_tick_period_milliseconds (i32.const 10))) (i32.const 1))
      (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 0))`;
    const module2 = await moduleFrom(w2.module({ fields: ticking }).source);
    const host2 = new TestVmHost();
    await assert.rejects(WasmVm.create(module2, host2, NO_CONFIG), /^VmStartError: proxy_on_configure returned false$/);
    assert.deepEqual(host2.tickPeriods, [10, 0]);
  });

  it('reports a trap during boot as "trapped in <export>: <message>"', async () => {
    const w = new ProbeBuilder();
    const module = await moduleFrom(w.module({ fields: '(func (export "_initialize") unreachable)' }).source);
    await assert.rejects(WasmVm.create(module, new TestVmHost(), NO_CONFIG), (e: Error) => {
      assert.ok(e instanceof VmStartError);
      assert.equal(e.message, 'trapped in _initialize: unreachable');
      return true;
    });
    const w2 = new ProbeBuilder();
    const startTrap = await moduleFrom(w2.module({ fields: '(func $boom unreachable) (start $boom)' }).source);
    await assert.rejects(WasmVm.create(startTrap, new TestVmHost(), NO_CONFIG), /trapped in the start function: unreachable/);
  });

  it('treats proc_exit(0) from _start as a normal end, and any other exit as a failure', async () => {
    const w = new ProbeBuilder();
    const clean = await moduleFrom(w.module({ fields: '(func (export "_start") (call $proc_exit (i32.const 0)))' }).source);
    const vm = await WasmVm.create(clean, new TestVmHost(), NO_CONFIG);
    assert.equal(vm.broken, false);
    const w2 = new ProbeBuilder();
    const failing = await moduleFrom(w2.module({ fields: '(func (export "_start") (call $proc_exit (i32.const 2)))' }).source);
    await assert.rejects(WasmVm.create(failing, new TestVmHost(), NO_CONFIG), /^VmStartError: trapped in _start: proc_exit\(2\)$/);
  });
});

describe('ABI 0.2.0 module with malloc', () => {
  it('links, and returns data through malloc, also when that grows memory', async () => {
    const w = new ProbeBuilder();
    const big = Buffer.alloc(200_000, 'x');
    big.write('start', 0);
    big.write('end', big.length - 3);
    const probe = await Probe.start(
      w,
      {
        abi: '0_2_0',
        allocator: 'malloc',
        cases: { config: callAndLog(`(call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (i32.const -1) ${out})`) },
      },
      { pluginConfig: big },
    );
    assert.equal(probe.vm.module.abiVersion, '0.2.0');
    assert.equal(probe.run('config'), WasmResult.Ok);
    assert.equal(probe.host.messages()[0], big.toString());
  });
});

describe('header maps', () => {
  const w = new ProbeBuilder();
  const status77 = `(i32.store (i32.const ${OUT_PTR}) (i32.const 77)) (i32.store (i32.const ${OUT_LEN}) (i32.const 77))`;
  const cases = {
    echo: `(block (result i32)
      (drop (call $proxy_get_header_map_value (i32.const 0) ${w.str(':PATH')} ${out}))
      (call $proxy_add_header_map_value (i32.const 0) ${w.str('X-Echo')} (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_LEN}))))`,
    copy_pairs: `(block (result i32)
      (drop (call $proxy_get_header_map_pairs (i32.const 0) ${out}))
      (call $proxy_set_header_map_pairs (i32.const 2) (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_LEN}))))`,
    absent_pairs: `(block (result i32) ${status77}
      (if (result i32) (call $proxy_get_header_map_pairs (i32.const 1) ${out})
        (then (i32.const 100))
        (else (i32.add (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_LEN}))))))`,
    size: `(if (result i32) (call $proxy_get_header_map_size (i32.const 0) (i32.const ${OUT_X})) (then (i32.const -2)) (else (i32.load (i32.const ${OUT_X}))))`,
    replace: `(call $proxy_replace_header_map_value (i32.const 0) ${w.str('X-A')} ${w.str('two')})`,
    remove: `(call $proxy_remove_header_map_value (i32.const 0) ${w.str('x-a')})`,
    remove_absent: `(call $proxy_remove_header_map_value (i32.const 0) ${w.str('x-none')})`,
    missing: `(call $proxy_get_header_map_value (i32.const 0) ${w.str('x-none')} ${out})`,
    empty_value: `(block (result i32) ${status77}
      (if (result i32) (call $proxy_get_header_map_value (i32.const 0) ${w.str('x-empty')} ${out})
        (then (i32.const 100))
        (else (i32.add (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_LEN}))))))`,
    call_response_outside_callback: `(call $proxy_get_header_map_value (i32.const 6) ${w.str(':status')} ${out})`,
    add_to_call_response: `(call $proxy_add_header_map_value (i32.const 6) ${w.str('a')} ${w.str('b')})`,
    add_to_absent_map: `(call $proxy_add_header_map_value (i32.const 3) ${w.str('a')} ${w.str('b')})`,
    bad_map_type: `(call $proxy_get_header_map_value (i32.const 8) ${w.str('a')} ${out})`,
    negative_map_type: `(call $proxy_get_header_map_pairs (i32.const -1) ${out})`,
    malformed_pairs: `(call $proxy_set_header_map_pairs (i32.const 0) ${w.str('garbage')})`,
  };

  it('gets, adds, replaces and removes values; names are lowercased', async () => {
    const probe = await Probe.start(w, { cases });
    const request = probe.stream.maps[0]!;
    assert.equal(probe.run('echo'), WasmResult.Ok);
    assert.equal(request.get('x-echo'), '/');
    assert.equal(probe.run('replace'), WasmResult.Ok);
    assert.equal(request.get('x-a'), 'two');
    assert.equal(probe.run('remove'), WasmResult.Ok);
    assert.equal(request.get('x-a'), undefined);
    assert.equal(probe.run('remove_absent'), WasmResult.Ok);
    assert.equal(probe.run('missing'), WasmResult.NotFound);
    request.add('x-empty', '');
    assert.equal(probe.run('empty_value'), 0, 'an empty value comes back as p = len = 0');
  });

  it('round-trips a whole map through the guest, byte for byte', async () => {
    const probe = await Probe.start(w, { cases });
    probe.stream.maps[2] = new HeaderMap([':status', '500']);
    assert.equal(probe.run('copy_pairs'), WasmResult.Ok);
    assert.deepEqual([...probe.stream.maps[2]!.flat], [...probe.stream.maps[0]!.flat]);
    assert.equal(probe.run('size'), probe.stream.maps[0]!.serializedSize());
    assert.equal(probe.run('absent_pairs'), 0, 'an absent map is Ok with p = len = 0');
  });

  it('refuses what a filter may not do', async () => {
    const probe = await Probe.start(w, { cases });
    assert.equal(probe.run('call_response_outside_callback'), WasmResult.NotFound);
    assert.equal(probe.run('add_to_call_response'), WasmResult.BadArgument);
    assert.equal(probe.run('add_to_absent_map'), WasmResult.BadArgument);
    assert.equal(probe.run('bad_map_type'), WasmResult.BadArgument);
    assert.equal(probe.run('negative_map_type'), WasmResult.BadArgument);
    assert.equal(probe.run('malformed_pairs'), WasmResult.BadArgument);
    assert.deepEqual([...probe.stream.maps[0]!.flat], [':method', 'GET', ':path', '/', 'x-a', 'one'], 'nothing changed');
  });
});

describe('buffers', () => {
  const w = new ProbeBuilder();
  const cases = {
    tail: callAndLog(`(call $proxy_get_buffer_bytes (i32.const 0) (i32.const 6) (i32.const 100) ${out})`),
    past_end: `(if (result i32) (call $proxy_get_buffer_bytes (i32.const 0) (i32.const 50) (i32.const 10) ${out}) (then (i32.const 100)) (else (i32.load (i32.const ${OUT_LEN}))))`,
    status: `(if (result i32) (call $proxy_get_buffer_status (i32.const 0) (i32.const ${OUT_X}) (i32.const ${OUT_LEN})) (then (i32.const -2)) (else (i32.load (i32.const ${OUT_X}))))`,
    replace_prefix: `(call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 5) ${w.str('HELLO')})`,
    append: `(call $proxy_set_buffer_bytes (i32.const 0) (i32.const -1) (i32.const 0) ${w.str('!')})`,
    response_body: `(call $proxy_get_buffer_bytes (i32.const 1) (i32.const 0) (i32.const 10) ${out})`,
    set_config: `(call $proxy_set_buffer_bytes (i32.const 7) (i32.const 0) (i32.const 0) ${w.str('x')})`,
    tcp_data: `(call $proxy_get_buffer_status (i32.const 2) (i32.const ${OUT_X}) (i32.const ${OUT_LEN}))`,
    bad_type: `(call $proxy_get_buffer_bytes (i32.const 9) (i32.const 0) (i32.const 1) ${out})`,
  };

  it('reads clipped ranges, writes with Envoy semantics, refuses absent and read-only buffers', async () => {
    const probe = await Probe.start(w, { cases }, { pluginConfig: Buffer.from('cfg') });
    const body = new TestBody(Buffer.from('hello world'));
    probe.stream.bodies[0] = body;
    assert.equal(probe.run('tail'), WasmResult.Ok);
    assert.deepEqual(probe.host.messages(), ['world']);
    assert.equal(probe.run('past_end'), 0);
    assert.equal(probe.run('status'), 11);
    assert.equal(probe.run('replace_prefix'), WasmResult.Ok);
    assert.equal(probe.run('append'), WasmResult.Ok);
    assert.equal(Buffer.from(body.data).toString(), 'HELLO world!');
    assert.equal(probe.run('response_body'), WasmResult.NotFound);
    assert.equal(probe.run('set_config'), WasmResult.BadArgument);
    assert.equal(probe.run('tcp_data'), WasmResult.NotFound);
    assert.equal(probe.run('bad_type'), WasmResult.BadArgument);
  });
});

describe('properties', () => {
  const w = new ProbeBuilder();
  const get = (path: string): string => callAndLog(`(call $proxy_get_property ${w.str(path)} ${out})`);
  const cases = {
    nul_path: get('request\0path'),
    dotted_path: get('request\0headers\0x-a'),
    dotted_host_path: get('request.path'),
    dotted_own_path: get('weft.cluster.svc.endpoints'),
    root_id: get('plugin_root_id'),
    plugin_name: get('plugin_name'),
    vm_id: get('plugin_vm_id'),
    host_property: get('weft\0cluster\0svc\0endpoints'),
    unknown: get('no\0such'),
    set: `(call $proxy_set_property ${w.str('weft\0upstream\0cluster')} ${w.str('svc')})`,
    set_read_only: `(call $proxy_set_property ${w.str('plugin_name')} ${w.str('x')})`,
    set_dotted_host_path: `(call $proxy_set_property ${w.str('request.path')} ${w.str('/x')})`,
  };

  it('normalises paths, answers plugin_* itself, then the stream, then the host', async () => {
    const host = new TestVmHost();
    host.vmId = 'vm-7';
    host.properties.set('weft.cluster.svc.endpoints', encodeString('10.0.0.1:80'));
    host.properties.set('request.path', encodeString('from host (shadowed)'));
    const stream = new TestStream();
    stream.properties.set('request.path', encodeString('/from/stream'));
    stream.properties.set('request.headers.x-a', encodeString('one'));
    const probe = await Probe.start(w, { cases }, { host, stream });
    for (const name of ['nul_path', 'dotted_path', 'root_id', 'plugin_name', 'vm_id', 'host_property']) {
      assert.equal(probe.run(name), WasmResult.Ok, name);
    }
    assert.deepEqual(host.messages(), ['/from/stream', 'one', 'probe-root', 'probe', 'vm-7', '10.0.0.1:80']);
    assert.deepEqual(stream.propertyKeysAsked.slice(0, 2), ['request.path', 'request.headers.x-a']);
    assert.equal(probe.run('unknown'), WasmResult.NotFound);
    // Envoy reads "request.path" (dots, no NUL) as one unknown name; Weft's own keys may be dotted.
    assert.equal(probe.run('dotted_host_path'), WasmResult.NotFound);
    assert.equal(probe.run('dotted_own_path'), WasmResult.Ok);
    assert.equal(probe.run('set'), WasmResult.Ok);
    assert.equal(decodeString(stream.properties.get('weft.upstream.cluster')!), 'svc');
    // A host-owned path: Ok (the Rust SDK panics on anything else) and nothing changes.
    assert.equal(probe.run('set_read_only'), WasmResult.Ok);
    assert.equal(probe.run('root_id'), WasmResult.Ok);
    assert.equal(probe.run('plugin_name'), WasmResult.Ok);
    assert.equal(host.messages().at(-1), 'probe');
    assert.equal(probe.run('set_dotted_host_path'), WasmResult.Ok);
    assert.equal(stream.properties.has('request.path.'), false);
    assert.equal(decodeString(stream.properties.get('request.path')!), '/from/stream');
  });

  it('keys and value encoders', () => {
    assert.equal(propertyKey('request\0path'), 'request.path');
    assert.equal(propertyKey('request\0headers\0x-a'), 'request.headers.x-a');
    assert.equal(propertyKey('request.path'), undefined);
    assert.equal(propertyKey('weft.upstream.cluster'), 'weft.upstream.cluster');
    assert.equal(propertyKey('plugin_name'), 'plugin_name');
    assert.equal(propertyKey('request\0path\0'), 'request.path');
    assert.equal(Buffer.from(encodeInt64(-2n)).toString('hex'), 'feffffffffffffff');
    assert.equal(Buffer.from(encodeInt64(258)).toString('hex'), '0201000000000000');
    assert.equal(Buffer.from(encodeUint64(0xffffffffffffffffn)).toString('hex'), 'ffffffffffffffff');
    assert.equal(decodeInt64(encodeInt64(-1234567890123n)), -1234567890123n);
    // Safe integers take the number path: the same bytes as the BigInt path, across the word boundary and for negatives.
    for (const n of [0, 1, -1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, -(2 ** 32), -(2 ** 32) - 7, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      assert.deepEqual(encodeInt64(n), encodeInt64(BigInt(n)), `encodeInt64(${n})`);
      if (n >= 0) assert.deepEqual(encodeUint64(n), encodeUint64(BigInt(n)), `encodeUint64(${n})`);
    }
    assert.equal(decodeInt64(Uint8Array.of(1)), undefined);
    assert.deepEqual([...encodeBool(true)], [1]);
    assert.equal(decodeBool(encodeBool(false)), false);
    assert.equal(decodeString(encodeString('ünï')), 'ünï');
  });
});

describe('stream actions', () => {
  const w = new ProbeBuilder();
  const headers = encodePairs(['X-Reason', 'bad', 'content-type', 'text/plain']);
  const cases = {
    continue_request: `(call $proxy_continue_stream (i32.const 0))`,
    continue_tcp: `(call $proxy_continue_stream (i32.const 3))`,
    continue_bad: `(call $proxy_continue_stream (i32.const 7))`,
    close_response: `(call $proxy_close_stream (i32.const 1))`,
    continue_legacy: `(call $proxy_continue_request)`,
    local_response: `(call $proxy_send_local_response (i32.const 403) ${w.str('denied')} ${w.str('no')} ${w.bytes(headers)} (i32.const 99))`,
    local_response_malformed: `(call $proxy_send_local_response (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) ${w.str('xx')} (i32.const 3))`,
  };

  it('forward to the stream host, lowercasing local response header names', async () => {
    const probe = await Probe.start(w, { cases });
    const stream = probe.stream;
    assert.equal(probe.run('continue_request'), WasmResult.Ok);
    assert.equal(probe.run('continue_legacy'), WasmResult.Ok);
    assert.deepEqual(stream.continued, [StreamType.HttpRequest, StreamType.HttpRequest]);
    assert.equal(probe.run('continue_tcp'), WasmResult.Unimplemented);
    assert.equal(probe.run('continue_bad'), WasmResult.BadArgument);
    assert.equal(probe.run('close_response'), WasmResult.Ok);
    assert.deepEqual(stream.closed, [StreamType.HttpResponse]);
    assert.equal(probe.run('local_response'), WasmResult.Ok);
    assert.deepEqual(stream.localResponses, [
      { status: 403, details: 'denied', body: new TextEncoder().encode('no'), headers: [['x-reason', 'bad'], ['content-type', 'text/plain']], grpcStatus: -1 },
    ]);
    assert.equal(probe.run('local_response_malformed'), WasmResult.BadArgument);
    assert.equal(stream.localResponses.length, 1);
  });
});

describe('contexts', () => {
  const w = new ProbeBuilder();
  const cases = {
    set_effective: `(call $proxy_set_effective_context (global.get $a))`,
    root_then_continue: `(block (result i32)
      (drop (call $proxy_set_effective_context (i32.const 1)))
      (call $proxy_continue_stream (i32.const 0)))`,
    root_then_headers: `(block (result i32)
      (drop (call $proxy_set_effective_context (i32.const 1)))
      (call $proxy_get_header_map_value (i32.const 0) ${w.str(':path')} ${out}))`,
    other_then_headers: callAndLog(`(block (result i32)
      (drop (call $proxy_set_effective_context (i32.const 3)))
      (call $proxy_get_header_map_value (i32.const 0) ${w.str(':path')} ${out}))`),
    own_headers: callAndLog(`(call $proxy_get_header_map_value (i32.const 0) ${w.str(':path')} ${out})`),
    continue_then_headers: callAndLog(`(block (result i32)
      (drop (call $proxy_continue_stream (i32.const 0)))
      (call $proxy_get_header_map_value (i32.const 0) ${w.str(':path')} ${out}))`),
    done: `(call $proxy_done)`,
  };
  const fields = `
    (func (export "proxy_on_log") (param $ctx i32) (drop (call $proxy_log (i32.const 2) ${w.str('log')})))
    (func (export "proxy_on_done") (param $ctx i32) (result i32)
      (if (i32.eq (local.get $ctx) (i32.const 1))
        (then
          (if (i32.eqz (call $proxy_done)) (then (drop (call $proxy_log (i32.const 2) ${w.str('proxy_done ok')}))))
          (return (i32.const 0))))
      (i32.const 1))
    (func (export "proxy_on_delete") (param $ctx i32)
      (if (i32.eq (local.get $ctx) (i32.const 1)) (then (drop (call $proxy_log (i32.const 2) ${w.str('root deleted')})))))`;

  it('set_effective_context redirects host calls until the callback returns; unknown ids are refused', async () => {
    const probe = await Probe.start(w, { cases, fields });
    const other = new TestStream(3);
    other.maps[0] = new HeaderMap([':path', '/other']);
    probe.host.openStream(probe.vm, other);
    assert.equal(probe.run('set_effective', 99), WasmResult.BadArgument);
    assert.equal(probe.run('set_effective', 3), WasmResult.Ok);
    assert.equal(probe.run('root_then_headers'), WasmResult.NotFound, 'the root context has no request headers');
    assert.equal(probe.run('root_then_continue'), WasmResult.Ok, 'Envoy: Ok and nothing happens outside a stream');
    assert.deepEqual(probe.stream.continued, []);
    assert.match(probe.host.messages(LogLevel.Debug)[0]!, /proxy_continue_stream called outside a stream context/);
    assert.equal(probe.run('other_then_headers'), WasmResult.Ok);
    assert.equal(probe.run('own_headers'), WasmResult.Ok, 'the next callback acts for its own context again');
    assert.deepEqual(probe.host.messages(), ['/other', '/']);
    probe.host.deleteStream(probe.vm, other);
    assert.equal(probe.run('set_effective', 3), WasmResult.BadArgument, 'a deleted context is unknown');
    assert.throws(() => probe.vm.createHttpContext(new TestStream(1)), /context 1 is the root context/);
    assert.equal(probe.run('set_effective', 1), WasmResult.Ok, 'the root context is still there');
  });

  it('a guest call nested inside a host call restores the outer context when it returns', async () => {
    const probe = await Probe.start(w, { cases, fields });
    const other = new TestStream(3);
    other.maps[0] = new HeaderMap([':path', '/other']);
    probe.host.openStream(probe.vm, other);
    // The stream host re-enters the VM for another context from inside proxy_continue_stream.
    probe.stream.onContinue = () => probe.vm.onRequestTrailers(other, 0);
    assert.equal(probe.run('continue_then_headers'), WasmResult.Ok);
    assert.deepEqual(probe.host.messages(), ['/'], 'the outer callback still acts for its own stream');
  });

  it('runs log/done/delete for streams; proxy_done is Ok only while the root finishes; destroy ends the VM', async () => {
    const probe = await Probe.start(w, { cases, fields });
    const { vm, host } = probe;
    assert.deepEqual([vm.has.log, vm.has.done, vm.has.delete, vm.has.responseBody], [true, true, true, false]);
    assert.equal(probe.run('done'), WasmResult.NotFound);
    vm.onLog(probe.stream);
    vm.onDone(probe.stream);
    vm.onDelete(probe.stream);
    assert.deepEqual(host.messages(), ['log']);
    vm.destroy();
    assert.deepEqual(host.messages(), ['log', 'proxy_done ok', 'root deleted']);
    assert.throws(() => vm.onRequestHeaders(probe.stream, 0, false), (e: Error) => e instanceof FilterTrap && /destroyed/.test(e.message));
    vm.destroy(); // idempotent
    assert.equal(host.messages().length, 3);
  });
});

describe('root proxy_done', () => {
  // Spec (proxy_on_done): "false if the host should wait for proxy_done"; the root finishes its
  // work (here: an http_call) and calls proxy_done, and only then is it deleted.
  const w = new ProbeBuilder();
  const cases = {
    call_out: `(call $proxy_http_call ${w.str('auth-service')} ${w.bytes(encodePairs([':method', 'GET', ':path', '/', ':authority', 'a']))} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const ${OUT_X}))`,
  };
  const fields = `
    (func (export "proxy_on_done") (param $ctx i32) (result i32) (i32.eqz (i32.eq (local.get $ctx) (i32.const 1))))
    (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
      (if (i32.eqz (call $proxy_done)) (then (drop (call $proxy_log (i32.const 2) ${w.str('proxy_done ok')})))))
    (func (export "proxy_on_delete") (param $ctx i32)
      (if (i32.eq (local.get $ctx) (i32.const 1)) (then (drop (call $proxy_log (i32.const 2) ${w.str('root deleted')})))))`;

  it('a root that answers false from on_done is deleted when it calls proxy_done later', async () => {
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('call_out'), WasmResult.Ok);
    probe.vm.destroy();
    assert.deepEqual(probe.host.messages(), [], 'waiting for proxy_done');
    probe.host.httpCalls[0]!.done({ headers: [[':status', '200']], body: new Uint8Array(0), trailers: [] });
    assert.deepEqual(probe.host.messages(), ['proxy_done ok', 'root deleted']);
    assert.throws(() => probe.vm.onRequestHeaders(probe.stream, 0, false), /destroyed/);
  });

  it('the wait is bounded: past ROOT_DONE_TIMEOUT_MS the VM ends without on_delete', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('call_out'), WasmResult.Ok);
    probe.vm.destroy();
    t.mock.timers.tick(ROOT_DONE_TIMEOUT_MS);
    assert.match(probe.host.messages(LogLevel.Warn)[0]!, /did not call proxy_done within 5000 ms/);
    probe.host.httpCalls[0]!.done({ headers: [[':status', '200']], body: new Uint8Array(0), trailers: [] });
    assert.deepEqual(probe.host.messages(), [], 'no guest code runs once the VM has ended');
  });
});

describe('http_call', () => {
  const w = new ProbeBuilder();
  const request = (pairs: string[]): string =>
    `(block (result i32)
      (local.set $case (call $proxy_http_call ${w.str('auth-service')} ${w.bytes(encodePairs(pairs))} ${w.str('ping')} (i32.const 0) (i32.const 0) (i32.const 1500) (i32.const ${OUT_X})))
      (if (result i32) (local.get $case) (then (i32.add (i32.const 1000) (local.get $case))) (else (i32.load (i32.const ${OUT_X})))))`;
  const cases = {
    send: request([':method', 'POST', ':path', '/check', ':Authority', 'auth', 'x-k', 'v']),
    no_authority: request([':method', 'GET', ':path', '/']),
    malformed_headers: `(call $proxy_http_call ${w.str('up')} ${w.str('bad')} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const ${OUT_X}))`,
  };
  const log = (text: string): string => `(drop (call $proxy_log (i32.const 2) ${w.str(text)}))`;
  const fields = `
    (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $headers i32) (param $body i32) (param $trailers i32)
      (local $case i32)
      (if (i32.and (i32.eq (local.get $root) (i32.const 1)) (i32.eq (local.get $token) (i32.load (i32.const ${OUT_X}))))
        (then ${log('root and token ok')}))
      (if (i32.eqz (local.get $headers))
        (then
          (drop (call $proxy_get_status (i32.const 0x1010) ${out}))
          ${logReturned}
          (if (i32.eq (i32.load (i32.const 0x1010)) (i32.const 11)) (then ${log('status 11')}))
          (return)))
      (if (i32.and (i32.eq (local.get $headers) (i32.const 2)) (i32.eq (local.get $body) (i32.const 4))) (then ${log('sizes ok')}))
      (if (i32.eqz (call $proxy_get_header_map_value (i32.const 6) ${w.str(':status')} ${out})) (then ${logReturned}))
      (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (local.get $body) ${out})) (then ${logReturned}))
      (if (i32.eq (call $proxy_add_header_map_value (i32.const 6) ${w.str('a')} ${w.str('b')}) (i32.const 2)) (then ${log('read-only')}))
      (if (i32.eqz (call $proxy_set_effective_context (i32.const 2)))
        (then (drop (call $proxy_continue_stream (i32.const 0))))))`;

  it('sends the request to the host and writes a non-zero token', async () => {
    const probe = await Probe.start(w, { cases, fields });
    const token = probe.run('send');
    assert.ok(token > 0 && token < 1000, `token ${token}`);
    assert.equal(probe.host.httpCalls.length, 1);
    const { request: sent } = probe.host.httpCalls[0]!;
    assert.equal(sent.cluster, 'auth-service');
    assert.deepEqual(sent.headers, [[':method', 'POST'], [':path', '/check'], [':authority', 'auth'], ['x-k', 'v']]);
    assert.equal(Buffer.from(sent.body).toString(), 'ping');
    assert.equal(sent.timeoutMs, 1500);
    assert.ok(probe.run('send') !== token, 'tokens are unique');
  });

  it('refuses requests without the required pseudo-headers, and passes on host failures', async () => {
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('no_authority'), 1000 + WasmResult.BadArgument);
    assert.equal(probe.run('malformed_headers'), WasmResult.BadArgument);
    probe.host.httpCallResult = WasmResult.InternalFailure;
    assert.equal(probe.run('send'), 1000 + WasmResult.InternalFailure);
    assert.equal(probe.host.httpCalls.length, 0);
  });

  it('delivers the response on the root context with maps 6/7 and buffer 4 readable', async () => {
    const probe = await Probe.start(w, { cases, fields });
    probe.run('send');
    probe.host.httpCalls[0]!.done({ headers: [[':status', '200'], ['Content-Type', 'text/plain']], body: Buffer.from('pong'), trailers: [] });
    assert.deepEqual(probe.host.messages(), ['root and token ok', 'sizes ok', '200', 'pong', 'read-only']);
    assert.deepEqual(probe.stream.continued, [StreamType.HttpRequest], 'set_effective_context reached the stream');
    assert.equal(probe.vm.broken, false);
  });

  it('delivers a failure as (token, 0, 0, 0) with get_status 11 "reset"', async () => {
    const probe = await Probe.start(w, { cases, fields });
    probe.run('send');
    probe.host.httpCalls[0]!.done(null);
    assert.deepEqual(probe.host.messages(), ['root and token ok', 'reset', 'status 11']);
  });
});

describe('VM services: ticks, shared data, queues, metrics, foreign functions, logging', () => {
  const w = new ProbeBuilder();
  const log = (text: string): string => `(drop (call $proxy_log (i32.const 2) ${w.str(text)}))`;
  const hello = w.place('hello\n');
  const cases = {
    tick: `(call $proxy_set_tick_period_milliseconds (global.get $a))`,
    shared_set: `(call $proxy_set_shared_data ${w.str('k')} ${w.str('v1')} (global.get $a))`,
    shared_get: callAndLog(`(call $proxy_get_shared_data ${w.str('k')} ${out} (i32.const ${OUT_X}))`),
    shared_cas: `(i32.load (i32.const ${OUT_X}))`,
    queue_register: `(if (result i32) (call $proxy_register_shared_queue ${w.str('jobs')} (i32.const 0x1020)) (then (i32.const -2)) (else (i32.load (i32.const 0x1020))))`,
    queue_resolve: `(if (result i32) (call $proxy_resolve_shared_queue (i32.const 0) (i32.const 0) ${w.str('jobs')} (i32.const ${OUT_X})) (then (i32.const -2)) (else (i32.load (i32.const ${OUT_X}))))`,
    queue_resolve_missing: `(call $proxy_resolve_shared_queue (i32.const 0) (i32.const 0) ${w.str('nope')} (i32.const ${OUT_X}))`,
    enqueue: `(call $proxy_enqueue_shared_queue (i32.load (i32.const 0x1020)) ${w.str('job-1')})`,
    dequeue: callAndLog(`(call $proxy_dequeue_shared_queue (i32.load (i32.const 0x1020)) ${out})`),
    dequeue_unknown: `(call $proxy_dequeue_shared_queue (i32.const 999) ${out})`,
    metric_define: `(if (result i32) (call $proxy_define_metric (i32.const 0) ${w.str('requests')} (i32.const 0x1030)) (then (i32.const -2)) (else (i32.load (i32.const 0x1030))))`,
    metric_increment: `(call $proxy_increment_metric (i32.load (i32.const 0x1030)) (i64.const 5))`,
    metric_decrement: `(call $proxy_increment_metric (i32.load (i32.const 0x1030)) (i64.const -1))`,
    metric_get: `(if (result i32) (call $proxy_get_metric (i32.load (i32.const 0x1030)) (i32.const 0x1040)) (then (i32.const -2)) (else (i32.wrap_i64 (i64.load (i32.const 0x1040)))))`,
    metric_bad_type: `(call $proxy_define_metric (i32.const 3) ${w.str('x')} (i32.const 0x1030))`,
    foreign: callAndLog(`(call $proxy_call_foreign_function ${w.str('reverse')} ${w.str('abc')} ${out})`),
    foreign_unknown: `(call $proxy_call_foreign_function ${w.str('nope')} (i32.const 0) (i32.const 0) ${out})`,
    grpc: `(call $proxy_grpc_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const ${OUT_X}))`,
    log_debug: `(call $proxy_log (i32.const 1) ${w.str('debug line')})`,
    log_bad_level: `(call $proxy_log (i32.const 6) ${w.str('x')})`,
    log_level: `(if (result i32) (call $proxy_get_log_level (i32.const ${OUT_X})) (then (i32.const -2)) (else (i32.load (i32.const ${OUT_X}))))`,
    stdout: `(block (result i32)
      (i32.store (i32.const 0x1100) (i32.const ${hello[0]})) (i32.store (i32.const 0x1104) (i32.const ${hello[1]}))
      (call $fd_write (i32.const 1) (i32.const 0x1100) (i32.const 1) (i32.const ${OUT_LEN})))`,
    written: `(i32.load (i32.const ${OUT_LEN}))`,
    bad_fd: `(call $fd_write (i32.const 3) (i32.const 0x1100) (i32.const 1) (i32.const ${OUT_LEN}))`,
    bad_clock: `(call $clock_time_get (i32.const 2) (i64.const 0) (i32.const 0x1040))`,
    monotonic: `(call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 0x1040))`,
    big_random: `(call $random_get (i32.const 0x2000) (i32.const 70000))`,
  };
  const fields = `
    (func (export "proxy_on_tick") (param $root i32)
      (if (global.get $b) (then unreachable))
      (if (i32.eq (local.get $root) (i32.const 1)) (then ${log('tick')})))
    (func (export "proxy_on_queue_ready") (param $root i32) (param $queue i32)
      (if (i32.eq (local.get $queue) (i32.load (i32.const 0x1020))) (then ${log('queue ready')})))
    (func (export "proxy_on_foreign_function") (param $root i32) (param $id i32) (param $size i32)
      (local $case i32)
      (if (i32.eq (local.get $id) (i32.const 7))
        (then (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 8) (i32.const 0) (local.get $size) ${out})) (then ${logReturned})))))`;

  it('ticks call proxy_on_tick on the root and stop at destroy', async () => {
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('tick', 50), WasmResult.Ok);
    assert.deepEqual(probe.host.tickPeriods, [50]);
    probe.host.onTick!();
    probe.host.onTick!();
    assert.deepEqual(probe.host.messages(), ['tick', 'tick']);
    probe.vm.destroy();
    assert.deepEqual(probe.host.tickPeriods, [50, 0]);
  });

  it('shared data with compare-and-swap', async () => {
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('shared_get'), WasmResult.NotFound);
    assert.equal(probe.run('shared_set', 0), WasmResult.Ok);
    assert.equal(probe.run('shared_get'), WasmResult.Ok);
    const cas = probe.run('shared_cas');
    assert.ok(cas > 0);
    assert.equal(probe.run('shared_set', cas + 1), WasmResult.CasMismatch);
    assert.equal(probe.run('shared_set', cas), WasmResult.Ok);
    assert.deepEqual(probe.host.messages(), ['v1']);
  });

  it('queues: register, resolve, enqueue, and proxy_on_queue_ready after the callback, never inside it', async () => {
    const probe = await Probe.start(w, { cases, fields });
    const queueId = probe.run('queue_register');
    assert.ok(queueId > 0);
    assert.equal(probe.run('queue_resolve'), queueId);
    assert.equal(probe.run('queue_resolve_missing'), WasmResult.NotFound);
    assert.equal(probe.run('dequeue'), WasmResult.Empty);
    assert.equal(probe.run('enqueue'), WasmResult.Ok);
    assert.deepEqual(probe.host.messages(), [], 'not re-entered while the enqueuing callback ran');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(probe.host.messages(), ['queue ready']);
    assert.equal(probe.run('dequeue'), WasmResult.Ok);
    assert.equal(probe.run('dequeue_unknown'), WasmResult.NotFound);
    assert.deepEqual(probe.host.messages(), ['queue ready', 'job-1']);
  });

  it('metrics, foreign functions, and gRPC on a host without it (Unimplemented)', async () => {
    const probe = await Probe.start(w, { cases, fields });
    probe.host.foreign.set('reverse', (args) => Buffer.from(args).reverse());
    assert.equal(probe.run('metric_define'), 1);
    assert.equal(probe.run('metric_increment'), WasmResult.Ok);
    assert.equal(probe.run('metric_decrement'), WasmResult.BadArgument);
    assert.equal(probe.run('metric_get'), 5);
    assert.equal(probe.run('metric_bad_type'), WasmResult.BadArgument);
    assert.equal(probe.run('foreign'), WasmResult.Ok);
    assert.equal(probe.run('foreign_unknown'), WasmResult.NotFound);
    assert.equal(probe.run('grpc'), WasmResult.Unimplemented);
    probe.vm.onForeignFunction(7, Buffer.from('event'));
    assert.deepEqual(probe.host.messages(), ['cba', 'event']);
  });

  it('logging: levels, the host threshold, stdout, WASI errors', async () => {
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('log_level'), LogLevel.Info, 'Info when the host sets no level');
    assert.equal(probe.run('log_debug'), WasmResult.Ok);
    assert.equal(probe.run('log_bad_level'), WasmResult.BadArgument);
    probe.host.logLevel = LogLevel.Warn;
    assert.equal(probe.run('log_level'), LogLevel.Warn);
    assert.equal(probe.run('log_debug'), WasmResult.Ok, 'below the threshold: Ok, dropped');
    assert.deepEqual(probe.host.logs, [[LogLevel.Debug, 'debug line']]);
    assert.equal(probe.run('stdout'), 0);
    assert.equal(probe.run('written'), 6);
    assert.deepEqual(probe.host.logs.at(-1), [LogLevel.Info, 'hello']);
    assert.equal(probe.run('bad_fd'), 8);
    assert.equal(probe.run('bad_clock'), 58);
    assert.equal(probe.run('monotonic'), 0);
    assert.equal(probe.run('big_random'), 28);
  });
});

describe('traps', () => {
  const w = new ProbeBuilder();
  const message = w.assemblyScriptString('boom: bad input');
  const file = w.assemblyScriptString('assembly/index.ts');
  const cases = {
    ok: '(i32.const 0)',
    unreachable: '(block (result i32) unreachable)',
    out_of_bounds: '(i32.load (i32.const -4))',
    proc_exit: '(block (result i32) (call $proc_exit (i32.const 3)) (i32.const 0))',
    abort: `(block (result i32) (call $abort (i32.const ${message}) (i32.const ${file}) (i32.const 12) (i32.const 5)) (i32.const 0))`,
    host_error: `(call $proxy_get_property ${w.str('request\0path')} ${out})`,
    recurse: '(call $recurse)',
    tick: `(call $proxy_set_tick_period_milliseconds (i32.const 10))`,
  };
  const fields = `
    (func $recurse (result i32) (i32.add (call $recurse) (i32.const 1)))
    (func (export "proxy_on_tick") (param i32) unreachable)`;

  const expectTrap = async (name: string, pattern: RegExp, setup?: (probe: Probe) => void): Promise<Probe> => {
    const probe = await Probe.start(w, { cases, fields });
    setup?.(probe);
    assert.throws(
      () => probe.run(name),
      (e: Error) => {
        assert.ok(e instanceof FilterTrap, `${name}: ${e}`);
        assert.equal(e.phase, 'proxy_on_request_headers');
        assert.match(e.message, pattern);
        return true;
      },
    );
    assert.equal(probe.vm.broken, true);
    return probe;
  };

  it('a wasm trap becomes FilterTrap, breaks the VM, and the VM refuses further stream calls', async () => {
    const probe = await expectTrap('unreachable', /^trapped in proxy_on_request_headers: unreachable$/);
    assert.throws(() => probe.run('ok'), (e: Error) => e instanceof FilterTrap && /broken by an earlier trap/.test(e.message));
    assert.throws(() => probe.vm.createHttpContext(new TestStream(5)), FilterTrap);
    probe.vm.onLog(probe.stream); // lifecycle calls on a broken VM are skipped, not thrown
    probe.vm.onDelete(probe.stream);
    probe.vm.destroy();
  });

  it('memory faults, proc_exit, AssemblyScript abort, stack overflow and host exceptions all trap', async () => {
    await expectTrap('out_of_bounds', /memory access out of bounds/);
    await expectTrap('proc_exit', /: proc_exit\(3\)$/);
    await expectTrap('abort', /: abort: boom: bad input at assembly\/index\.ts:12:5$/);
    await expectTrap('recurse', /RangeError: Maximum call stack size exceeded/);
    await expectTrap('host_error', /: TypeError: host bug$/, (probe) => {
      probe.stream.failure = new TypeError('host bug');
    });
  });

  it('a trap in a callback the VM drives itself is reported to the host and breaks the VM', async () => {
    const probe = await Probe.start(w, { cases, fields });
    assert.equal(probe.run('tick'), WasmResult.Ok);
    probe.host.onTick!();
    assert.equal(probe.vm.broken, true);
    assert.equal(probe.host.traps.length, 1);
    assert.equal(probe.host.traps[0]!.phase, 'proxy_on_tick');
    assert.ok(probe.host.traps[0]!.error instanceof FilterTrap);
    probe.host.onTick!();
    assert.equal(probe.host.traps.length, 1, 'a broken VM runs no more callbacks');
  });
});

describe('imports from other SDKs', () => {
  it('unknown env and WASI functions link, answer Unimplemented / 0 / ENOSYS, and are logged once', async () => {
    const w = new ProbeBuilder();
    const probe = await Probe.start(w, {
      imports: `
        (import "env" "proxy_future_call" (func $proxy_future_call (param i32) (result i32)))
        (import "env" "__cxa_thing" (func $cxa_thing (result i32)))
        (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
        (import "wasi_unstable" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
        (import "env" "seed" (func $seed (result f64)))
        (import "env" "emscripten_notify_memory_growth" (func $grown (param i32)))
        (import "env" "pthread_equal" (func $pthread_equal (param i32 i32) (result i32)))
        (import "env" "proxy_clear_route_cache" (func $proxy_clear_route_cache (result i32)))
        (import "env" "proxy_grpc_stream" (func $proxy_grpc_stream (param i32 i32 i32 i32 i32 i32 i32) (result i32)))`,
      cases: {
        future: '(call $proxy_future_call (i32.const 1))',
        cxa: '(call $cxa_thing)',
        symlink: '(call $path_symlink (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))',
        sock: '(call $sock_accept (i32.const 0) (i32.const 0) (i32.const 0))',
        seed: '(block (result i32) (call $grown (i32.const 0)) (f64.ne (call $seed) (call $seed)))',
        pthread: '(i32.add (call $pthread_equal (i32.const 4) (i32.const 4)) (call $pthread_equal (i32.const 4) (i32.const 5)))',
        route_cache: '(call $proxy_clear_route_cache)',
        grpc_stream_as: '(call $proxy_grpc_stream (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))',
      },
    });
    for (let i = 0; i < 2; i++) {
      assert.equal(probe.run('future'), WasmResult.Unimplemented);
      assert.equal(probe.run('cxa'), 0);
      assert.equal(probe.run('symlink'), 52);
      assert.equal(probe.run('sock'), 52);
    }
    assert.equal(probe.run('seed'), 1, 'seed answers a fresh number each time');
    assert.equal(probe.run('pthread'), 1);
    assert.equal(probe.run('route_cache'), WasmResult.Ok);
    assert.equal(probe.run('grpc_stream_as'), WasmResult.Unimplemented);
    const warnings = probe.host.messages(LogLevel.Warn);
    assert.equal(warnings.length, 4, warnings.join('\n'));
    for (const name of ['env.proxy_future_call', 'env.__cxa_thing', 'wasi_snapshot_preview1.path_symlink', 'wasi_unstable.sock_accept']) {
      assert.ok(warnings.some((line) => line.includes(name)), name);
    }
  });
});

describe('declared phases (weft_phases)', () => {
  const everyCallback = (phases: string): string => `(module
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
    (func (export "proxy_on_context_create") (param i32 i32))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
    (func (export "proxy_on_log") (param i32))
    (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
    (func (export "proxy_on_delete") (param i32))
    ${phases})`;
  const capabilities = (vm: WasmVm) => {
    const { createContext, requestHeaders, requestBody, responseHeaders, responseBody, log, done, delete: remove } = vm.has;
    return { createContext, requestHeaders, requestBody, responseHeaders, responseBody, log, done, delete: remove };
  };

  it('a module without the export is called for every callback it exports (Rust, Go, C++ SDK builds)', async () => {
    const vm = await WasmVm.create(await moduleFrom(everyCallback('')), new TestVmHost(), NO_CONFIG);
    assert.deepEqual(capabilities(vm), { createContext: true, requestHeaders: true, requestBody: true, responseHeaders: true, responseBody: true, log: true, done: true, delete: true });
  });

  it('a module that declares request headers and log is reported without the others; context create and delete stay', async () => {
    const vm = await WasmVm.create(await moduleFrom(everyCallback('(func (export "weft_phases") (param i32) (result i32) (i32.const 65))')), new TestVmHost(), NO_CONFIG);
    assert.deepEqual(capabilities(vm), { createContext: true, requestHeaders: true, requestBody: false, responseHeaders: false, responseBody: false, log: true, done: false, delete: true });
  });

  it('a module that creates contexts at their first callback (256) is not called to create them; delete stays', async () => {
    const vm = await WasmVm.create(await moduleFrom(everyCallback('(func (export "weft_phases") (param i32) (result i32) (i32.const 321))')), new TestVmHost(), NO_CONFIG);
    assert.deepEqual(capabilities(vm), { createContext: false, requestHeaders: true, requestBody: false, responseHeaders: false, responseBody: false, log: true, done: false, delete: true });
  });

  it('the SDK answers RootContext.phases(): the no-op filter declares its two header callbacks, and creates its contexts itself', async () => {
    const bytes = readFileSync(new URL('../../test/filters/noop/build/noop.wasm', import.meta.url));
    const vm = await WasmVm.create(await FilterModule.compile(bytes), new TestVmHost(), NO_CONFIG);
    assert.deepEqual(capabilities(vm), { createContext: false, requestHeaders: true, requestBody: false, responseHeaders: true, responseBody: false, log: false, done: false, delete: true });
  });
});
