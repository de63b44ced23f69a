// Shared data for worker threads: one table in a SharedArrayBuffer that the main thread makes and
// every worker maps, read and written synchronously under a lock, as proxy-wasm-cpp-host keeps its
// process-wide SharedData behind a mutex. A filter's proxy_get/set_shared_data then costs a lock
// and a copy instead of a round trip to the main thread (~15 µs each, all workers queued on it).
//
// Layout (byte offsets; every i32 little-endian, as Int32Array on x86 and ARM):
//   0                 lock word: 0 free, 1 held, 2 held with waiters (a futex mutex, Drepper's)
//   4                 bump: the arena's first never-used byte
//   8 ..              free-list heads, one per block size class (32 << class bytes)
//   HEADER ..         BUCKETS chain heads (offset of the first entry, 0 = none)
//   ARENA ..          entries, each in a block of its size class:
//     +0 next  +4 class  +8 cas  +12 kind (0 data, 1 a namespace's byte count)  +14 key length
//     +16 value length  +20 key bytes (u16 vm_id length, vm_id, key, all UTF-8), then the value
// A namespace's bytes (UTF-8 key + value, summed) are counted exactly as InMemorySharedData
// counts them, in an entry of kind 1 whose key is the vm_id part alone.

import { WasmResult } from '../abi/enums.js';
import type { SharedData } from '../abi/host-api.js';
import { nextCas } from '../chain/shared-state.js';
import type { Logger } from '../telemetry/logger.js';

const CLASSES = 24; // 32 B .. 256 MiB blocks
const HEADER = 8 + 4 * CLASSES;
const BUCKETS = 1 << 14;
const ARENA = HEADER + 4 * BUCKETS;
const ENTRY_HEAD = 20;
const DATA = 0;
const NAMESPACE = 1;
/** Tries before a contended lock sleeps: critical sections are a few hundred ns. */
const SPINS = 100;

export const DEFAULT_SHARED_DATA_BYTES = 64 * 1024 * 1024;

/** The table's memory, made once by the main thread (the OS commits its pages only when written). */
export function createSharedDataBuffer(bytes = DEFAULT_SHARED_DATA_BYTES): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(bytes);
  new Int32Array(buffer)[1] = ARENA;
  return buffer;
}

/** What a thread tells its log, once, when a write does not fit in the table. */
export function warnWhenFull(logger: Logger): (bytes: number) => void {
  return (bytes) =>
    logger.warn({ bytes }, 'shared data: the table the worker threads share is full; writes that need more room are refused (InternalFailure) until values shrink');
}

export class SharedDataTable implements SharedData {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly encoder = new TextEncoder();
  /** The (vm_id, key) of the call in progress, encoded. */
  private scratch = new Uint8Array(256);
  private warnedFull = false;

  constructor(
    buffer: SharedArrayBuffer,
    /** Told once when a write does not fit in the table. */
    private readonly full: (bytes: number) => void = () => {},
  ) {
    this.words = new Int32Array(buffer);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  get(vmId: string, key: string): { value: Uint8Array; cas: number } | undefined {
    const length = this.encodeKey(vmId, key, false);
    this.lock();
    try {
      const entry = this.find(DATA, length).entry;
      if (entry === 0) return undefined;
      const start = entry + ENTRY_HEAD + length;
      return { value: this.bytes.slice(start, start + this.view.getUint32(entry + 16, true)), cas: this.view.getUint32(entry + 8, true) };
    } finally {
      this.unlock();
    }
  }

  set(vmId: string, key: string, value: Uint8Array, cas: number, maxBytes: number): WasmResult {
    const length = this.encodeKey(vmId, key, false);
    const keyBytes = length - 2 - this.vmIdBytes();
    this.lock();
    try {
      const { entry, previous, bucket } = this.find(DATA, length);
      const current = entry === 0 ? undefined : this.view.getUint32(entry + 8, true);
      if (cas !== 0 && (current === undefined || current !== cas)) return WasmResult.CasMismatch;
      const counter = this.namespaceCounter();
      if (counter === 0) return WasmResult.InternalFailure;
      const countAt = counter + ENTRY_HEAD + 2 + this.vmIdBytes();
      const oldValue = entry === 0 ? 0 : this.view.getUint32(entry + 16, true);
      const bytes = this.view.getUint32(countAt, true) - (entry === 0 ? 0 : keyBytes + oldValue) + keyBytes + value.length;
      if (bytes > maxBytes) return WasmResult.InternalFailure;
      const need = ENTRY_HEAD + length + value.length;
      let target = entry;
      if (entry === 0 || blockSize(this.words[(entry + 4) >> 2]!) < need) {
        // A new block, put in the chain where the old entry was (or at its head); the old one freed.
        target = this.allocate(need);
        if (target === 0) return WasmResult.InternalFailure;
        this.writeKey(target, DATA, length);
        this.words[target >> 2] = entry === 0 ? this.words[bucket >> 2]! : this.words[entry >> 2]!;
        if (previous === 0) this.words[bucket >> 2] = target;
        else this.words[previous >> 2] = target;
        if (entry !== 0) this.release(entry);
      }
      this.view.setUint32(target + 8, nextCas(current ?? 0), true);
      this.view.setUint32(target + 16, value.length, true);
      this.bytes.set(value, target + ENTRY_HEAD + length);
      this.view.setUint32(countAt, bytes, true);
      return WasmResult.Ok;
    } finally {
      this.unlock();
    }
  }

  bytesUsed(vmId: string): number {
    this.encodeKey(vmId, '', true);
    this.lock();
    try {
      const counter = this.find(NAMESPACE, 2 + this.vmIdBytes()).entry;
      return counter === 0 ? 0 : this.view.getUint32(counter + ENTRY_HEAD + 2 + this.vmIdBytes(), true);
    } finally {
      this.unlock();
    }
  }

  // ---- keys and chains ------------------------------------------------------------------------

  /** Writes u16 vm_id length, vm_id, key (UTF-8) into scratch; returns the length. */
  private encodeKey(vmId: string, key: string, vmIdOnly: boolean): number {
    const most = 2 + 3 * (vmId.length + key.length);
    if (most > this.scratch.length) this.scratch = new Uint8Array(Math.max(most, this.scratch.length * 2));
    const scratch = this.scratch;
    const vmIdLength = this.encoder.encodeInto(vmId, scratch.subarray(2)).written;
    scratch[0] = vmIdLength & 0xff;
    scratch[1] = vmIdLength >> 8;
    if (vmIdOnly) return 2 + vmIdLength;
    return 2 + vmIdLength + this.encoder.encodeInto(key, scratch.subarray(2 + vmIdLength)).written;
  }

  private vmIdBytes(): number {
    return this.scratch[0]! | (this.scratch[1]! << 8);
  }

  /** The entry of `kind` whose key is scratch[0, length), its predecessor in the chain, and the chain's bucket word. */
  private find(kind: number, length: number): { entry: number; previous: number; bucket: number } {
    const scratch = this.scratch;
    let hash = 0x811c9dc5;
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ scratch[i]!, 0x01000193);
    const bucket = HEADER + 4 * ((hash ^ kind) & (BUCKETS - 1));
    let previous = 0;
    for (let entry = this.words[bucket >> 2]!; entry !== 0; previous = entry, entry = this.words[entry >> 2]!) {
      if (this.bytes[entry + 12] !== kind || this.view.getUint16(entry + 14, true) !== length) continue;
      if (this.sameKey(entry + ENTRY_HEAD, length)) return { entry, previous, bucket };
    }
    return { entry: 0, previous, bucket };
  }

  private sameKey(at: number, length: number): boolean {
    const bytes = this.bytes;
    const scratch = this.scratch;
    for (let i = 0; i < length; i++) if (bytes[at + i] !== scratch[i]) return false;
    return true;
  }

  /** The namespace's byte-count entry, made (counting 0) when missing; 0 when there is no room for it. Scratch holds the key. */
  private namespaceCounter(): number {
    const length = 2 + this.vmIdBytes();
    const { entry, bucket } = this.find(NAMESPACE, length);
    if (entry !== 0) return entry;
    const counter = this.allocate(ENTRY_HEAD + length + 4);
    if (counter === 0) return 0;
    this.writeKey(counter, NAMESPACE, length);
    this.view.setUint32(counter + 16, 4, true);
    this.view.setUint32(counter + ENTRY_HEAD + length, 0, true);
    this.words[counter >> 2] = this.words[bucket >> 2]!;
    this.words[bucket >> 2] = counter;
    return counter;
  }

  /** An entry's kind and key (scratch[0, length)). */
  private writeKey(entry: number, kind: number, length: number): void {
    this.bytes.set(this.scratch.subarray(0, length), entry + ENTRY_HEAD);
    this.bytes[entry + 12] = kind;
    this.view.setUint16(entry + 14, length, true);
  }

  // ---- blocks ---------------------------------------------------------------------------------

  /** A block of at least `size` bytes (0: the table is full); its class is written at +4. */
  private allocate(size: number): number {
    const sizeClass = classFor(size);
    const head = 2 + sizeClass;
    let block = this.words[head]!;
    if (block !== 0) {
      this.words[head] = this.words[block >> 2]!;
    } else {
      block = this.words[1]!;
      const end = block + blockSize(sizeClass);
      if (sizeClass >= CLASSES || end > this.bytes.length) {
        if (!this.warnedFull) {
          this.warnedFull = true;
          this.full(this.bytes.length);
        }
        return 0;
      }
      this.words[1] = end;
    }
    this.words[(block + 4) >> 2] = sizeClass;
    return block;
  }

  private release(block: number): void {
    const head = 2 + this.words[(block + 4) >> 2]!;
    this.words[block >> 2] = this.words[head]!;
    this.words[head] = block;
  }

  // ---- the lock -------------------------------------------------------------------------------

  private lock(): void {
    const words = this.words;
    if (Atomics.compareExchange(words, 0, 0, 1) === 0) return;
    for (let i = 0; i < SPINS; i++) if (Atomics.load(words, 0) === 0 && Atomics.compareExchange(words, 0, 0, 1) === 0) return;
    while (Atomics.exchange(words, 0, 2) !== 0) Atomics.wait(words, 0, 2);
  }

  private unlock(): void {
    if (Atomics.sub(this.words, 0, 1) !== 1) {
      Atomics.store(this.words, 0, 0);
      Atomics.notify(this.words, 0, 1);
    }
  }
}

function classFor(size: number): number {
  let sizeClass = 0;
  while (blockSize(sizeClass) < size) sizeClass++;
  return sizeClass;
}

function blockSize(sizeClass: number): number {
  return 32 * 2 ** sizeClass;
}
