// The containment pass (host/abi/fuel.ts) on its own and through WasmVm: instrumented modules
// behave as before, fuel is charged exactly as documented and runs out with a trap, the
// budget is reset for every guest call, host functions are not charged, memory growth stops
// at the limit, and every module the repo builds (and one per post-MVP feature) decodes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import wabtInit from 'wabt';
import { HeaderMap } from '../host/abi/header-map.js';
import { BUDGET_EXPORT, CALL_DEPTH_EXPORT, FUEL_EXPORT, InstrumentError, instrumentModule, MEMORY_LIMIT_EXPORT, MEMORY_REFUSALS_EXPORT, SPENT_EXPORT, SPENT_LIMIT_EXPORT } from '../host/abi/fuel.js';
import { FilterModule, FilterTrap, ModuleError, VmStartError, WasmVm } from '../host/abi/vm.js';
import { TestStream, TestVmHost } from './abi-harness.js';
import { fixtureModule, repoRoot } from './helpers/repo.js';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Wabt | undefined;

/** Every wasm feature wabt can parse that V8 in Node 20 runs. */
const FEATURES = {
  mutable_globals: true,
  sign_extension: true,
  sat_float_to_int: true,
  bulk_memory: true,
  reference_types: true,
  multi_value: true,
  simd: true,
  threads: true,
  exceptions: true,
  tail_call: true,
};

async function assemble(source: string): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const module = wabt.parseWat('test.wat', source, FEATURES);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** Function entries plus loop headers, counted from wabt's disassembly (an independent decoder). */
async function meteringPointsByWabt(bytes: Uint8Array): Promise<number> {
  wabt ??= await wabtInit();
  // A copy of exactly the module: wabt.js reads the whole ArrayBuffer behind a view, and on Node 24
  // readFileSync's Buffer sits in a larger one (a 20 KiB file in 64 KiB), so it parsed the tail too.
  const module = wabt.readWasm(new Uint8Array(bytes), { readDebugNames: false, ...FEATURES });
  try {
    const text = module.toText({});
    return (text.match(/^\s*\(func\b/gm) ?? []).length + (text.match(/^\s*loop\b/gm) ?? []).length;
  } finally {
    module.destroy();
  }
}

interface Instrumented {
  exports: Record<string, (...args: number[]) => number>;
  fuel: { value: bigint };
  /** What the fuel is set to when a call comes from outside the module. */
  budget: { value: bigint };
  spent: { value: bigint };
  spentLimit: { value: bigint };
  depth: { value: number };
  limit: { value: number };
  refusals: { value: number };
}

async function instantiate(bytes: Uint8Array, imports: WebAssembly.Imports = {}): Promise<Instrumented> {
  const { exports } = await WebAssembly.instantiate(await WebAssembly.compile(bytes), imports);
  return {
    exports: exports as unknown as Instrumented['exports'],
    fuel: exports[FUEL_EXPORT] as unknown as Instrumented['fuel'],
    budget: exports[BUDGET_EXPORT] as unknown as Instrumented['budget'],
    spent: exports[SPENT_EXPORT] as unknown as Instrumented['spent'],
    spentLimit: exports[SPENT_LIMIT_EXPORT] as unknown as Instrumented['spentLimit'],
    depth: exports[CALL_DEPTH_EXPORT] as unknown as Instrumented['depth'],
    limit: exports[MEMORY_LIMIT_EXPORT] as unknown as Instrumented['limit'],
    refusals: exports[MEMORY_REFUSALS_EXPORT] as unknown as Instrumented['refusals'],
  };
}

/** A module that exports a global under the fuel counter's reserved name. */
function exportingFuel(): Promise<Uint8Array> {
  return assemble('(module (global (export "__weft_fuel") i32 (i32.const 0)))');
}

/** A module with blocks, ifs, loops, br_table, recursion, call_indirect, memory and i64. */
const BEHAVIOUR = `(module
  (type $binop (func (param i32 i32) (result i32)))
  (memory (export "memory") 1 8)
  (table 2 funcref)
  (elem (i32.const 0) $add $mul)
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "apply") (param $op i32) (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $binop) (local.get $a) (local.get $b) (local.get $op)))
  (func (export "collatz") (param $n i32) (result i32)
    (local $steps i32)
    (block $done
      (loop $next
        (br_if $done (i32.le_u (local.get $n) (i32.const 1)))
        (local.set $n (if (result i32) (i32.and (local.get $n) (i32.const 1))
          (then (i32.add (i32.mul (local.get $n) (i32.const 3)) (i32.const 1)))
          (else (i32.shr_u (local.get $n) (i32.const 1)))))
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (br $next)))
    (local.get $steps))
  (func (export "classify") (param $n i32) (result i32)
    (block $two (block $one (block $zero
      (br_table $zero $one $two (local.get $n)))
      (return (i32.const 100)))
      (return (i32.const 101)))
    (i32.const 102))
  (func (export "checksum") (param $len i32) (result i32)
    (local $i i32) (local $hash i64)
    (loop $fill
      (i32.store8 (local.get $i) (i32.mul (local.get $i) (i32.const 7)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (local.get $len))))
    (local.set $i (i32.const 0))
    (local.set $hash (i64.const 1469598103934665603))
    (loop $mix
      (local.set $hash (i64.mul (i64.xor (local.get $hash) (i64.load8_u (local.get $i))) (i64.const 1099511628211)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $mix (i32.lt_u (local.get $i) (local.get $len))))
    (i32.wrap_i64 (i64.xor (local.get $hash) (i64.shr_u (local.get $hash) (i64.const 32)))))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
  (func (export "size") (result i32) (memory.size))
)`;

/** spin(n) runs a loop of exactly 8 charged instructions n times, after 1 at its entry (the loop). */
const SPIN = `(module
  (import "env" "work" (func $work (param i32)))
  (memory (export "memory") 1)
  (func (export "spin") (param $n i32)
    (loop $again
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again (i32.gt_s (local.get $n) (i32.const 0)))))
  (func (export "forever") (loop $again (br $again)))
  (func (export "call_host") (param $n i32) (call $work (local.get $n)))
  (func (export "inner") (param $n i32) (drop (i32.add (local.get $n) (i32.const 1))))
)`;
const SPIN_ENTRY = 1;
const SPIN_ITERATION = 8;

describe('instrumentModule', () => {
  it('keeps what a module computes', async () => {
    const original = await assemble(BEHAVIOUR);
    const plain = (await WebAssembly.instantiate(await WebAssembly.compile(original))).exports as unknown as Instrumented['exports'];
    const { exports } = await instantiate(instrumentModule(original).bytes);
    const cases: Array<[string, number[]]> = [
      ['fib', [0]], ['fib', [1]], ['fib', [20]],
      ['apply', [0, 20, 22]], ['apply', [1, 6, 7]],
      ['collatz', [1]], ['collatz', [27]], ['collatz', [97]],
      ['classify', [0]], ['classify', [1]], ['classify', [2]], ['classify', [9]],
      ['checksum', [1]], ['checksum', [1000]],
      ['size', []], ['grow', [1]], ['size', []],
    ];
    for (const [name, args] of cases) assert.equal(exports[name]!(...args), plain[name]!(...args), `${name}(${args.join(', ')})`);
  });

  it('charges the instructions up to the next check: at the entry, then every loop iteration', async () => {
    const spin = await instantiate(instrumentModule(await assemble(SPIN)).bytes, { env: { work: () => undefined } });
    for (const n of [1, 10, 1000]) {
      spin.budget.value = 1_000_000n;
      spin.exports.spin!(n);
      assert.equal(spin.fuel.value, 1_000_000n - BigInt(SPIN_ENTRY + SPIN_ITERATION * n), `spin(${n})`);
    }
  });

  it('gives every call from outside the budget, and totals what those calls spent, in modules with and without memory.grow', async () => {
    const cost = (n: number) => BigInt(SPIN_ENTRY + SPIN_ITERATION * n);
    const spin = await instantiate(instrumentModule(await assemble(SPIN)).bytes, { env: { work: () => undefined } });
    spin.budget.value = 1_000n;
    spin.fuel.value = 3n; // what a call that nearly ran out leaves: the next one starts from the budget
    spin.exports.spin!(10);
    assert.equal(spin.fuel.value, 1_000n - cost(10));
    spin.exports.spin!(20);
    assert.equal(spin.fuel.value, 1_000n - cost(20));
    assert.equal(spin.spent.value, cost(10) + cost(20));
    assert.equal(spin.depth.value, 0);
    spin.spent.value = 0n; // the host's new second
    spin.exports.spin!(1);
    assert.equal(spin.spent.value, cost(1));

    const behaviour = await instantiate(instrumentModule(await assemble(BEHAVIOUR)).bytes);
    behaviour.budget.value = 1_000_000n;
    assert.equal(behaviour.exports.fib!(10), 55, 'results pass through the wrapper');
    const fibSpent = 1_000_000n - behaviour.fuel.value;
    assert.equal(behaviour.exports.apply!(1, 6, 7), 42);
    const applySpent = 1_000_000n - behaviour.fuel.value;
    assert.ok(fibSpent > 100n && applySpent > 0n);
    assert.equal(behaviour.spent.value, fibSpent + applySpent);
    assert.equal(behaviour.depth.value, 0);
  });

  it('traps a call from outside at once when the calls before it spent the limit, and runs it again once the total is reset', async () => {
    const spin = await instantiate(instrumentModule(await assemble(SPIN)).bytes, { env: { work: () => undefined } });
    spin.budget.value = 1_000n;
    spin.spentLimit.value = BigInt(SPIN_ENTRY + SPIN_ITERATION * 10);
    spin.exports.spin!(9);
    spin.exports.spin!(1); // reaches the limit exactly
    const fuelBefore = spin.fuel.value;
    assert.throws(() => spin.exports.spin!(1), (error: Error) => error instanceof WebAssembly.RuntimeError && /unreachable/.test(error.message));
    assert.equal(spin.fuel.value, fuelBefore, 'the refused call ran nothing');
    spin.depth.value = 0; // what WasmVm would do only after a clean proc_exit; here, to call again
    spin.spent.value = 0n;
    spin.exports.spin!(1);
    assert.equal(spin.spent.value, BigInt(SPIN_ENTRY + SPIN_ITERATION));
  });

  it('charges memory.fill and memory.copy one unit per byte, so a large one cannot pass for one instruction', async () => {
    const source = `(module
      (memory (export "memory") 2)
      (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n)))
      (func (export "copy") (param $n i32) (memory.copy (i32.const 65536) (i32.const 0) (local.get $n)))
      (func (export "byte") (param $at i32) (result i32) (i32.load8_u (local.get $at))))`;
    const result = instrumentModule(await assemble(source));
    assert.equal(result.meteredBulkOps, 2);
    const { exports, fuel, budget } = await instantiate(result.bytes);
    const used = (op: string, n: number): bigint => {
      budget.value = 1_000_000n;
      exports[op]!(n);
      return 1_000_000n - fuel.value;
    };
    const fillEntry = used('fill', 0);
    assert.equal(used('fill', 60_000) - fillEntry, 60_000n);
    assert.equal(exports.byte!(59_999), 7, 'the fill happened');
    assert.equal(used('copy', 50_000) - used('copy', 0), 50_000n);
    assert.equal(exports.byte!(65536 + 49_999), 7, 'the copy happened');
    budget.value = 1_000n;
    assert.throws(() => exports.fill!(65_536), WebAssembly.RuntimeError, 'a fill larger than the fuel left traps');
    assert.ok(fuel.value < 0n);
  });

  it('traps with unreachable when the fuel runs out, at the exact unit', async () => {
    const spin = await instantiate(instrumentModule(await assemble(SPIN)).bytes, { env: { work: () => undefined } });
    const cost = BigInt(SPIN_ENTRY + SPIN_ITERATION * 10);
    spin.budget.value = cost;
    spin.exports.spin!(10);
    assert.equal(spin.fuel.value, 0n);
    spin.budget.value = cost - 1n;
    assert.throws(() => spin.exports.spin!(10), (error: Error) => error instanceof WebAssembly.RuntimeError && /unreachable/.test(error.message));
    assert.ok(spin.fuel.value < 0n);
    spin.depth.value = 0; // the trap left the call open; a VM would not call this instance again
    spin.budget.value = 10_000n;
    assert.throws(() => spin.exports.forever!(), WebAssembly.RuntimeError);
  });

  it('does not charge host functions, and charges guest code they call back into', async () => {
    let spin: Instrumented | undefined;
    let reenter = false;
    const work = (n: number) => {
      let x = 0;
      for (let i = 0; i < n * 100_000; i++) x += i; // host work the guest must not pay for
      if (reenter) spin!.exports.inner!(x);
    };
    spin = await instantiate(instrumentModule(await assemble(SPIN)).bytes, { env: { work } });
    const used = (n: number) => {
      spin!.budget.value = 1_000n;
      spin!.exports.call_host!(n);
      return 1_000n - spin!.fuel.value;
    };
    assert.equal(used(1), 2n); // local.get, call
    assert.equal(used(50), 2n);
    reenter = true;
    assert.equal(used(1), 2n + 4n); // inner: local.get, i32.const, i32.add, drop
  });

  it('stops memory.grow at the limit the host sets, and counts the refusals', async () => {
    const module = await instantiate(instrumentModule(await assemble(BEHAVIOUR)).bytes);
    const { grow, size } = module.exports;
    assert.equal(module.limit.value, 65536, 'no limit until the host sets one');
    module.limit.value = 4;
    assert.equal(grow!(2), 1);
    assert.equal(grow!(2), -1, '5 pages would pass the limit of 4');
    assert.equal(size!(), 3);
    assert.equal(grow!(1), 3);
    assert.equal(grow!(0), 4);
    assert.equal(grow!(1), -1);
    assert.equal(module.refusals.value, 2);
    module.limit.value = 65536;
    assert.equal(grow!(100), -1, "the module's own maximum (8 pages) still holds");
    assert.equal(module.refusals.value, 2, 'a refusal by the engine is not the limit’s');
  });

  it('decodes every module the repo builds, finding the loops and functions wabt finds', async () => {
    const files = execFileSync('find', ['filters', 'examples', 'test/filters', '-name', '*.wasm', '-path', '*/build/*'], { cwd: repoRoot, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    assert.ok(files.length >= 10, `only ${files.length} modules built (npm run build:wasm)`);
    for (const file of files) {
      const bytes = readFileSync(join(repoRoot, file));
      const result = instrumentModule(bytes);
      assert.ok(WebAssembly.validate(result.bytes), `${file}: instrumented module is invalid`);
      assert.equal(result.meteredPoints, await meteringPointsByWabt(bytes), file);
      assert.ok(result.guardedGrows > 0, `${file}: the allocator's memory.grow was not found`);
    }
  });

  it('decodes SIMD, threads, bulk memory, reference types, exceptions, tail calls and multi-value blocks', async () => {
    // 70 types first, so the block type index ($pair) takes a two-byte LEB.
    const fillerTypes = Array.from({ length: 70 }, (_, i) => `(type (func (param ${'i32 '.repeat(i % 7)}) (result ${'f64 '.repeat(Math.floor(i / 7))})))`).join(' ');
    const source = `(module
      ${fillerTypes}
      (type $pair (func (param i32) (result i32 i32)))
      (type $unary (func (param i32) (result i32)))
      (memory (export "memory") 1 1 shared)
      (table $t 1 funcref)
      (elem declare func $double)
      (tag $oops (param i32))
      (data $bytes "\\01\\02\\03\\04")
      (func $double (type $unary) (i32.mul (local.get 0) (i32.const 2)))
      (func (export "simd") (param $n i32) (result i32)
        (local $acc v128)
        (loop $l
          (local.set $acc (i32x4.add (local.get $acc) (v128.const i32x4 1 2 3 4)))
          (local.set $acc (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $acc) (local.get $acc)))
          (v128.store (i32.const 64) (local.get $acc))
          (local.set $acc (v128.load32_lane 1 (i32.const 64) (local.get $acc)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (i32.add (i32x4.extract_lane 1 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc))))
      (func (export "atomics") (param $n i32) (result i32)
        (loop $l
          (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 3)))
          (atomic.fence)
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (drop (memory.atomic.notify (i32.const 0) (i32.const 0)))
        (i32.atomic.load (i32.const 0)))
      (func (export "bulk") (result i32)
        (memory.init $bytes (i32.const 100) (i32.const 0) (i32.const 4))
        (memory.copy (i32.const 104) (i32.const 100) (i32.const 4))
        (memory.fill (i32.const 108) (i32.const 9) (i32.const 2))
        (data.drop $bytes)
        (i32.add (i32.load (i32.const 104)) (i32.load8_u (i32.const 109))))
      (func (export "refs") (result i32)
        (table.set $t (i32.const 0) (ref.func $double))
        (if (ref.is_null (table.get $t (i32.const 0))) (then (return (i32.const -1))))
        (drop (select (result funcref) (ref.null func) (table.get $t (i32.const 0)) (i32.const 0)))
        (call_indirect $t (type $unary) (i32.const 21) (i32.const 0)))
      (func $thrower (param $n i32) (throw $oops (local.get $n)))
      (func (export "exceptions") (param $n i32) (result i32)
        (try (result i32)
          (do (try (do (call $thrower (local.get $n))) (delegate 0)) (i32.const 0))
          (catch $oops (i32.add (i32.const 1)))
          (catch_all (i32.const -1))))
      (func $countdown (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 7)) (else (return_call $countdown (i32.sub (local.get $n) (i32.const 1))))))
      (func (export "tail") (param $n i32) (result i32) (return_call $countdown (local.get $n)))
      (func (export "multi") (param $n i32) (result i32)
        local.get $n
        block (type $pair) (param i32) (result i32 i32)
          loop (param i32) (result i32 i32)
            i32.const 5
          end
        end
        i32.add
        (i32.trunc_sat_f32_s (f32.const 1.5))
        i32.add
        (i32.extend8_s (i32.const 255))
        i32.add)
    )`;
    const bytes = await assemble(source);
    const result = instrumentModule(bytes);
    assert.ok(WebAssembly.validate(result.bytes));
    assert.equal(result.meteredPoints, await meteringPointsByWabt(bytes));
    const plain = (await WebAssembly.instantiate(await WebAssembly.compile(bytes))).exports as unknown as Instrumented['exports'];
    const { exports } = await instantiate(result.bytes);
    for (const [name, args] of [['simd', [5]], ['atomics', [4]], ['bulk', []], ['refs', []], ['exceptions', [41]], ['tail', [1000]], ['multi', [30]]] as const) {
      assert.equal(exports[name]!(...args), plain[name]!(...args), name);
    }
  });

  it('refuses a module that uses its reserved names, or an opcode it does not know', async () => {
    const reserved = await exportingFuel();
    assert.throws(() => instrumentModule(reserved), (error: Error) => error instanceof InstrumentError && /exports __weft_fuel, a name Weft reserves/.test(error.message));
    const unknownOpcode = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x05, 0x01, 0x03, 0x00, 0x27, 0x0b];
    assert.throws(() => instrumentModule(new Uint8Array(unknownOpcode)), /unknown opcode 0x27 at byte 23/);
  });
});

describe('FilterModule and WasmVm with containment', () => {
  const NO_CONFIG = { vmConfig: new Uint8Array(0), pluginConfig: new Uint8Array(0) };
  /** A filter whose request headers callback spins `header count` times. */
  const SPINNER = `(module
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "proxy_abi_version_0_2_1"))
    (func (export "malloc") (param $size i32) (result i32)
      (local $at i32) (local.set $at (global.get $heap))
      (global.set $heap (i32.add (local.get $at) (local.get $size))) (local.get $at))
    (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
      (loop $again
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (i32.gt_s (local.get $n) (i32.const 0))))
      (i32.const 0))
  )`;

  it('resets the budget for every call, and turns an exhausted one into a FilterTrap that says so', async () => {
    const module = await FilterModule.compile(await assemble(SPINNER));
    const vm = await WasmVm.create(module, new TestVmHost(), { ...NO_CONFIG, fuel: 1000 });
    const stream = new TestStream();
    vm.createHttpContext(stream);
    for (let i = 0; i < 10; i++) vm.onRequestHeaders(stream, 100, true); // ~800 units each, 8000 in all
    assert.equal(vm.broken, false);
    assert.throws(
      () => vm.onRequestHeaders(stream, 200, true),
      (error: Error) => error instanceof FilterTrap && error.message === 'trapped in proxy_on_request_headers: ran out of fuel (its budget is 1000 units per call)',
    );
    assert.equal(vm.broken, true);
  });

  it('refuses the call after the calls that spent cpuBudgetFuel with a FilterTrap that says so, until resetCpuSpent()', async () => {
    const module = await FilterModule.compile(await assemble(SPINNER));
    const vm = async (): Promise<{ vm: WasmVm; spin: () => void }> => {
      const created = await WasmVm.create(module, new TestVmHost(), { ...NO_CONFIG, fuel: 1000, cpuBudgetFuel: 3000 });
      const stream = new TestStream();
      created.createHttpContext(stream);
      return { vm: created, spin: () => created.onRequestHeaders(stream, 100, true) }; // ~800 units
    };
    const windowed = await vm();
    for (let i = 0; i < 3; i++) windowed.spin();
    assert.equal(windowed.vm.resetCpuSpent(), false, 'a new second: the first three no longer count, and did not reach the limit');
    for (let i = 0; i < 3; i++) windowed.spin();
    assert.equal(windowed.vm.broken, false);

    const endsOver = await vm();
    for (let i = 0; i < 4; i++) endsOver.spin();
    assert.equal(endsOver.vm.resetCpuSpent(), true, 'the second ended over the limit, before another call came (FilterSlot retires the VM)');

    const over = await vm();
    for (let i = 0; i < 4; i++) over.spin(); // the fourth starts under 3000 and ends over it
    assert.equal(over.vm.broken, false);
    assert.throws(over.spin, (error: Error) => error instanceof FilterTrap && error.message === 'trapped in proxy_on_request_headers: spent its CPU budget for this second');
    assert.equal(over.vm.broken, true);
  });

  it('stops the looper fixture, whose loop never ends, well within 100 ms of a 10M budget', async () => {
    const module = await FilterModule.compile(readFileSync(fixtureModule('looper')));
    const vm = await WasmVm.create(module, new TestVmHost(), { ...NO_CONFIG, fuel: 10_000_000 });
    const stream = new TestStream();
    stream.maps[0] = new HeaderMap([':method', 'GET', ':path', '/', 'x-loop', '1']);
    vm.createHttpContext(stream);
    const started = performance.now();
    assert.throws(() => vm.onRequestHeaders(stream, 3, true), /ran out of fuel/);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 100, `took ${elapsed.toFixed(1)} ms`);
  });

  it('caps memory at maxMemoryMb: the hog fixture traps, naming the cap; a VM under it keeps working', async () => {
    const module = await FilterModule.compile(readFileSync(fixtureModule('hog')));
    const hog = async (amount: string): Promise<WasmVm> => {
      const vm = await WasmVm.create(module, new TestVmHost(), { ...NO_CONFIG, maxMemoryMb: 8 });
      const stream = new TestStream();
      stream.maps[0] = new HeaderMap([':method', 'GET', ':path', '/', 'x-hog', amount]);
      vm.createHttpContext(stream);
      vm.onRequestHeaders(stream, 4, true);
      return vm;
    };
    assert.equal((await hog('4')).broken, false);
    await assert.rejects(hog('forever'), (error: Error) => error instanceof FilterTrap && /unreachable \(after max_memory_mb \(8\) refused to grow its memory/.test(error.message));
  });

  it('refuses to start a VM whose memory is over its cap from the start', async () => {
    const source = SPINNER.replace('(memory (export "memory") 1)', '(memory (export "memory") 200)'); // 12.5 MiB
    const module = await FilterModule.compile(await assemble(source));
    await assert.rejects(WasmVm.create(module, new TestVmHost(), { ...NO_CONFIG, maxMemoryMb: 8 }), (error: Error) => error instanceof VmStartError && error.message === 'its memory starts at 12.5 MiB, over its max_memory_mb of 8');
    await WasmVm.create(module, new TestVmHost(), { ...NO_CONFIG, maxMemoryMb: 16 });
  });

  it('compiles the bytes as they are with contain: false, and names reserved-name modules as not instrumentable', async () => {
    const bytes = await assemble(SPINNER);
    const plain = await FilterModule.compile(bytes, { contain: false });
    assert.equal(plain.contained, false);
    assert.ok(!WebAssembly.Module.exports(plain.module).some((item) => item.name === FUEL_EXPORT));
    const contained = await FilterModule.compile(bytes);
    assert.equal(contained.contained, true);
    assert.equal(contained.size, bytes.length, 'size and sha256 are those of the bytes given');
    await assert.rejects(FilterModule.compile(await exportingFuel()), (error: Error) => error instanceof ModuleError && /^cannot be instrumented for fuel and memory limits: exports __weft_fuel/.test(error.message));
  });
});
