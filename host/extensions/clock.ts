// weft.clock.monotonic_ns: a precise monotonic clock for filters timing their own work.
// proxy_get_current_time_nanoseconds is wall-clock time at millisecond resolution (as Date
// offers), too coarse for a filter's microseconds. No arguments; the result is 8 bytes, the
// nanoseconds of process.hrtime (arbitrary origin, never goes back) as a little-endian u64.
// Weft-only: the SDK's monotonicNanoseconds() falls back to the millisecond clock elsewhere.

import { monotonicNanoseconds } from '../abi/clock.js';

export function monotonicClock(): Uint8Array {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64LE(monotonicNanoseconds());
  return out;
}
