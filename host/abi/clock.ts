// The clocks guests read (proxy_get_current_time_nanoseconds, WASI clock_time_get).

/** Wall-clock time in nanoseconds since the Unix epoch (millisecond resolution, as Date offers). */
export function realtimeNanoseconds(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** A monotonic clock in nanoseconds (arbitrary origin). */
export function monotonicNanoseconds(): bigint {
  return process.hrtime.bigint();
}
