// A guest's linear memory as the host calls see it: bounds-checked reads of (ptr, len), out-pointer
// writes, and "return data" (bytes allocated in the guest with its own allocator, which the guest
// then owns). Every pointer and length arrives as a signed i32 and is taken `>>> 0`.
//
// Views: the memory's ArrayBuffer is replaced (and the old one detached) whenever the guest grows
// its memory, which any guest call can do (the allocator, most obviously). A view of a detached
// buffer reads as empty, so the views below are re-derived when theirs has become empty, checked
// on every access at the cost of a length read (reading `memory.buffer` itself is a call into the
// engine, several times dearer, and a host call makes several accesses); no caller ever holds a
// view across a guest call.

import { WasmResult } from './enums.js';
import type { GuestKeyCache } from './key-cache.js';

const EMPTY = new Uint8Array(0);

export class GuestMemory {
  private memory: WebAssembly.Memory | undefined;
  private allocator: ((size: number) => unknown) | undefined;
  /** The guest's return area (weft_return_area): values that fit are written there, no allocator call. 0 = none. */
  private returnArea = 0;
  private returnAreaBytes = 0;
  private bytes: Buffer = Buffer.alloc(0);
  /** The same memory as a plain Uint8Array, whose slice() and subarray() skip Buffer's constructor. */
  private plain: Uint8Array = EMPTY;
  private data: DataView = new DataView(new ArrayBuffer(0));

  /**
   * Memory is attached after instantiation; until then every non-empty access is out of range
   * (a module whose start function calls the host gets InvalidMemoryAccess, not a host crash).
   */
  attach(memory: WebAssembly.Memory, allocate: (size: number) => unknown): void {
    this.memory = memory;
    this.allocator = allocate;
  }

  /**
   * A block of `size` bytes at `ptr` the guest declared for returned values (Weft's extension,
   * sdk/assembly/memory.ts): it takes each value out before its next host call, so a value that
   * fits is written there instead of into a block from its allocator. Ignored when out of range.
   */
  useReturnArea(ptr: number, size: number): void {
    const at = ptr >>> 0;
    const bytes = size >>> 0;
    if (at === 0 || bytes === 0 || at + bytes > this.refresh().length) return;
    this.returnArea = at;
    this.returnAreaBytes = bytes;
  }

  /** Current size of the memory in bytes. */
  get byteLength(): number {
    return this.refresh().length;
  }

  /** True when [ptr, ptr + len) lies inside the memory. (0, 0) is always in range. */
  inBounds(ptr: number, len: number): boolean {
    return (ptr >>> 0) + (len >>> 0) <= this.refresh().length;
  }

  /** The bytes at (ptr, len), valid only until the next guest call; null when out of range. */
  view(ptr: number, len: number): Buffer | null {
    const start = ptr >>> 0;
    const end = start + (len >>> 0);
    const bytes = this.refresh();
    if (end > bytes.length) return null;
    return bytes.subarray(start, end);
  }

  /** A copy of the bytes at (ptr, len), the host's to keep; null when out of range. */
  copy(ptr: number, len: number): Uint8Array | null {
    const start = ptr >>> 0;
    const end = start + (len >>> 0);
    const bytes = this.refresh();
    if (end > bytes.length) return null;
    if (start === end) return EMPTY;
    // Up to 64 bytes a typed array lives on V8's heap and slice() is cheap (~30 ns). A larger one
    // gets a backing store of its own (~200 ns for the 96 bytes of a rate-limit bucket set), so it
    // comes from Buffer's pool instead (under 4 KiB; a kept value holds its 8 KiB slab, as any
    // pooled Buffer does). Both copy through the plain view: Buffer's own copy() is slower.
    if (end - start <= 64) return this.plain.slice(start, end);
    const out = Buffer.allocUnsafe(end - start);
    out.set(this.plain.subarray(start, end));
    return out;
  }

  /** The UTF-8 text at (ptr, len); null when out of range. */
  string(ptr: number, len: number): string | null {
    const start = ptr >>> 0;
    const end = start + (len >>> 0);
    const bytes = this.refresh();
    if (end > bytes.length) return null;
    return start === end ? '' : bytes.toString('utf8', start, end);
  }

  /** The text at (ptr, len) as `cache` derives it (decoded once per address and bytes); null when out of range. */
  key<T>(ptr: number, len: number, cache: GuestKeyCache<T>): T | null {
    const start = ptr >>> 0;
    const end = start + (len >>> 0);
    const bytes = this.refresh();
    if (end > bytes.length) return null;
    return cache.key(bytes, start, end);
  }

  /** The u32 at ptr, or -1 when out of range. */
  readU32(ptr: number): number {
    const at = ptr >>> 0;
    if (at + 4 > this.refresh().length) return -1;
    return this.data.getUint32(at, true);
  }

  /** Writes a u32 (little-endian); false when out of range. */
  writeU32(ptr: number, value: number): boolean {
    const at = ptr >>> 0;
    if (at + 4 > this.refresh().length) return false;
    this.data.setUint32(at, value >>> 0, true);
    return true;
  }

  /** Writes a u64 (little-endian); false when out of range. */
  writeU64(ptr: number, value: bigint): boolean {
    const at = ptr >>> 0;
    if (at + 8 > this.refresh().length) return false;
    this.data.setBigUint64(at, BigInt.asUintN(64, value), true);
    return true;
  }

  /**
   * Returns bytes to the guest: allocates exactly `value.length` bytes with the guest's allocator,
   * copies, and writes the address and length to the two out-pointers. An empty value writes 0 and 0
   * without allocating. InvalidMemoryAccess when an out-pointer is out of range or allocation fails.
   */
  returnBytes(ptrOut: number, lenOut: number, value: Uint8Array): WasmResult {
    // Out-pointers are checked before allocating, so a bad pointer never leaks guest memory;
    // memory only grows, so they stay in range after the allocation.
    if (!this.inBounds(ptrOut, 4) || !this.inBounds(lenOut, 4)) return WasmResult.InvalidMemoryAccess;
    const size = value.length;
    const address = this.blockFor(size);
    if (address < 0) return WasmResult.InvalidMemoryAccess;
    if (size > 0) this.bytes.set(value, address);
    this.data.setUint32(ptrOut >>> 0, address, true);
    this.data.setUint32(lenOut >>> 0, size, true);
    return WasmResult.Ok;
  }

  /** returnBytes for text, encoded as UTF-8 straight into guest memory. */
  returnString(ptrOut: number, lenOut: number, value: string): WasmResult {
    if (!this.inBounds(ptrOut, 4) || !this.inBounds(lenOut, 4)) return WasmResult.InvalidMemoryAccess;
    if (value.length <= this.returnAreaBytes && this.writeAscii(value, this.returnArea)) {
      this.data.setUint32(ptrOut >>> 0, value.length === 0 ? 0 : this.returnArea, true);
      this.data.setUint32(lenOut >>> 0, value.length, true);
      return WasmResult.Ok;
    }
    const size = value.length === 0 ? 0 : Buffer.byteLength(value, 'utf8');
    const address = this.blockFor(size);
    if (address < 0) return WasmResult.InvalidMemoryAccess;
    if (size > 0) this.bytes.write(value, address, size, 'utf8');
    this.data.setUint32(ptrOut >>> 0, address, true);
    this.data.setUint32(lenOut >>> 0, size, true);
    return WasmResult.Ok;
  }

  /**
   * Writes `text` at `address` when it is all ASCII (most header values and property texts), in
   * one pass with no native call; false at the first other character (what it wrote so far is
   * then overwritten by the general path).
   */
  private writeAscii(text: string, address: number): boolean {
    const plain = this.plain;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) return false;
      plain[address + i] = code;
    }
    return true;
  }

  /** Where a returned value of `size` bytes goes: nowhere (0) when empty, the return area when it fits, else a block from the allocator (-1: failed). */
  private blockFor(size: number): number {
    if (size === 0) return 0;
    return size <= this.returnAreaBytes ? this.returnArea : this.allocate(size);
  }

  /**
   * Calls the guest allocator for `size` (> 0) bytes and re-takes the views (the call may have
   * grown memory). Returns the address, or -1 when the allocator failed (0) or answered a block
   * that does not fit in memory. A trap in the allocator propagates to the callback that called us.
   */
  private allocate(size: number): number {
    if (this.allocator === undefined) return -1;
    const address = Number(this.allocator(size)) >>> 0;
    if (address === 0 || address + size > this.refresh().length) return -1;
    return address;
  }

  private refresh(): Buffer {
    const bytes = this.bytes;
    if (bytes.length !== 0) return bytes;
    // Detached by a growth (or not taken yet, or a memory of 0 pages): take the current buffer.
    const memory = this.memory;
    if (memory === undefined) return bytes;
    const buffer = memory.buffer;
    this.bytes = Buffer.from(buffer);
    this.plain = new Uint8Array(buffer);
    this.data = new DataView(buffer);
    return this.bytes;
  }
}
