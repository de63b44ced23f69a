// The clocks guests read (proxy_get_current_time_nanoseconds, WASI clock_time_get).

let lastMs = -1;
let lastNs = 0n;

/**
 * Wall-clock time in nanoseconds since the Unix epoch (millisecond resolution, as Date offers).
 * The BigInt is made once per millisecond: filters read the clock several times per request.
 */
export function realtimeNanoseconds(): bigint {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastNs = BigInt(ms) * 1_000_000n;
  }
  return lastNs;
}

/** A monotonic clock in nanoseconds (arbitrary origin). */
export function monotonicNanoseconds(): bigint {
  return process.hrtime.bigint();
}
