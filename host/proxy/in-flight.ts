// Requests in flight per endpoint: what least-request balancing reads (weft.cluster.<name>.endpoints).
// With worker threads, every worker sends to the same endpoints, so a count of one worker's own
// requests would let each worker pile onto the endpoint the others keep busy. The counts then
// live in a table in a SharedArrayBuffer that every worker updates with Atomics: one slot per
// (cluster, endpoint address), found by a 32-bit fingerprint of the two with linear probing, so
// workers agree on slots without talking. Two keys with one fingerprint would share a count
// (about one chance in 10^5 for a hundred endpoints); a full table counts further endpoints per
// worker. Slots are never given back: a table of 4,096 holds a fleet's endpoints many times.

/** One endpoint's count. */
export interface InFlightCounter {
  readonly value: number;
  add(delta: number): void;
}

/** The count of a single thread (workers: 1, tests, the test kit). */
export class LocalCounter implements InFlightCounter {
  value = 0;

  add(delta: number): void {
    this.value += delta;
  }
}

const SLOT_INTS = 2; // fingerprint, count
export const DEFAULT_IN_FLIGHT_SLOTS = 4096;

/** Where the counters of a cluster's endpoints come from. */
export type InFlightCounters = (cluster: string, address: string) => InFlightCounter;

export const localCounters: InFlightCounters = () => new LocalCounter();

/** A table shared by every worker thread, made once by the main thread. */
export function createInFlightTable(slots: number = DEFAULT_IN_FLIGHT_SLOTS): SharedArrayBuffer {
  return new SharedArrayBuffer(slots * SLOT_INTS * Int32Array.BYTES_PER_ELEMENT);
}

/** Counters backed by a shared table (createInFlightTable). */
export function sharedCounters(table: SharedArrayBuffer): InFlightCounters {
  const ints = new Int32Array(table);
  const slots = ints.length / SLOT_INTS;
  return (cluster, address) => {
    const fingerprint = fingerprintOf(`${cluster}\u0000${address}`);
    for (let probe = 0; probe < slots; probe++) {
      const slot = ((fingerprint >>> 0) + probe) % slots;
      const at = slot * SLOT_INTS;
      const owner = Atomics.compareExchange(ints, at, 0, fingerprint);
      if (owner === 0 || owner === fingerprint) return new SharedCounter(ints, at + 1);
    }
    return new LocalCounter();
  };
}

class SharedCounter implements InFlightCounter {
  constructor(
    private readonly ints: Int32Array,
    private readonly at: number,
  ) {}

  get value(): number {
    return Atomics.load(this.ints, this.at);
  }

  add(delta: number): void {
    Atomics.add(this.ints, this.at, delta);
  }
}

/** FNV-1a over the UTF-16 code units, never 0 (0 marks a free slot). */
function fingerprintOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash === 0 ? 1 : hash | 0;
}
