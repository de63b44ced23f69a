// Guest strings the host reads over and over (property paths, header names), decoded once.
// SDKs keep such names at a fixed address (a constant) or allocate them afresh at the same few
// addresses, so a small table keyed by (address, length) catches nearly every read; each hit is
// checked byte for byte against the bytes it was decoded from, so a changed string at a reused
// address decodes afresh. What the decoded text becomes (a canonical property key, a header
// name) is the `derive` function's, computed once per entry too.

const SLOTS = 64; // a power of two
/** Longer strings are decoded each time: comparing them costs about what decoding does. */
const MAX_CACHED_LENGTH = 96;

interface Entry<T> {
  ptr: number;
  bytes: Uint8Array;
  value: T;
}

export class GuestKeyCache<T> {
  private readonly entries: Array<Entry<T> | undefined> = new Array(SLOTS).fill(undefined);

  constructor(private readonly derive: (text: string) => T) {}

  /** The derived key of the UTF-8 text at [start, end) of `memory`; the caller checked the bounds. */
  key(memory: Buffer, start: number, end: number): T {
    const length = end - start;
    if (length > MAX_CACHED_LENGTH) return this.derive(memory.toString('utf8', start, end));
    const slot = (start ^ (length * 31)) & (SLOTS - 1);
    const entry = this.entries[slot];
    if (entry !== undefined && entry.ptr === start && entry.bytes.length === length && sameBytes(memory, start, entry.bytes)) {
      return entry.value;
    }
    const value = this.derive(length === 0 ? '' : memory.toString('utf8', start, end));
    this.entries[slot] = { ptr: start, bytes: Uint8Array.prototype.slice.call(memory, start, end), value }; // a copy, not a view
    return value;
  }
}

function sameBytes(memory: Buffer, start: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (memory[start + i] !== bytes[i]) return false;
  return true;
}
