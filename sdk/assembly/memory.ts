// Memory handed between host and guest.
//
// The host returns data by calling our allocator (proxy_on_memory_allocate / malloc) and
// writing the block's address and length into out-slots we pass. Those blocks are raw heap
// blocks, invisible to the garbage collector: every `take*` below copies the bytes into a
// managed object and frees the block at once, so nothing the host allocates can leak.
//
// Weft's extension, the return area: a static block the module declares (weft_return_area, in
// exports.ts). A value that fits is written there by a Weft host instead of into a block from
// our allocator, which saves a call back into the guest per returned value. Every value is
// taken (copied out) right after the call that returned it, before the next host call, so one
// area suffices; a block at its address is not the allocator's and is not freed.

import { countCopied } from "./collector";

/** Bytes of the return area: header values, properties and shared data entries mostly fit. */
export const RETURN_AREA_BYTES: u32 = 1024;
export const RETURN_AREA: usize = memory.data(<i32>RETURN_AREA_BYTES, 16);

/** Raw heap block for the host to fill; freed by take*(). 0 = failure. */
export function allocateForHost(size: usize): usize {
  return heap.alloc(size);
}

// Out-slots the host writes into. Host calls never nest (the only call back into the guest
// during a host call is the allocator, which does not touch them), so one set suffices.
export const OUT_PTR: usize = memory.data(4, 4);
export const OUT_LEN: usize = memory.data(4, 4);
export const OUT_U32: usize = memory.data(4, 4);
export const OUT_U64: usize = memory.data(8, 8);

/** Clears the out-slots before a host call, so a value is never read twice. */
@inline
export function resetOut(): void {
  store<u32>(OUT_PTR, 0);
  store<u32>(OUT_LEN, 0);
  store<u32>(OUT_U32, 0);
  store<u64>(OUT_U64, 0);
}

/** Frees the block the host handed over in (OUT_PTR, OUT_LEN), if any; the collector counts its bytes. */
@inline
export function releaseOut(): void {
  const ptr = <usize>load<u32>(OUT_PTR);
  countCopied(<usize>load<u32>(OUT_LEN));
  if (ptr != 0 && ptr != RETURN_AREA) heap.free(ptr);
}

/** Copies the host's block (OUT_PTR, OUT_LEN) into a managed ArrayBuffer and frees it. */
export function takeBytes(): ArrayBuffer {
  const ptr = <usize>load<u32>(OUT_PTR);
  const len = <i32>load<u32>(OUT_LEN);
  const buf = new ArrayBuffer(len);
  if (len > 0) memory.copy(changetype<usize>(buf), ptr, <usize>len);
  releaseOut();
  return buf;
}

/** Decodes the host's block (OUT_PTR, OUT_LEN) as UTF-8 and frees it. */
export function takeString(): string {
  const ptr = <usize>load<u32>(OUT_PTR);
  const len = <usize>load<u32>(OUT_LEN);
  const s = len > 0 ? decodeUtf8(ptr, len) : "";
  releaseOut();
  return s;
}

/** UTF-8 at (ptr, len) as a string; ASCII (most header values and properties) a unit per byte, without the decoder. */
function decodeUtf8(ptr: usize, len: usize): string {
  const out = changetype<string>(__new(len << 1, idof<string>()));
  const at = changetype<usize>(out);
  for (let i: usize = 0; i < len; i++) {
    const byte = load<u8>(ptr + i);
    if (byte >= 0x80) return String.UTF8.decodeUnsafe(ptr, len); // `out` is garbage the collector takes
    store<u16>(at + (i << 1), <u16>byte);
  }
  return out;
}

/** A name and its UTF-8 bytes; holding the string keeps its address from being reused. */
class EncodedName {
  constructor(readonly name: string, readonly bytes: ArrayBuffer) {}
}

const NAME_SLOTS = 64; // a power of two
/** Recently encoded names by address: a string is immutable, so the same object has the same bytes. */
const encodedNames = new StaticArray<EncodedName | null>(NAME_SLOTS);

/** UTF-8 bytes of a string, as the host expects every string argument (values, messages). */
@inline
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** Where scratchUtf8 writes: grown when a string needs more, never shrunk. */
let scratch = new ArrayBuffer(256);

/**
 * Encodes a string argument the host copies during the call (a header value, a property value,
 * a log message) into one reused buffer, so the call allocates nothing; returns its length in
 * bytes, the bytes being at scratchPtr() until the next scratchUtf8. One such argument per host
 * call: the second would overwrite the first.
 */
export function scratchUtf8(s: string): usize {
  // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
  const length = <usize>s.length;
  if (length * 3 > <usize>scratch.byteLength) scratch = new ArrayBuffer(<i32>max(length * 3, <usize>scratch.byteLength << 1));
  const from = changetype<usize>(s);
  const to = changetype<usize>(scratch);
  // Most values are ASCII (ids, paths, header values): a byte per unit, no encoder.
  for (let i: usize = 0; i < length; i++) {
    const unit = load<u16>(from + (i << 1));
    if (unit >= 0x80) return String.UTF8.encodeUnsafe(from, <i32>length, to);
    store<u8>(to + i, <u8>unit);
  }
  return length;
}

@inline
export function scratchPtr(): usize {
  return changetype<usize>(scratch);
}

/**
 * UTF-8 bytes of a name (a header name, a shared-data key): the literals and configured names a
 * filter passes again and again are encoded once and their bytes reused, so the call allocates
 * nothing and the host, which caches what it decodes by address, reads them once too.
 */
export function utf8Name(s: string): ArrayBuffer {
  const ptr = changetype<usize>(s);
  const slot = <i32>((ptr >> 4) & (NAME_SLOTS - 1)); // objects are 16-byte aligned
  const cached = unchecked(encodedNames[slot]);
  if (cached !== null && changetype<usize>(cached.name) == ptr) return cached.bytes;
  const bytes = String.UTF8.encode(s);
  unchecked((encodedNames[slot] = new EncodedName(s, bytes)));
  return bytes;
}

/** The i64 in the host's block (OUT_PTR, OUT_LEN), or `fallback` unless it is exactly 8 bytes; frees it. */
export function takeI64(fallback: i64): i64 {
  const ptr = <usize>load<u32>(OUT_PTR);
  const value = load<u32>(OUT_LEN) == 8 ? load<i64>(ptr) : fallback;
  releaseOut();
  return value;
}

@inline
export function ptrOf(buf: ArrayBuffer | null): usize {
  return buf === null ? 0 : changetype<usize>(buf);
}

@inline
export function lenOf(buf: ArrayBuffer | null): usize {
  return buf === null ? 0 : <usize>buf.byteLength;
}
