import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import { GuestKeyCache } from '../host/abi/key-cache.js';
import { GuestMemory } from '../host/abi/memory.js';
import { decodeInt64, decodeString, encodeInt64, encodeUint64, propertyKey } from '../host/abi/properties.js';
import { OUT_LEN, OUT_PTR, OUT_X, Probe, ProbeBuilder, TestBody } from './abi-harness.js';

const PAGE = 65536;

/** A memory of one page with a bump allocator that grows it by a page when it runs out. */
function grownMemory(): { memory: WebAssembly.Memory; guest: GuestMemory; calls: number[] } {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  const guest = new GuestMemory();
  const calls: number[] = [];
  let heap = PAGE - 16;
  guest.attach(memory, (size: number) => {
    calls.push(size);
    const ptr = heap;
    heap += size;
    if (heap > memory.buffer.byteLength) memory.grow(Math.ceil((heap - memory.buffer.byteLength) / PAGE));
    return ptr;
  });
  return { memory, guest, calls };
}

describe('GuestMemory', () => {
  it('reads in-range bytes and text, and refuses anything past the end', () => {
    const { memory, guest } = grownMemory();
    new Uint8Array(memory.buffer).set(Buffer.from('héllo'), PAGE - 6);
    assert.equal(guest.string(PAGE - 6, 6), 'héllo');
    assert.deepEqual(Buffer.from(guest.copy(PAGE - 6, 6)!), Buffer.from('héllo'));
    assert.equal(guest.string(0, 0), '');
    assert.equal(guest.copy(PAGE, 0)?.length, 0, 'an empty range at the very end is in range');
    assert.equal(guest.string(PAGE - 6, 7), null);
    assert.equal(guest.view(PAGE + 1, 0), null);
    assert.equal(guest.copy(1, 0xffffffff), null);
    assert.equal(guest.inBounds(-16, 4), false, 'i32 -16 is 0xfffffff0, not a small pointer');
    assert.equal(guest.string(-1, 1), null);
    assert.equal(guest.readU32(PAGE - 3), -1);
  });

  it('copies are the host’s own: later guest writes do not change them', () => {
    const { memory, guest } = grownMemory();
    const bytes = new Uint8Array(memory.buffer);
    bytes.set([1, 2, 3], 100);
    const copy = guest.copy(100, 3)!;
    bytes[100] = 9;
    assert.deepEqual([...copy], [1, 2, 3]);
  });

  it('writes u32 and u64 little-endian, bounds-checked', () => {
    const { memory, guest } = grownMemory();
    assert.equal(guest.writeU32(8, 0x01020304), true);
    assert.equal(guest.writeU64(16, 0x0102030405060708n), true);
    assert.deepEqual([...new Uint8Array(memory.buffer, 8, 4)], [4, 3, 2, 1]);
    assert.deepEqual([...new Uint8Array(memory.buffer, 16, 8)], [8, 7, 6, 5, 4, 3, 2, 1]);
    assert.equal(guest.writeU64(24, -1n), true, 'negative values are written as their u64 pattern');
    assert.equal(new DataView(memory.buffer).getBigUint64(24, true), 0xffffffffffffffffn);
    assert.equal(guest.writeU32(PAGE - 3, 1), false);
    assert.equal(guest.writeU64(PAGE - 7, 1n), false);
    assert.equal(guest.writeU32(-4, 1), false);
  });

  it('returns data in exactly n freshly allocated bytes, after the allocator grew memory', () => {
    const { memory, guest, calls } = grownMemory();
    const before = memory.buffer;
    const value = Buffer.alloc(100, 0xab);
    assert.equal(guest.returnBytes(OUT_PTR, OUT_LEN, value), WasmResult.Ok);
    assert.deepEqual(calls, [100], 'allocated exactly n bytes');
    assert.notEqual(memory.buffer, before, 'memory grew (the old buffer is detached)');
    const view = new DataView(memory.buffer);
    const address = view.getUint32(OUT_PTR, true);
    assert.equal(address, PAGE - 16);
    assert.equal(view.getUint32(OUT_LEN, true), 100);
    assert.deepEqual(Buffer.from(memory.buffer, address, 100), value);
  });

  it('returns text as UTF-8 in the guest', () => {
    const { memory, guest, calls } = grownMemory();
    assert.equal(guest.returnString(OUT_PTR, OUT_LEN, 'ключ ✓'), WasmResult.Ok);
    const view = new DataView(memory.buffer);
    const length = Buffer.byteLength('ключ ✓');
    assert.deepEqual(calls, [length]);
    assert.equal(view.getUint32(OUT_LEN, true), length);
    assert.equal(Buffer.from(memory.buffer, view.getUint32(OUT_PTR, true), length).toString(), 'ключ ✓');
  });

  it('writes a value that fits into the return area the guest declared, without allocating', () => {
    const { memory, guest, calls } = grownMemory();
    const AREA = 1024;
    guest.useReturnArea(AREA, 16);
    const returned = () => {
      const view = new DataView(memory.buffer);
      return { at: view.getUint32(OUT_PTR, true), text: Buffer.from(memory.buffer, view.getUint32(OUT_PTR, true), view.getUint32(OUT_LEN, true)).toString() };
    };
    assert.equal(guest.returnString(OUT_PTR, OUT_LEN, 'plain ascii'), WasmResult.Ok);
    assert.deepEqual(returned(), { at: AREA, text: 'plain ascii' });
    // ASCII first, then not: the one-pass ASCII write gives way to the UTF-8 encoder.
    assert.equal(guest.returnString(OUT_PTR, OUT_LEN, 'abc ключ'), WasmResult.Ok);
    assert.deepEqual(returned(), { at: AREA, text: 'abc ключ' });
    assert.equal(guest.returnBytes(OUT_PTR, OUT_LEN, Buffer.from('bytes')), WasmResult.Ok);
    assert.deepEqual(returned(), { at: AREA, text: 'bytes' });
    assert.deepEqual(calls, [], 'nothing allocated');
    // 12 characters, 20 bytes: more than the area holds once encoded.
    assert.equal(guest.returnString(OUT_PTR, OUT_LEN, 'ключ-ключ-кл'), WasmResult.Ok);
    assert.deepEqual(returned(), { at: PAGE - 16, text: 'ключ-ключ-кл' });
    assert.deepEqual(calls, [Buffer.byteLength('ключ-ключ-кл')]);
  });

  it('returns empty data as 0/0 without allocating', () => {
    const { memory, guest, calls } = grownMemory();
    new DataView(memory.buffer).setUint32(OUT_PTR, 77, true);
    new DataView(memory.buffer).setUint32(OUT_LEN, 77, true);
    assert.equal(guest.returnBytes(OUT_PTR, OUT_LEN, new Uint8Array(0)), WasmResult.Ok);
    assert.equal(guest.returnString(OUT_PTR, OUT_LEN, ''), WasmResult.Ok);
    assert.deepEqual(calls, []);
    assert.equal(new DataView(memory.buffer).getUint32(OUT_PTR, true), 0);
    assert.equal(new DataView(memory.buffer).getUint32(OUT_LEN, true), 0);
  });

  it('checks out-pointers before allocating, and reports a failed allocation', () => {
    const { guest, calls } = grownMemory();
    assert.equal(guest.returnBytes(PAGE - 2, OUT_LEN, Uint8Array.of(1)), WasmResult.InvalidMemoryAccess);
    assert.equal(guest.returnString(OUT_PTR, -1, 'x'), WasmResult.InvalidMemoryAccess);
    assert.deepEqual(calls, [], 'no guest memory leaked for a bad out-pointer');

    const memory = new WebAssembly.Memory({ initial: 1 });
    const failing = new GuestMemory();
    failing.attach(memory, () => 0);
    assert.equal(failing.returnBytes(OUT_PTR, OUT_LEN, Uint8Array.of(1)), WasmResult.InvalidMemoryAccess);
    const lying = new GuestMemory();
    lying.attach(memory, () => PAGE - 1);
    assert.equal(lying.returnBytes(OUT_PTR, OUT_LEN, Uint8Array.of(1, 2)), WasmResult.InvalidMemoryAccess, 'a block past the end is refused');
  });

  it('before a memory is attached, nothing is in range', () => {
    const guest = new GuestMemory();
    assert.equal(guest.string(0, 1), null);
    assert.equal(guest.string(0, 0), '');
    assert.equal(guest.writeU32(0, 1), false);
    assert.equal(guest.returnBytes(0, 4, Uint8Array.of(1)), WasmResult.InvalidMemoryAccess);
  });
});

describe('host calls with out-of-range pointers and lengths', () => {
  const IMA = WasmResult.InvalidMemoryAccess;
  const FAULT = 21; // WASI EFAULT
  const BAD = '(global.get $a)';
  const w = new ProbeBuilder();
  const key = w.str('k');
  const path = w.str(':path');
  const upstream = w.str('up');
  const callHeaders = w.bytes(
    Buffer.concat([
      Buffer.from('03000000' + '07000000' + '03000000' + '05000000' + '01000000' + '0a000000' + '01000000', 'hex'),
      Buffer.from(':method\0GET\0:path\0/\0:authority\0x\0', 'latin1'),
    ]),
  );
  const out = `(i32.const ${OUT_PTR}) (i32.const ${OUT_LEN})`;
  const queue = (then: string): string =>
    `(block (result i32) (drop (call $proxy_register_shared_queue ${w.str('q')} (i32.const ${OUT_X}))) ${then})`;

  /** name -> [case, expected result]; $a is the bad pointer (or length) under test. */
  const cases: Record<string, [string, number]> = {
    log_message: [`(call $proxy_log (i32.const 2) ${BAD} (i32.const 10))`, IMA],
    log_length: [`(call $proxy_log (i32.const 2) (i32.const 64) ${BAD})`, IMA],
    get_log_level: [`(call $proxy_get_log_level ${BAD})`, IMA],
    current_time: [`(call $proxy_get_current_time_nanoseconds ${BAD})`, IMA],
    buffer_status: [`(call $proxy_get_buffer_status (i32.const 7) ${BAD} (i32.const ${OUT_LEN}))`, IMA],
    buffer_bytes: [`(call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (i32.const 100) ${BAD} (i32.const ${OUT_LEN}))`, IMA],
    set_buffer_bytes: [`(call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 0) ${BAD} (i32.const 5))`, IMA],
    header_map_size: [`(call $proxy_get_header_map_size (i32.const 0) ${BAD})`, IMA],
    header_map_pairs: [`(call $proxy_get_header_map_pairs (i32.const 0) ${BAD} (i32.const ${OUT_LEN}))`, IMA],
    set_header_map_pairs: [`(call $proxy_set_header_map_pairs (i32.const 0) ${BAD} (i32.const 20))`, IMA],
    header_value_key: [`(call $proxy_get_header_map_value (i32.const 0) ${BAD} (i32.const 5) ${out})`, IMA],
    header_value_out: [`(call $proxy_get_header_map_value (i32.const 0) ${path} ${BAD} (i32.const ${OUT_LEN}))`, IMA],
    add_header_value: [`(call $proxy_add_header_map_value (i32.const 0) ${key} ${BAD} (i32.const 3))`, IMA],
    replace_header_value: [`(call $proxy_replace_header_map_value (i32.const 0) ${BAD} (i32.const 4) ${key})`, IMA],
    remove_header_value: [`(call $proxy_remove_header_map_value (i32.const 0) ${BAD} (i32.const 4))`, IMA],
    send_local_response: [`(call $proxy_send_local_response (i32.const 403) ${BAD} (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1))`, IMA],
    get_status: [`(call $proxy_get_status ${BAD} ${out})`, IMA],
    http_call_headers: [`(call $proxy_http_call ${upstream} ${BAD} (i32.const 40) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const ${OUT_X}))`, IMA],
    http_call_token: [`(call $proxy_http_call ${upstream} ${callHeaders} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) ${BAD})`, IMA],
    get_shared_data_key: [`(call $proxy_get_shared_data ${BAD} (i32.const 3) ${out} (i32.const ${OUT_X}))`, IMA],
    get_shared_data_cas: [
      `(block (result i32) (drop (call $proxy_set_shared_data ${key} ${key} (i32.const 0))) (call $proxy_get_shared_data ${key} ${out} ${BAD}))`,
      IMA,
    ],
    set_shared_data: [`(call $proxy_set_shared_data ${key} ${BAD} (i32.const 4) (i32.const 0))`, IMA],
    register_queue: [`(call $proxy_register_shared_queue ${key} ${BAD})`, IMA],
    resolve_queue: [`(call $proxy_resolve_shared_queue (i32.const 0) (i32.const 0) ${BAD} (i32.const 4) (i32.const ${OUT_X}))`, IMA],
    enqueue: [queue(`(call $proxy_enqueue_shared_queue (i32.load (i32.const ${OUT_X})) ${BAD} (i32.const 4))`), IMA],
    dequeue: [
      queue(
        `(drop (call $proxy_enqueue_shared_queue (i32.load (i32.const ${OUT_X})) ${key})) (call $proxy_dequeue_shared_queue (i32.load (i32.const ${OUT_X})) ${BAD} (i32.const ${OUT_LEN}))`,
      ),
      IMA,
    ],
    define_metric: [`(call $proxy_define_metric (i32.const 0) ${key} ${BAD})`, IMA],
    get_metric: [
      `(block (result i32) (drop (call $proxy_define_metric (i32.const 1) ${key} (i32.const ${OUT_X}))) (call $proxy_get_metric (i32.load (i32.const ${OUT_X})) ${BAD}))`,
      IMA,
    ],
    get_property_path: [`(call $proxy_get_property ${BAD} (i32.const 4) ${out})`, IMA],
    get_property_out: [`(call $proxy_get_property ${w.str('plugin_name')} ${BAD} (i32.const ${OUT_LEN}))`, IMA],
    set_property: [`(call $proxy_set_property ${key} ${BAD} (i32.const 4))`, IMA],
    call_foreign_function: [`(call $proxy_call_foreign_function ${BAD} (i32.const 3) (i32.const 0) (i32.const 0) ${out})`, IMA],
    get_configuration: [`(call $proxy_get_configuration ${BAD} (i32.const ${OUT_LEN}))`, IMA],
    wasi_fd_write_iovs: [`(call $fd_write (i32.const 1) ${BAD} (i32.const 1) (i32.const ${OUT_LEN}))`, FAULT],
    wasi_fd_write_buffer: [
      `(block (result i32) (i32.store (i32.const 0x1100) ${BAD}) (i32.store (i32.const 0x1104) (i32.const 10)) (call $fd_write (i32.const 1) (i32.const 0x1100) (i32.const 1) (i32.const ${OUT_LEN})))`,
      FAULT,
    ],
    wasi_random_get: [`(call $random_get ${BAD} (i32.const 16))`, FAULT],
    wasi_clock_time_get: [`(call $clock_time_get (i32.const 0) (i64.const 0) ${BAD})`, FAULT],
    wasi_environ_sizes_get: [`(call $environ_sizes_get ${BAD} (i32.const ${OUT_LEN}))`, FAULT],
    wasi_fd_fdstat_get: [`(call $fd_fdstat_get (i32.const 1) ${BAD})`, FAULT],
    wasi_poll_oneoff: [`(call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 0) ${BAD})`, FAULT],
  };
  // Beyond the end, straddling the end, and the values a signed i32 turns into huge offsets.
  const badValues = [0xfffffff0, PAGE - 2, 0x7fffffff, 0xffffffff];

  it('every family answers InvalidMemoryAccess (WASI: EFAULT) and the host never throws', async () => {
    const probe = await Probe.start(
      w,
      { cases: Object.fromEntries(Object.entries(cases).map(([name, [body]]) => [name, body])) },
      { pluginConfig: Buffer.from('{"config":true}') },
    );
    probe.stream.bodies[0] = new TestBody(Buffer.from('body'));
    for (const [name, [, expected]] of Object.entries(cases)) {
      for (const bad of badValues) {
        assert.equal(probe.run(name, bad), expected, `${name} with ${bad.toString(16)}`);
      }
    }
    assert.equal(probe.vm.broken, false);
    assert.equal(probe.host.httpCalls.length, 0, 'no http_call was sent with a bad token pointer');
    assert.deepEqual(probe.host.logs, [], 'nothing was logged from a bad buffer');
  });

  it('the same calls with in-range pointers succeed (the cases can pass)', async () => {
    const good = new ProbeBuilder();
    const k = good.str('k');
    const probe = await Probe.start(good, {
      cases: {
        log: `(call $proxy_log (i32.const 2) ${k})`,
        time: `(call $proxy_get_current_time_nanoseconds (i32.const ${OUT_X}))`,
        fd_write: `(block (result i32) (i32.store (i32.const 0x1100) (i32.const 64)) (i32.store (i32.const 0x1104) (i32.const 1)) (call $fd_write (i32.const 2) (i32.const 0x1100) (i32.const 1) (i32.const ${OUT_LEN})))`,
        random: `(call $random_get (i32.const 0x1200) (i32.const 64))`,
      },
    });
    assert.equal(probe.run('log'), WasmResult.Ok);
    assert.equal(probe.run('time'), WasmResult.Ok);
    assert.equal(probe.run('fd_write'), 0);
    assert.equal(probe.run('random'), 0);
    assert.deepEqual(probe.host.logs, [
      [2, 'k'],
      [4, 'k'],
    ]);
  });
});

describe('GuestKeyCache (names the host decodes once per address)', () => {
  it('answers the derived key, and decodes afresh when the bytes at a cached address changed', () => {
    const { memory, guest } = grownMemory();
    const derived: string[] = [];
    const cache = new GuestKeyCache((text) => {
      derived.push(text);
      return propertyKey(text);
    });
    const bytes = new Uint8Array(memory.buffer);
    bytes.set(Buffer.from('request\0path'), 100);
    assert.equal(guest.key(100, 12, cache), 'request.path');
    assert.equal(guest.key(100, 12, cache), 'request.path');
    assert.deepEqual(derived, ['request\0path'], 'the second read is the cached one');
    bytes.set(Buffer.from('request\0host'), 100);
    assert.equal(guest.key(100, 12, cache), 'request.host');
    assert.equal(guest.key(100, 7, cache), 'request', 'same address, other length');
    assert.equal(guest.key(PAGE - 4, 8, cache), null, 'out of range');
    const long = 'x'.repeat(200);
    bytes.set(Buffer.from(long), 1000);
    assert.equal(guest.key(1000, 200, cache), long);
    assert.equal(guest.key(0, 0, cache), '');
  });
});

describe('property values', () => {
  it('decodes UTF-8 text from a Buffer or a plain Uint8Array, within its own bytes', () => {
    const bytes = Buffer.from('--héllo--');
    assert.equal(decodeString(bytes.subarray(2, 8)), 'héllo');
    assert.equal(decodeString(new Uint8Array(bytes).subarray(2, 8)), 'héllo');
    assert.equal(decodeString(new Uint8Array(0)), '');
  });

  const values = [0, 1, -1, 200, 65_535, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32) - 5, 2 ** 40 + 7, -(2 ** 40) - 3, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];

  it('encodes safe integers as the little-endian two\'s-complement i64 their BigInt gives', () => {
    for (const value of values) {
      assert.deepEqual(encodeInt64(value), encodeInt64(BigInt(value)), String(value));
      assert.equal(decodeInt64(encodeInt64(value)), BigInt(value), String(value));
      const unsigned = encodeUint64(value);
      assert.equal(new DataView(unsigned.buffer).getBigUint64(0, true), BigInt.asUintN(64, BigInt(value)), `unsigned ${value}`);
    }
  });

  it('encodes values past 2^53 through BigInt', () => {
    assert.equal(decodeInt64(encodeInt64(2n ** 62n + 3n)), 2n ** 62n + 3n);
    assert.equal(decodeInt64(encodeInt64(2 ** 60)), 2n ** 60n);
  });
});
