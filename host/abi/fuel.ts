// Containment instrumentation: the load-time pass that lets the host stop a filter that runs too
// long or grows its memory too far, without help from the engine.
//
// Fuel. The pass adds a mutable i64 global, exported as `__weft_fuel`. At every function entry
// and every loop header (the target of a loop's back-edge) it subtracts a cost and traps with
// `unreachable` once the counter is below zero. The cost charged at a point is the number of
// instructions up to the next point: the function's body outside its loops, or a loop's body
// outside its inner loops (both arms of an `if` counted). One unit is therefore at most one wasm
// instruction executed, and a tight loop and a long straight-line loop body burn fuel at a
// similar rate per unit of time. memory.fill and memory.copy are one instruction whatever their
// length, so each becomes a call to a function the pass adds, which charges one unit per byte
// (more than a byte costs: V8 fills and copies several bytes per ns) and then does the operation.
//
// The budget is per call from the host. Every exported function is exported through a wrapper
// the pass adds, which, when the host calls it (not when a host function re-enters the guest, as
// the allocator is: a nested call shares its caller's budget), first traps if the calls so far
// have spent the CPU limit, then sets the counter to the budget, and after the call adds what it
// spent to a running total. The host sets the budget and the limit once per VM and zeroes the
// total once a second (the filter's CPU budget), so it makes no call of its own per guest call;
// a call from JS to set the counter cost ~9 ns per guest call, four guest calls per filter and
// request. Host functions the guest calls are not charged (their code is not wasm).
//
// Memory. The pass adds a mutable i32 global, exported as `__weft_memory_limit_pages`, and
// replaces every `memory.grow` of memory 0 with a call to a function it adds, which returns -1
// (growth failed, as the engine answers at the memory's maximum) when the memory would end up
// larger than the limit, and counts the refusal in `__weft_memory_refusals`. The host sets the
// limit per VM, so one compiled module serves filters with different caps. The guest's allocator
// sees the failure and traps (the AssemblyScript, Rust, Go and C++ runtimes abort on
// out-of-memory).
//
// Why a pass of our own rather than binaryen: the pass only inserts code at function starts and
// after `loop` and swaps one instruction, copying every other byte as it is, so all it needs is
// to find instruction boundaries (wasm-code.ts, with the immediates of every opcode the
// toolchains emit; test/abi-fuel.test.ts checks it against wabt's decoder). binaryen would
// re-encode the whole module, takes ~300 ms and ~13 MB of JS to load, has no generic walker in
// its JS API (finding every loop means one case per expression kind), and is only a dependency
// of a devDependency (assemblyscript), so absent from a production install.

import {
  ByteReader,
  concatBytes,
  encodeName,
  encodeSection,
  encodeSigned,
  encodeU32,
  moduleHeader,
  readSections,
  SectionId,
  sectionOrder,
  WasmFormatError,
  type Section,
} from './wasm-binary.js';
import { Instruction, readInstruction } from './wasm-code.js';

/** The exported fuel counter (i64): units left in the current call; below zero = exhausted. */
export const FUEL_EXPORT = '__weft_fuel';
/** The exported budget (i64): what the counter is set to when the host calls into the guest. */
export const BUDGET_EXPORT = '__weft_fuel_budget';
/** The exported total (i64) of what the host's calls spent; the host zeroes it every second. */
export const SPENT_EXPORT = '__weft_fuel_spent';
/** The exported limit (i64) of the total: a call from the host that finds it reached traps at once. */
export const SPENT_LIMIT_EXPORT = '__weft_fuel_spent_limit';
/** The exported depth (i32) of calls in progress: 0 between calls from the host. */
export const CALL_DEPTH_EXPORT = '__weft_call_depth';
/** The exported memory limit (i32), in 64 KiB pages, that memory.grow of memory 0 may not pass. */
export const MEMORY_LIMIT_EXPORT = '__weft_memory_limit_pages';
/** The exported count (i32) of memory.grow calls the limit refused, so a trap after one can say so. */
export const MEMORY_REFUSALS_EXPORT = '__weft_memory_refusals';
const RESERVED_EXPORTS = [FUEL_EXPORT, BUDGET_EXPORT, SPENT_EXPORT, SPENT_LIMIT_EXPORT, CALL_DEPTH_EXPORT, MEMORY_LIMIT_EXPORT, MEMORY_REFUSALS_EXPORT];

/**
 * Fuel per guest call when the manifest gives none: ~100 ms of a tight loop in V8's baseline
 * tier, ~50 ms once optimized, on the machine of notes/README-containment.md (bench/fuel-micro.ts:
 * 3.8 and 8.4 units per ns). A runaway first call stays in the tier it started in (wasm has no
 * on-stack replacement), so the baseline rate is the one that bounds it. The built-in filters'
 * largest calls need under 0.4 M units.
 */
export const DEFAULT_FUEL = 400_000_000;
/**
 * Fuel per millisecond of CPU, to state a CPU budget in milliseconds. Counted at the fastest
 * rate a filter's whole cost (its wasm and the host calls it makes) was seen to burn fuel, so no
 * filter is retired before it has really spent its budget: telemetry ~15 units per ns, router,
 * auth, ratelimit and breaker 8-9, lb 4 (bench/RESULTS.md, issue 21's fuel per request), a tight
 * loop 8.4 once optimized (bench/fuel-micro.ts). Code in V8's baseline tier (3.8 units per ns)
 * gets up to four times its budget before tiering up; one long call is bounded by `fuel`.
 */
export const FUEL_PER_CPU_MS = 16_000_000;
/** CPU per second a filter may spend in wasm when the manifest gives no cpu_budget_ms_per_s. */
export const DEFAULT_CPU_BUDGET_MS_PER_S = 500;
/** Memory cap per VM when the manifest gives none. */
export const DEFAULT_MAX_MEMORY_MB = 64;
export const WASM_PAGE_BYTES = 65536;
/** A 32-bit memory's largest size in pages (4 GiB): the limit until the host sets one. */
const MAX_PAGES = 65536;
/** The largest i64: no CPU limit until the host sets one. */
const NO_SPENT_LIMIT = 0x7fff_ffff_ffff_ffffn;

/** Why a guest call trapped when it used up its fuel. */
export class OutOfFuel extends Error {
  constructor(readonly budget: number) {
    super(`ran out of fuel (its budget is ${budget} units per call)`);
    this.name = 'OutOfFuel';
  }
}

/** Why a call from the host trapped at once: the calls before it spent the CPU budget of this second. */
export class CpuBudgetSpent extends Error {
  constructor() {
    super('spent its CPU budget for this second');
    this.name = 'CpuBudgetSpent';
  }
}

/** A trap that followed memory.grow refused by the cap: the engine's message, and the cap. */
export class MemoryCapped extends Error {
  constructor(trap: Error, maxMemoryMb: number, refusals: number) {
    super(`${trap.message} (after max_memory_mb (${maxMemoryMb}) refused to grow its memory ${refusals} times)`, { cause: trap });
    this.name = 'MemoryCapped';
  }
}

/** A module the pass cannot instrument; the message says why. */
export class InstrumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstrumentError';
  }
}

export interface InstrumentResult {
  readonly bytes: Uint8Array;
  /** Function entries and loop headers that charge fuel. */
  readonly meteredPoints: number;
  /** memory.grow instructions now checked against the limit. */
  readonly guardedGrows: number;
  /** memory.fill and memory.copy instructions now charged by the byte. */
  readonly meteredBulkOps: number;
}

/**
 * Returns `bytes` instrumented for fuel and the memory limit. The counter starts at
 * `initialFuel`, which bounds a start function (it runs before the host can set the budget).
 * Throws InstrumentError when the module cannot be read or already uses the reserved names.
 */
export function instrumentModule(bytes: Uint8Array, initialFuel: number = DEFAULT_FUEL): InstrumentResult {
  try {
    return new Instrumenter(bytes, initialFuel).run();
  } catch (error) {
    if (error instanceof WasmFormatError) throw new InstrumentError(error.message);
    throw error;
  }
}

/** Custom sections that point at code offsets, which the pass moves; they are dropped. */
function pointsIntoCode(name: string): boolean {
  return name.startsWith('.debug_') || name.startsWith('reloc.') || name.startsWith('metadata.code.') || name === 'sourceMappingURL' || name === 'linking';
}

const I32 = 0x7f;
const I64 = 0x7e;
const FUNC_TYPE = 0x60;
const EXPORT_GLOBAL = 0x03;
const EXPORT_FUNCTION = 0x00;

class Instrumenter {
  private readonly sections: Section[];
  private importedFunctions = 0;
  private importedGlobals = 0;
  private definedGlobals = 0;
  private memory64 = false;
  private hasMemory = false;
  private meteredPoints = 0;
  private guardedGrows = 0;
  private meteredBulkOps = 0;
  /** Parameter count of each type, undefined for a type that is not a function's. */
  private paramCounts: Array<number | undefined> = [];
  /** The type index of each defined function. */
  private functionTypes: number[] = [];
  private exports: Array<{ name: string; kind: number; index: number }> = [];

  constructor(
    private readonly bytes: Uint8Array,
    private readonly initialFuel: number,
  ) {
    this.sections = readSections(bytes);
  }

  run(): InstrumentResult {
    for (const section of this.sections) this.survey(section);
    const globals = this.addedGlobals();
    // Added functions, in index order: the metered memory.fill and memory.copy (when the module
    // has a 32-bit memory), the guarded memory.grow (when it grows its memory), the wrappers of
    // the exported functions.
    const bulk = this.hasMemory && !this.memory64;
    const fillFunction = this.importedFunctions + this.functionTypes.length;
    const copyFunction = fillFunction + 1;
    const growFunction = fillFunction + (bulk ? 2 : 0);
    const bulkType = this.paramCounts.length;
    const growType = bulkType + (bulk ? 1 : 0);

    const code = this.find(SectionId.Code);
    const calls = { grow: [0x10, ...encodeU32(growFunction)], fill: [0x10, ...encodeU32(fillFunction)], copy: [0x10, ...encodeU32(copyFunction)] };
    const wrapped = this.exportedFunctions();
    const rewrittenCode = this.rewriteCode(code, globals, calls, bulk, wrapped);
    const addGrow = rewrittenCode.addGrow;
    if (addGrow && this.memory64) throw new InstrumentError('64-bit memories are not supported');
    const firstWrapper = growFunction + (addGrow ? 1 : 0);
    const wrapperOf = new Map(wrapped.map((original, i) => [original, firstWrapper + i]));

    const replaced = new Map<number, Uint8Array>();
    const bulkTypeEntry = bulk ? [FUNC_TYPE, 3, I32, I32, I32, 0] : [];
    const growTypeEntry = addGrow ? [FUNC_TYPE, 1, I32, 1, I32] : [];
    const addedFunctions = (bulk ? 2 : 0) + (addGrow ? 1 : 0) + wrapped.length;
    const functionEntries = [
      ...(bulk ? [...encodeU32(bulkType), ...encodeU32(bulkType)] : []),
      ...(addGrow ? encodeU32(growType) : []),
      ...wrapped.flatMap((original) => encodeU32(this.typeOf(original))),
    ];
    replaced.set(SectionId.Type, this.appendToVector(SectionId.Type, (bulk ? 1 : 0) + (addGrow ? 1 : 0), [...bulkTypeEntry, ...growTypeEntry]));
    replaced.set(SectionId.Function, this.appendToVector(SectionId.Function, addedFunctions, functionEntries));
    replaced.set(SectionId.Code, rewrittenCode.payload);
    const i64 = (value: bigint | number) => [I64, 1, 0x42, ...encodeSigned(value), 0x0b];
    const i32 = (value: number) => [I32, 1, 0x41, ...encodeSigned(value), 0x0b];
    replaced.set(
      SectionId.Global,
      this.appendToVector(SectionId.Global, 7, [
        ...i64(this.initialFuel), // fuel
        ...i32(MAX_PAGES), // memory limit
        ...i32(0), // refusals
        ...i64(this.initialFuel), // budget
        ...i64(0), // spent
        ...i64(NO_SPENT_LIMIT), // spent limit
        ...i32(0), // call depth
      ]),
    );
    const exportGlobal = (name: string, index: number) => [...encodeName(name), EXPORT_GLOBAL, ...encodeU32(index)];
    replaced.set(
      SectionId.Export,
      concatBytes([
        encodeU32(this.exports.length + 7),
        ...this.exports.map(({ name, kind, index }) => [...encodeName(name), kind, ...encodeU32(kind === EXPORT_FUNCTION ? (wrapperOf.get(index) ?? index) : index)]),
        exportGlobal(FUEL_EXPORT, globals.fuel),
        exportGlobal(MEMORY_LIMIT_EXPORT, globals.limit),
        exportGlobal(MEMORY_REFUSALS_EXPORT, globals.refusals),
        exportGlobal(BUDGET_EXPORT, globals.budget),
        exportGlobal(SPENT_EXPORT, globals.spent),
        exportGlobal(SPENT_LIMIT_EXPORT, globals.spentLimit),
        exportGlobal(CALL_DEPTH_EXPORT, globals.depth),
      ]),
    );
    return { bytes: this.assemble(replaced), meteredPoints: this.meteredPoints, guardedGrows: this.guardedGrows, meteredBulkOps: this.meteredBulkOps };
  }

  /** The indices of the globals the pass adds, after the module's own. */
  private addedGlobals(): AddedGlobals {
    const first = this.importedGlobals + this.definedGlobals;
    return { fuel: first, limit: first + 1, refusals: first + 2, budget: first + 3, spent: first + 4, spentLimit: first + 5, depth: first + 6 };
  }

  /** The module's own functions it exports, each once, in the order of their first export (imports re-exported run no wasm). */
  private exportedFunctions(): number[] {
    const functions = this.exports.filter(({ kind, index }) => kind === EXPORT_FUNCTION && index >= this.importedFunctions).map(({ index }) => index);
    return [...new Set(functions)];
  }

  /** The type index of defined function `index`. */
  private typeOf(index: number): number {
    const type = this.functionTypes[index - this.importedFunctions];
    if (type === undefined) throw new WasmFormatError(`function ${index} has no type`);
    return type;
  }

  /** Counts what the pass's new indices depend on, and refuses modules that use the reserved names. */
  private survey(section: Section): void {
    const r = new ByteReader(this.bytes, section.start, section.end);
    switch (section.id) {
      case SectionId.Type:
        this.paramCounts = readParamCounts(r);
        break;
      case SectionId.Import:
        for (let n = r.u32(); n > 0; n--) {
          r.name();
          r.name();
          const kind = r.byte();
          if (kind === 0x00) {
            r.u32();
            this.importedFunctions++;
          } else if (kind === 0x01) {
            r.skipValueType();
            r.skipLimits();
          } else if (kind === 0x02) {
            this.hasMemory = true;
            if (r.skipLimits() & 0x04) this.memory64 = true;
          } else if (kind === 0x03) {
            r.skipValueType();
            r.byte();
            this.importedGlobals++;
          } else if (kind === 0x04) {
            r.byte();
            r.u32();
          } else {
            throw new WasmFormatError(`unknown import kind ${kind}`);
          }
        }
        break;
      case SectionId.Function:
        for (let n = r.u32(); n > 0; n--) this.functionTypes.push(r.u32());
        break;
      case SectionId.Memory:
        if (r.u32() > 0) {
          this.hasMemory = true;
          if (r.skipLimits() & 0x04) this.memory64 = true;
        }
        break;
      case SectionId.Global:
        this.definedGlobals = r.u32();
        break;
      case SectionId.Export:
        for (let n = r.u32(); n > 0; n--) {
          const name = r.name();
          if (RESERVED_EXPORTS.includes(name)) throw new InstrumentError(`exports ${name}, a name Weft reserves`);
          this.exports.push({ name, kind: r.byte(), index: r.u32() });
        }
        break;
    }
  }

  private find(id: number): Section | undefined {
    return this.sections.find((section) => section.id === id);
  }

  /** The payload of vector section `id` (or a new one) with `added` entries (`entries`, their bytes) appended. */
  private appendToVector(id: number, added: number, entries: number[]): Uint8Array {
    const section = this.find(id);
    if (section === undefined) return concatBytes([encodeU32(added), entries]);
    const r = new ByteReader(this.bytes, section.start, section.end);
    const count = r.u32();
    return concatBytes([encodeU32(count + added), this.bytes.subarray(r.pos, section.end), entries]);
  }

  /**
   * Every function body with its fuel checks (and calls in place of memory.grow, fill and copy),
   * then the added functions: metered fill and copy (`bulk`), the guarded grow when needed, a
   * wrapper of each function in `wrapped`.
   */
  private rewriteCode(section: Section | undefined, globals: AddedGlobals, calls: BulkCalls, bulk: boolean, wrapped: number[]): { payload: Uint8Array; addGrow: boolean } {
    const chunks: ArrayLike<number>[] = [];
    const fuel = encodeU32(globals.fuel);
    let count = 0;
    let addGrow = false;
    if (section !== undefined) {
      const r = new ByteReader(this.bytes, section.start, section.end);
      count = r.u32();
      for (let i = 0; i < count; i++) {
        const size = r.u32();
        const start = r.pos;
        r.skip(size);
        const body = this.rewriteBody(start, start + size, fuel, bulk ? calls : { ...calls, fill: undefined, copy: undefined });
        addGrow ||= body.grows > 0;
        chunks.push(encodeU32(body.bytes.length), body.bytes);
      }
      if (!r.atEnd) throw new WasmFormatError('code section has bytes after its last body');
    }
    if (bulk) {
      const fill = meteredBulkBody(fuel, [0xfc, 0x0b, 0x00]);
      const copy = meteredBulkBody(fuel, [0xfc, 0x0a, 0x00, 0x00]);
      chunks.push(encodeU32(fill.length), fill, encodeU32(copy.length), copy);
    }
    if (addGrow) {
      const grow = growBody(encodeU32(globals.limit), encodeU32(globals.refusals));
      chunks.push(encodeU32(grow.length), grow);
    }
    for (const original of wrapped) {
      const params = this.paramCounts[this.typeOf(original)];
      if (params === undefined) throw new WasmFormatError(`function ${original} has a type that is not a function type`);
      const wrapper = wrapperBody(globals, original, params);
      chunks.push(encodeU32(wrapper.length), wrapper);
    }
    const added = (bulk ? 2 : 0) + (addGrow ? 1 : 0) + wrapped.length;
    return { payload: concatBytes([encodeU32(count + added), ...chunks]), addGrow };
  }

  private rewriteBody(start: number, end: number, fuel: number[], calls: BulkCalls): { bytes: Uint8Array; grows: number } {
    const r = new ByteReader(this.bytes, start, end);
    for (let groups = r.u32(); groups > 0; groups--) {
      r.u32();
      r.skipValueType();
    }
    // Metering points (function entry, then each loop header) in the order they occur; each
    // collects the cost of the instructions it pays for. `open` holds the points of the loops
    // around the current instruction (the function's first), `blocks` whether each open block is a loop.
    const points: Array<{ at: number; cost: number }> = [{ at: r.pos, cost: 0 }];
    // Instructions replaced by a call to an added function: where each starts, ends, and the call.
    const replaced: Array<{ at: number; end: number; call: number[] }> = [];
    let grows = 0;
    const open: number[] = [0];
    const blocks: boolean[] = [false];
    while (blocks.length > 0) {
      const at = r.pos;
      const kind = readInstruction(r);
      const payer = points[open[open.length - 1]!]!;
      switch (kind) {
        case Instruction.End:
          if (blocks.pop()) open.pop();
          break;
        case Instruction.Loop:
          payer.cost++;
          blocks.push(true);
          open.push(points.length);
          points.push({ at: r.pos, cost: 0 });
          break;
        case Instruction.Block:
          payer.cost++;
          blocks.push(false);
          break;
        case Instruction.MemoryGrow:
          payer.cost++;
          grows++;
          replaced.push({ at, end: r.pos, call: calls.grow });
          break;
        case Instruction.MemoryFill:
        case Instruction.MemoryCopy: {
          payer.cost++;
          const call = kind === Instruction.MemoryFill ? calls.fill : calls.copy;
          if (call !== undefined) replaced.push({ at, end: r.pos, call });
          break;
        }
        default:
          payer.cost++;
      }
    }
    if (!r.atEnd) throw new WasmFormatError(`function body at byte ${start} has bytes after its end`);
    this.meteredPoints += points.length;
    this.guardedGrows += grows;
    this.meteredBulkOps += replaced.length - grows;

    const chunks: ArrayLike<number>[] = [this.bytes.subarray(start, points[0]!.at)];
    let copied = points[0]!.at;
    let p = 0;
    let g = 0;
    // Insertions and replacements merged by position; an insertion comes first where both fall on one byte.
    while (p < points.length || g < replaced.length) {
      if (p < points.length && (g >= replaced.length || points[p]!.at <= replaced[g]!.at)) {
        const point = points[p++]!;
        chunks.push(this.bytes.subarray(copied, point.at), charge(fuel, Math.max(point.cost, 1)));
        copied = point.at;
      } else {
        const replacement = replaced[g++]!;
        chunks.push(this.bytes.subarray(copied, replacement.at), replacement.call);
        copied = replacement.end;
      }
    }
    chunks.push(this.bytes.subarray(copied, end));
    return { bytes: concatBytes(chunks), grows };
  }

  /** The module with `replaced` section payloads, new sections placed in order, code-offset custom sections dropped. */
  private assemble(replaced: Map<number, Uint8Array>): Uint8Array {
    const out: ArrayLike<number>[] = [moduleHeader()];
    const pending = new Map(replaced);
    const flushBefore = (order: number) => {
      for (const [id, payload] of [...pending].sort(([a], [b]) => sectionOrder(a) - sectionOrder(b))) {
        if (sectionOrder(id) >= order) break;
        out.push(encodeSection(id, payload));
        pending.delete(id);
      }
    };
    for (const section of this.sections) {
      if (section.id === SectionId.Custom) {
        if (!pointsIntoCode(section.name!)) out.push(this.rawSection(section));
        continue;
      }
      flushBefore(sectionOrder(section.id));
      const payload = pending.get(section.id);
      if (payload === undefined) {
        out.push(this.rawSection(section));
      } else {
        out.push(encodeSection(section.id, payload));
        pending.delete(section.id);
      }
    }
    flushBefore(Infinity);
    return concatBytes(out);
  }

  private rawSection(section: Section): Uint8Array {
    return encodeSection(section.id, this.bytes.subarray(section.start, section.end));
  }
}

/** fuel -= cost; if (fuel < 0) unreachable. */
function charge(fuel: number[], cost: number): number[] {
  return [
    ...[0x23, ...fuel, 0x42, ...encodeSigned(cost), 0x7d, 0x24, ...fuel], // global.get, i64.const, i64.sub, global.set
    ...[0x23, ...fuel, 0x42, 0x00, 0x53], // global.get, i64.const 0, i64.lt_s
    ...[0x04, 0x40, 0x00, 0x0b], // if unreachable end
  ];
}

/** The globals the pass adds, by index. */
interface AddedGlobals {
  fuel: number;
  limit: number;
  refusals: number;
  budget: number;
  spent: number;
  spentLimit: number;
  depth: number;
}

/**
 * The wrapper an export calls instead of function `original` (same type, `params` parameters):
 *   if (depth == 0) { if (spent >= spentLimit) unreachable; fuel = budget }
 *   depth += 1; original(params...); depth -= 1
 *   if (depth == 0) spent += budget - fuel
 * The results of `original` stay on the stack beneath. A call that traps leaves depth above 0,
 * and a VM that trapped is not called again (WasmVm resets it after a command's proc_exit(0)).
 */
function wrapperBody(globals: AddedGlobals, original: number, params: number): number[] {
  const [fuel, budget, spent, spentLimit, depth] = [globals.fuel, globals.budget, globals.spent, globals.spentLimit, globals.depth].map(encodeU32) as [number[], number[], number[], number[], number[]];
  const getDepth = [0x23, ...depth];
  return [
    0x00, // no locals
    ...getDepth, 0x45, 0x04, 0x40, // if (i32.eqz depth)
    ...[0x23, ...spent, 0x23, ...spentLimit, 0x59, 0x04, 0x40, 0x00, 0x0b], // if (i64.ge_s spent limit) unreachable
    ...[0x23, ...budget, 0x24, ...fuel], // fuel = budget
    0x0b,
    ...getDepth, 0x41, 0x01, 0x6a, 0x24, ...depth, // depth += 1
    ...Array.from({ length: params }, (_, i) => [0x20, ...encodeU32(i)]).flat(), // local.get each parameter
    0x10, ...encodeU32(original),
    ...getDepth, 0x41, 0x01, 0x6b, 0x24, ...depth, // depth -= 1
    ...getDepth, 0x45, 0x04, 0x40, // if (i32.eqz depth)
    ...[0x23, ...spent, 0x23, ...budget, 0x23, ...fuel, 0x7d, 0x7c, 0x24, ...spent], // spent += budget - fuel
    0x0b,
    0x0b,
  ];
}

/** The calls that replace memory.grow, memory.fill and memory.copy. */
interface BulkCalls {
  grow: number[];
  /** Absent for a 64-bit memory, whose fill and copy stay as they are (unmetered). */
  fill: number[] | undefined;
  copy: number[] | undefined;
}

/**
 * (func (param $d i32) (param $x i32) (param $n i32): fuel -= n, trap below zero, then the
 * operation on the same operands (`op`: memory.fill or memory.copy of memory 0).
 */
function meteredBulkBody(fuel: number[], op: number[]): number[] {
  return [
    0x00, // no locals
    ...[0x23, ...fuel, 0x20, 0x02, 0xad, 0x7d, 0x24, ...fuel], // fuel -= i64.extend_i32_u(n)
    ...[0x23, ...fuel, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b], // if (fuel < 0) unreachable
    ...[0x20, 0x00, 0x20, 0x01, 0x20, 0x02, ...op], // local.get d, x, n; the operation
    0x0b,
  ];
}

/**
 * (func (param $delta i32) (result i32)
 *   (if (result i32) (i64.gt_u (i64.add (i64.extend_i32_u $delta) (i64.extend_i32_u (memory.size)))
 *                             (i64.extend_i32_u (global.get $limit)))
 *     (then (global.set $refusals (i32.add (global.get $refusals) (i32.const 1))) (i32.const -1))
 *     (else (memory.grow (local.get $delta)))))
 */
function growBody(limit: number[], refusals: number[]): number[] {
  return [
    0x00, // no locals
    ...[0x20, 0x00, 0xad], // local.get 0, i64.extend_i32_u
    ...[0x3f, 0x00, 0xad], // memory.size, i64.extend_i32_u
    0x7c, // i64.add
    ...[0x23, ...limit, 0xad], // global.get limit, i64.extend_i32_u
    0x56, // i64.gt_u
    ...[0x04, I32], // if (result i32)
    ...[0x23, ...refusals, 0x41, 0x01, 0x6a, 0x24, ...refusals], // refusals += 1
    ...[0x41, 0x7f], // i32.const -1
    ...[0x05, 0x20, 0x00, 0x40, 0x00], // else local.get 0, memory.grow
    0x0b, // end if
    0x0b, // end function
  ];
}

/** The parameter count of every type in a type section (undefined for struct and array types), each member of a recursion group (GC) counted. */
function readParamCounts(r: ByteReader): Array<number | undefined> {
  const counts: Array<number | undefined> = [];
  for (let n = r.u32(); n > 0; n--) {
    if (r.peek() === 0x4e) {
      r.byte();
      for (let members = r.u32(); members > 0; members--) counts.push(skipSubType(r));
    } else {
      counts.push(skipSubType(r));
    }
  }
  return counts;
}

/** Skips a type; answers its parameter count when it is a function type. */
function skipSubType(r: ByteReader): number | undefined {
  const first = r.peek();
  if (first === 0x50 || first === 0x4f) {
    r.byte();
    for (let n = r.u32(); n > 0; n--) r.u32();
  }
  const form = r.byte();
  if (form === FUNC_TYPE) {
    const params = r.u32();
    for (let n = params; n > 0; n--) r.skipValueType();
    for (let n = r.u32(); n > 0; n--) r.skipValueType();
    return params;
  } else if (form === 0x5f) {
    for (let n = r.u32(); n > 0; n--) skipFieldType(r);
  } else if (form === 0x5e) {
    skipFieldType(r);
  } else {
    throw new WasmFormatError(`unknown type form 0x${form.toString(16)}`);
  }
  return undefined;
}

function skipFieldType(r: ByteReader): void {
  r.skipValueType(); // packed i8 / i16 are one byte too
  r.byte(); // mutability
}
