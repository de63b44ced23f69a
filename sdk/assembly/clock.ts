// A precise monotonic clock, for a filter that times its own work.
//
// getCurrentTimeNanoseconds() is wall-clock time, and proxies give it at millisecond
// resolution: a filter timing a few microseconds of work reads 0. monotonicNanoseconds() asks
// Weft's foreign function weft.clock.monotonic_ns (nanoseconds, never goes back). Weft-only:
// under another proxy-wasm host the call fails once and every later call answers the
// millisecond wall clock instead (hasPreciseClock() tells which you have).
//
//   const started = monotonicNanoseconds();
//   ...work...
//   const micros = (monotonicNanoseconds() - started) / 1000;

import * as hostcalls from "./hostcalls";
import { getCurrentTimeNanoseconds } from "./log";
import { WasmResult } from "./types";

const WEFT_MONOTONIC_CLOCK = "weft.clock.monotonic_ns";

/** -1 = not asked yet, 1 = the host has the precise clock, 0 = it does not. */
let precise: i32 = -1;

/** Nanoseconds from an arbitrary origin; precise under Weft, millisecond wall clock elsewhere. */
export function monotonicNanoseconds(): u64 {
  if (precise != 0) {
    const result = hostcalls.callForeignFunction(WEFT_MONOTONIC_CLOCK, null);
    if (result.status == WasmResult.Ok && result.value.byteLength == 8) {
      precise = 1;
      return load<u64>(changetype<usize>(result.value));
    }
    precise = 0;
  }
  return getCurrentTimeNanoseconds();
}

/** True when monotonicNanoseconds() is the precise clock (the host is Weft). */
export function hasPreciseClock(): bool {
  if (precise < 0) monotonicNanoseconds();
  return precise == 1;
}
