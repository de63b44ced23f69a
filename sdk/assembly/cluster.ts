// Choosing an upstream: what the host publishes about a cluster's endpoints
// (`weft.cluster.<name>.endpoints`), the breaker's ejection deadlines in shared data, and the
// stable hash, random source and cookie lookup that sticky and balanced choices are made with.
// The router, lb and breaker filters share these, so every filter reads the contract the same way
// (notes/FILTER-CONTRACT.md).

import * as hostcalls from "./hostcalls";
import { getProperty, getPropertyString } from "./properties";
import { WasmResult } from "./types";

/** `flags` bit 0: the endpoint is healthy (registry heartbeat in time, or a static endpoint). */
export const ENDPOINT_HEALTHY: u32 = 1;

/** One endpoint of a cluster, as the host saw it when the property was read. */
export class ClusterEndpoint {
  /** "host:port", the value `weft.upstream.endpoint` takes. */
  address: string = "";
  weight: u32 = 1;
  flags: u32 = 0;
  /** Requests sent to it and not finished. */
  inFlight: u32 = 0;
  /** EWMA of the time to response headers, in ms; 0 when unknown. */
  latencyEwmaMs: f64 = 0;
  /** Gateway failures (connect error, reset, timeout, 502/503/504) in a row. */
  consecutiveFailures: u32 = 0;
  /** Gateway failures over the last 10 s. */
  recentFailures: u32 = 0;
  requestsTotal: u64 = 0;

  get healthy(): bool {
    return (this.flags & ENDPOINT_HEALTHY) != 0;
  }
}

// Bytes of one entry after its address: weight, flags, in_flight (u32 each), latency (f64),
// consecutive and recent failures (u32 each), requests_total (u64).
const FIXED_ENTRY_BYTES: usize = 4 + 4 + 4 + 8 + 4 + 4 + 8;

/**
 * The names of the host's clusters (`weft.clusters`), or null when the host does not publish
 * them. Lets a filter reject a misspelt cluster name in its configuration.
 */
export function getClusterNames(): Array<string> | null {
  const names = getPropertyString(["weft", "clusters"]);
  return names === null ? null : names.split(",");
}

/**
 * The endpoints of `cluster`, read from the host property `weft.cluster.<cluster>.endpoints`.
 * Empty when the host knows no such cluster (or has no endpoints for it). A value that does not
 * follow the binary format aborts: that is a host bug, not something a filter can work around.
 */
export function getClusterEndpoints(cluster: string): ClusterEndpoint[] {
  const bytes = getProperty(["weft", "cluster", cluster, "endpoints"]);
  if (bytes === null) return [];
  const endpoints = parseClusterEndpoints(bytes);
  if (endpoints === null) {
    throw new Error("weft.cluster." + cluster + ".endpoints is malformed (" + bytes.byteLength.toString() + " bytes)");
  }
  return endpoints;
}

/**
 * Decodes the binary endpoint list (little-endian, notes/FILTER-CONTRACT.md):
 * u32 count, then per endpoint u32 address_len, address, u32 weight, u32 flags, u32 in_flight,
 * f64 latency_ewma_ms, u32 consecutive_failures, u32 recent_failures, u64 requests_total.
 * Null when the bytes are truncated or have bytes left over.
 */
export function parseClusterEndpoints(bytes: ArrayBuffer): ClusterEndpoint[] | null {
  const base = changetype<usize>(bytes);
  const end = <usize>bytes.byteLength;
  if (end < 4) return null;
  const count = load<u32>(base);
  let offset: usize = 4;
  // Every entry takes at least its length field and fixed part: a count that cannot fit is a lie.
  if (<u64>count * <u64>(4 + FIXED_ENTRY_BYTES) > <u64>(end - offset)) return null;
  const endpoints = new Array<ClusterEndpoint>(<i32>count);
  for (let i: u32 = 0; i < count; i++) {
    if (end - offset < 4) return null;
    const addressLength = <usize>load<u32>(base + offset);
    offset += 4;
    if (end - offset < addressLength + FIXED_ENTRY_BYTES) return null;
    const endpoint = new ClusterEndpoint();
    endpoint.address = String.UTF8.decodeUnsafe(base + offset, addressLength);
    offset += addressLength;
    const at = base + offset;
    endpoint.weight = load<u32>(at);
    endpoint.flags = load<u32>(at, 4);
    endpoint.inFlight = load<u32>(at, 8);
    endpoint.latencyEwmaMs = load<f64>(at, 12);
    endpoint.consecutiveFailures = load<u32>(at, 20);
    endpoint.recentFailures = load<u32>(at, 24);
    endpoint.requestsTotal = load<u64>(at, 28);
    offset += FIXED_ENTRY_BYTES;
    endpoints[i] = endpoint;
  }
  return offset == end ? endpoints : null;
}

// ---- ejection by the breaker --------------------------------------------------------------

/** Shared-data key under which the breaker keeps an endpoint's ejection deadline. */
export function ejectionKey(cluster: string, address: string): string {
  return "breaker.ejected." + cluster + "." + address;
}

/**
 * The ejection deadline stored under `key` (ns since the epoch; 8 bytes LE i64), or 0 when there
 * is none. The endpoint is ejected while the current time is before it.
 */
export function ejectionDeadline(key: string): i64 {
  const result = hostcalls.getSharedData(key);
  if (result.status != WasmResult.Ok || result.value.byteLength != 8) return 0;
  return load<i64>(changetype<usize>(result.value));
}

/** Writes an ejection deadline (0 lifts the ejection). */
export function setEjectionDeadline(key: string, deadlineNs: i64): WasmResult {
  const value = new ArrayBuffer(8);
  store<i64>(changetype<usize>(value), deadlineNs);
  return hostcalls.setSharedData(key, value, 0);
}

// ---- hashing and random choice ------------------------------------------------------------

/**
 * A stable 64-bit hash of a string: FNV-1a over its UTF-16 code units, finished with MurmurHash3's
 * fmix64 so that nearby inputs spread over the whole range. Stable across VMs, workers and
 * restarts, so a sticky key always lands on the same side.
 */
export function hash64(text: string): u64 {
  let h: u64 = 0xcbf29ce484222325;
  const ptr = changetype<usize>(text);
  const units = <usize>text.length;
  for (let i: usize = 0; i < units; i++) {
    h ^= <u64>load<u16>(ptr + (i << 1));
    h *= 0x100000001b3;
  }
  return mix64(h);
}

/** MurmurHash3's 64-bit finaliser. */
export function mix64(value: u64): u64 {
  let h = value;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 33;
  return h;
}

/**
 * A small, fast pseudo-random source (SplitMix64). AssemblyScript's Math.random needs a host
 * import proxy-wasm does not have; this one is seeded from the clock instead.
 */
export class Random {
  private state: u64;

  constructor(seed: u64) {
    this.state = seed;
  }

  /** Seeded from the wall clock and a per-VM value (e.g. the root context id). */
  static fromClock(salt: u64): Random {
    const now = hostcalls.getCurrentTimeNanoseconds();
    return new Random(mix64(now.value ^ (salt * 0x9e3779b97f4a7c15)));
  }

  next(): u64 {
    this.state += 0x9e3779b97f4a7c15;
    return mix64(this.state);
  }

  /** Uniform in [0, bound) (bound > 0; the modulo bias of a 64-bit value is negligible). */
  below(bound: u64): u64 {
    return this.next() % bound;
  }
}

// ---- keys from the request ----------------------------------------------------------------

/** The value of cookie `name` in a `Cookie` header value ("a=1; b=2"), or null. */
export function cookieValue(cookieHeader: string, name: string): string | null {
  const length = cookieHeader.length;
  let start = 0;
  while (start < length) {
    let end = cookieHeader.indexOf(";", start);
    if (end < 0) end = length;
    // Skip the blanks after the previous ';'.
    while (start < end && cookieHeader.charCodeAt(start) == 0x20) start++;
    const equals = cookieHeader.indexOf("=", start);
    if (equals > start && equals < end && equals - start == name.length && cookieHeader.substring(start, equals) == name) {
      let valueStart = equals + 1;
      let valueEnd = end;
      while (valueEnd > valueStart && cookieHeader.charCodeAt(valueEnd - 1) == 0x20) valueEnd--;
      // RFC 6265 allows the value in double quotes.
      if (valueEnd - valueStart >= 2 && cookieHeader.charCodeAt(valueStart) == 0x22 && cookieHeader.charCodeAt(valueEnd - 1) == 0x22) {
        valueStart++;
        valueEnd--;
      }
      return cookieHeader.substring(valueStart, valueEnd);
    }
    start = end + 1;
  }
  return null;
}
