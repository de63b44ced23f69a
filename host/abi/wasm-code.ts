// Decoding function bodies one instruction at a time: the opcode and the size of its immediates,
// for every instruction the toolchains Weft loads emit (MVP, sign extension, saturating
// conversions, bulk memory, reference types, multi-value, SIMD and relaxed SIMD, threads,
// tail calls, exception handling old and new, typed function references, GC). A pass that
// inserts code must find instruction boundaries exactly; an opcode this table does not know is
// an error, never a guess.

import { ByteReader, REF, REF_NULL, WasmFormatError } from './wasm-binary.js';

/** What a rewriting pass needs to know about an instruction. */
export const Instruction = {
  /** Anything that neither opens nor closes a block. */
  Plain: 0,
  /** block, if, try, try_table: opens a block that `end` (or `delegate`) closes. */
  Block: 1,
  /** loop: opens a block whose label branches back to the instruction after it. */
  Loop: 2,
  /** end, or a legacy `delegate` (which ends its try). */
  End: 3,
  /** memory.grow of memory 0. */
  MemoryGrow: 4,
  /** memory.fill of memory 0. */
  MemoryFill: 5,
  /** memory.copy within memory 0. */
  MemoryCopy: 6,
} as const;
export type InstructionKind = (typeof Instruction)[keyof typeof Instruction];

/** Immediates of the one-byte opcodes; undefined = no such opcode. */
const enum Imm {
  None,
  BlockType,
  Index,
  TwoIndices,
  BrTable,
  SelectTypes,
  TryTable,
  MemArg,
  MemoryIndex,
  Leb,
  Bytes4,
  Bytes8,
}

const OPCODES: Array<Imm | undefined> = new Array(256);
const set = (from: number, to: number, imm: Imm) => {
  for (let op = from; op <= to; op++) OPCODES[op] = imm;
};
set(0x00, 0x01, Imm.None); // unreachable nop
set(0x02, 0x04, Imm.BlockType); // block loop if
set(0x05, 0x05, Imm.None); // else
set(0x06, 0x06, Imm.BlockType); // try (legacy exceptions)
set(0x07, 0x09, Imm.Index); // catch throw rethrow
set(0x0a, 0x0b, Imm.None); // throw_ref end
set(0x0c, 0x0d, Imm.Index); // br br_if
set(0x0e, 0x0e, Imm.BrTable);
set(0x0f, 0x0f, Imm.None); // return
set(0x10, 0x10, Imm.Index); // call
set(0x11, 0x11, Imm.TwoIndices); // call_indirect
set(0x12, 0x12, Imm.Index); // return_call
set(0x13, 0x13, Imm.TwoIndices); // return_call_indirect
set(0x14, 0x15, Imm.Index); // call_ref return_call_ref
set(0x18, 0x18, Imm.Index); // delegate
set(0x19, 0x19, Imm.None); // catch_all
set(0x1a, 0x1b, Imm.None); // drop select
set(0x1c, 0x1c, Imm.SelectTypes); // select t*
set(0x1f, 0x1f, Imm.TryTable);
set(0x20, 0x26, Imm.Index); // local.get/set/tee global.get/set table.get/set
set(0x28, 0x3e, Imm.MemArg); // loads and stores
set(0x3f, 0x40, Imm.MemoryIndex); // memory.size memory.grow
set(0x41, 0x42, Imm.Leb); // i32.const i64.const
set(0x43, 0x43, Imm.Bytes4); // f32.const
set(0x44, 0x44, Imm.Bytes8); // f64.const
set(0x45, 0xc4, Imm.None); // numeric operators, sign extension
set(0xd0, 0xd0, Imm.Leb); // ref.null heap type
set(0xd1, 0xd1, Imm.None); // ref.is_null
set(0xd2, 0xd2, Imm.Index); // ref.func
set(0xd3, 0xd4, Imm.None); // ref.eq ref.as_non_null
set(0xd5, 0xd6, Imm.Index); // br_on_null br_on_non_null

const PREFIX_GC = 0xfb;
const PREFIX_MISC = 0xfc;
const PREFIX_SIMD = 0xfd;
const PREFIX_ATOMIC = 0xfe;

/**
 * Reads one instruction (opcode and immediates) and says what kind it is; the reader is left
 * on the next instruction. Throws WasmFormatError on an opcode it does not know.
 */
export function readInstruction(r: ByteReader): InstructionKind {
  const at = r.pos;
  const op = r.byte();
  switch (op) {
    case PREFIX_GC:
      readGc(r, at);
      return Instruction.Plain;
    case PREFIX_MISC:
      return readMisc(r, at);
    case PREFIX_SIMD:
      readSimd(r, at);
      return Instruction.Plain;
    case PREFIX_ATOMIC:
      readAtomic(r, at);
      return Instruction.Plain;
  }
  const imm = OPCODES[op];
  switch (imm) {
    case undefined:
      throw unknown(op, at);
    case Imm.None:
      return op === 0x0b ? Instruction.End : Instruction.Plain;
    case Imm.BlockType:
      skipBlockType(r);
      return op === 0x03 ? Instruction.Loop : Instruction.Block;
    case Imm.Index:
      r.u32();
      return op === 0x18 ? Instruction.End : Instruction.Plain;
    case Imm.TwoIndices:
      r.u32();
      r.u32();
      return Instruction.Plain;
    case Imm.BrTable:
      for (let n = r.u32(); n >= 0; n--) r.u32(); // the labels and the default
      return Instruction.Plain;
    case Imm.SelectTypes:
      for (let n = r.u32(); n > 0; n--) r.skipValueType();
      return Instruction.Plain;
    case Imm.TryTable:
      skipBlockType(r);
      for (let n = r.u32(); n > 0; n--) {
        const kind = r.byte(); // 0 catch, 1 catch_ref: tag and label; 2 catch_all, 3 catch_all_ref: label
        if (kind > 3) throw new WasmFormatError(`unknown catch kind ${kind} at byte ${r.pos - 1}`);
        if (kind < 2) r.u32();
        r.u32();
      }
      return Instruction.Block;
    case Imm.MemArg:
      skipMemArg(r);
      return Instruction.Plain;
    case Imm.MemoryIndex:
      return r.u32() === 0 && op === 0x40 ? Instruction.MemoryGrow : Instruction.Plain;
    case Imm.Leb:
      r.skipLeb();
      return Instruction.Plain;
    case Imm.Bytes4:
      r.skip(4);
      return Instruction.Plain;
    case Imm.Bytes8:
      r.skip(8);
      return Instruction.Plain;
  }
}

/** Empty (0x40), a value type, or a type index (s33). */
function skipBlockType(r: ByteReader): void {
  const first = r.peek();
  if (first === REF || first === REF_NULL) r.skipValueType();
  else r.skipLeb(); // 0x40, a one-byte value type, or a type index of any length
}

/** Alignment (bit 6 set: a memory index follows), then the offset (64-bit for memory64). */
function skipMemArg(r: ByteReader): void {
  const align = r.u32();
  if (align & 0x40) r.u32();
  r.skipLeb();
}

function readMisc(r: ByteReader, at: number): InstructionKind {
  const sub = r.u32();
  if (sub <= 7 || (sub >= 19 && sub <= 22)) return Instruction.Plain; // saturating truncations; wide arithmetic
  switch (sub) {
    case 10: { // memory.copy memory memory
      const destination = r.u32();
      const source = r.u32();
      return destination === 0 && source === 0 ? Instruction.MemoryCopy : Instruction.Plain;
    }
    case 11: // memory.fill memory
      return r.u32() === 0 ? Instruction.MemoryFill : Instruction.Plain;
    case 8: // memory.init data memory
    case 12: // table.init elem table
    case 14: // table.copy table table
      r.u32();
      r.u32();
      return Instruction.Plain;
    case 9: // data.drop
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return Instruction.Plain;
  }
  throw unknown(PREFIX_MISC, at, sub);
}

function readSimd(r: ByteReader, at: number): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) return skipMemArg(r); // loads, stores, load_zero
  if (sub === 12 || sub === 13) return r.skip(16); // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) return r.skip(1); // extract/replace lane
  if (sub >= 84 && sub <= 91) {
    // load/store lane: memarg and lane
    skipMemArg(r);
    r.skip(1);
    return;
  }
  if (sub <= 0x113) return; // every other SIMD and relaxed SIMD operator has no immediates
  throw unknown(PREFIX_SIMD, at, sub);
}

function readAtomic(r: ByteReader, at: number): void {
  const sub = r.u32();
  if (sub === 3) return r.skip(1); // atomic.fence 0x00
  if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) return skipMemArg(r);
  throw unknown(PREFIX_ATOMIC, at, sub);
}

function readGc(r: ByteReader, at: number): void {
  const sub = r.u32();
  switch (sub) {
    case 0: // struct.new
    case 1: // struct.new_default
    case 6: // array.new
    case 7: // array.new_default
    case 11: // array.get
    case 12: // array.get_s
    case 13: // array.get_u
    case 14: // array.set
    case 16: // array.fill
      r.u32();
      return;
    case 2: // struct.get type field
    case 3:
    case 4:
    case 5: // struct.set
    case 8: // array.new_fixed type count
    case 9: // array.new_data type data
    case 10: // array.new_elem type elem
    case 17: // array.copy type type
    case 18: // array.init_data
    case 19: // array.init_elem
      r.u32();
      r.u32();
      return;
    case 15: // array.len
    case 26: // any.convert_extern
    case 27: // extern.convert_any
    case 28: // ref.i31
    case 29: // i31.get_s
    case 30: // i31.get_u
      return;
    case 20: // ref.test, ref.test null, ref.cast, ref.cast null: heap type
    case 21:
    case 22:
    case 23:
      r.skipLeb();
      return;
    case 24: // br_on_cast, br_on_cast_fail: flags, label, two heap types
    case 25:
      r.skip(1);
      r.u32();
      r.skipLeb();
      r.skipLeb();
      return;
  }
  throw unknown(PREFIX_GC, at, sub);
}

function unknown(op: number, at: number, sub?: number): WasmFormatError {
  const name = sub === undefined ? `0x${hex(op)}` : `0x${hex(op)} ${sub}`;
  return new WasmFormatError(`unknown opcode ${name} at byte ${at}`);
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}
