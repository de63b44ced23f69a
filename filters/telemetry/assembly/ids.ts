// Trace and span ids from the host's random source. W3C Trace Context wants ids that are
// unique and hard to guess (level 2 asks for random trace ids), so they come from WASI
// random_get, which proxy-wasm hosts provide (Weft fills it from node:crypto). A host that
// answers random_get with an error still gets working ids, from a clock-seeded generator,
// and one warning in its log.

import { logWarn } from "../../../sdk/assembly";
import { Random } from "../../../sdk/assembly/cluster";
import { hexOf } from "./traceparent";

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buffer: usize, length: usize): u16;

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;

/** Bytes for one trace id and one span id, refilled for each request. */
const scratch = new ArrayBuffer(TRACE_ID_BYTES + SPAN_ID_BYTES);
let fallback: Random | null = null;

/** Fills `length` bytes of the scratch buffer with random bytes. */
function fill(length: i32): usize {
  const ptr = changetype<usize>(scratch);
  if (fallback === null && random_get(ptr, <usize>length) == 0) return ptr;
  const source = fallbackSource(ptr);
  for (let i = 0; i < length; i += 8) store<u64>(ptr + <usize>i, source.next());
  return ptr;
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
  const ptr = fill(SPAN_ID_BYTES);
  if (load<u64>(ptr) == 0) store<u8>(ptr, 1);
  return hexOf(ptr, SPAN_ID_BYTES);
}

/** A new trace id: 32 lowercase hex digits, never all zero. */
export function newTraceId(): string {
  const ptr = fill(TRACE_ID_BYTES);
  if (load<u64>(ptr) == 0 && load<u64>(ptr + 8) == 0) store<u8>(ptr, 1);
  return hexOf(ptr, TRACE_ID_BYTES);
}
