// A consistent-hash ring with virtual nodes (Karger et al., as in ketama): each endpoint owns
// `virtualNodes × weight` points on a 64-bit circle, a key belongs to the first point at or after
// its hash. Removing one of N endpoints moves only the keys it owned (about 1/N); the others keep
// their endpoint. An endpoint that is unusable for now (unhealthy, ejected) is skipped by walking
// on to the next point, so only its own keys move while it is out, and they come back after.

import { hash64 } from "../../../sdk/assembly/cluster";

/** Low bits of a ring entry that hold the endpoint index; the high 48 bits are the point. */
const INDEX_BITS: u64 = 16;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
export const MAX_RING_ENDPOINTS: i32 = <i32>INDEX_MASK;
/** Upper bound on points, so a large weight does not make a huge ring. */
const MAX_POINTS: u64 = 1 << 17;

export class Ring {
  /** Sorted entries: point (high 48 bits) | endpoint index (low 16 bits). */
  private readonly entries: Uint64Array;

  /** `addresses` and `weights` of the endpoints, index for index (at most MAX_RING_ENDPOINTS). */
  constructor(addresses: Array<string>, weights: Array<u32>, virtualNodes: u32) {
    let wanted: u64 = 0;
    for (let i = 0; i < weights.length; i++) wanted += <u64>virtualNodes * <u64>weights[i];
    // Scale every endpoint down alike when the ring would be too large (proportions stay).
    const scale: f64 = wanted > MAX_POINTS ? <f64>MAX_POINTS / <f64>wanted : 1.0;
    const counts = new Array<u32>(weights.length);
    let total: i32 = 0;
    for (let i = 0; i < weights.length; i++) {
      const points = weights[i] == 0 ? 0 : max<u32>(1, <u32>Math.round(<f64>virtualNodes * <f64>weights[i] * scale));
      counts[i] = points;
      total += <i32>points;
    }
    const entries = new Uint64Array(total);
    let at = 0;
    for (let i = 0; i < addresses.length; i++) {
      // The point names depend on the address only, so an endpoint keeps its points whatever
      // else joins or leaves the cluster.
      const prefix = addresses[i] + "#";
      for (let n: u32 = 0; n < counts[i]; n++) {
        entries[at++] = (hash64(prefix + n.toString()) & ~INDEX_MASK) | <u64>i;
      }
    }
    entries.sort();
    this.entries = entries;
  }

  get size(): i32 {
    return this.entries.length;
  }

  /**
   * The endpoint index owning `keyHash`: the first point at or after it whose endpoint is usable
   * (`usable[index]`), going round the circle once. -1 when no endpoint is usable.
   */
  lookup(keyHash: u64, usable: StaticArray<bool>): i32 {
    const entries = this.entries;
    const length = entries.length;
    if (length == 0) return -1;
    const point = keyHash & ~INDEX_MASK;
    // First entry >= point (entries only differ from points in their low index bits).
    let lo = 0;
    let hi = length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (unchecked(entries[mid]) < point) lo = mid + 1;
      else hi = mid;
    }
    for (let step = 0; step < length; step++) {
      const index = <i32>(unchecked(entries[(lo + step) % length]) & INDEX_MASK);
      if (unchecked(usable[index])) return index;
    }
    return -1;
  }
}
