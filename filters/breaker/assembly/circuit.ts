// The circuit of one cluster: requests in flight, counted in shared data under
// `breaker.inflight.<cluster>` (8 bytes, little-endian i64) so that every VM and worker sees
// one count. A request takes a slot in its request headers and gives it back in on_log.

import { SharedUpdate } from "../../../sdk/assembly/shared-update";

export function inFlightKey(cluster: string): string {
  return "breaker.inflight." + cluster;
}

function count(current: ArrayBuffer | null): i64 {
  return current !== null && current.byteLength == 8 ? load<i64>(changetype<usize>(current)) : 0;
}

export function encodeCount(value: i64): ArrayBuffer {
  const bytes = new ArrayBuffer(8);
  store<i64>(changetype<usize>(bytes), value);
  return bytes;
}

/** Takes a slot unless `limit` requests are already in flight. */
export class Acquire extends SharedUpdate {
  admitted: bool = false;
  inFlight: i64 = 0;

  constructor(readonly limit: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    this.inFlight = count(current);
    this.admitted = this.inFlight < this.limit;
    return this.admitted ? encodeCount(this.inFlight + 1) : null;
  }
}

/** Gives a slot back (never below zero). */
export class Release extends SharedUpdate {
  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    return encodeCount(max<i64>(0, count(current) - 1));
  }
}
