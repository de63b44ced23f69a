// Trace and span ids from the host's random source. W3C Trace Context wants ids that are
// unique and hard to guess (level 2 asks for random trace ids), so they come from WASI
// random_get, which proxy-wasm hosts provide (Weft fills it from node:crypto). A host that
// answers random_get with an error still gets working ids, from a clock-seeded generator,
// and one warning in its log. Bytes are drawn a pool at a time; each id uses its bytes once.

import { logWarn } from "../../../sdk/assembly";
import { Random } from "../../../sdk/assembly/cluster";
import { hexOf } from "./traceparent";

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buffer: usize, length: usize): u16;

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;
/** Random bytes drawn per random_get: ids for about ten requests, one host call instead of two per request. */
const POOL_BYTES = 256;

/** Random bytes not handed out yet: [poolUsed, POOL_BYTES) of `pool`. */
const pool = new ArrayBuffer(POOL_BYTES);
let poolUsed = POOL_BYTES;
let fallback: Random | null = null;

/** The address of `length` fresh random bytes (length <= 16; a multiple of 8). */
function take(length: i32): usize {
  if (poolUsed + length > POOL_BYTES) refill();
  const ptr = changetype<usize>(pool) + <usize>poolUsed;
  poolUsed += length;
  return ptr;
}

function refill(): void {
  const ptr = changetype<usize>(pool);
  poolUsed = 0;
  if (fallback === null && random_get(ptr, POOL_BYTES) == 0) return;
  const source = fallbackSource(ptr);
  for (let i = 0; i < POOL_BYTES; i += 8) store<u64>(ptr + <usize>i, source.next());
}

function fallbackSource(salt: usize): Random {
  let source = fallback;
  if (source === null) {
    logWarn("telemetry: the host's random_get failed; trace ids now come from a clock-seeded generator");
    source = Random.fromClock(<u64>salt);
    fallback = source;
  }
  return source;
}

/** A new span id: 16 lowercase hex digits, never all zero. */
export function newSpanId(): string {
  const ptr = take(SPAN_ID_BYTES);
  if (load<u64>(ptr) == 0) store<u8>(ptr, 1);
  return hexOf(ptr, SPAN_ID_BYTES);
}

/** A new trace id: 32 lowercase hex digits, never all zero. */
export function newTraceId(): string {
  const ptr = take(TRACE_ID_BYTES);
  if (load<u64>(ptr) == 0 && load<u64>(ptr + 8) == 0) store<u8>(ptr, 1);
  return hexOf(ptr, TRACE_ID_BYTES);
}
