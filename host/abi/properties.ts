// Property paths and values (proxy_get_property / proxy_set_property).
//
// Paths: Rust and Go SDKs send the path segments joined by NUL ("request\0path"); AssemblyScript
// users tend to pass a dotted string ("request.path"). Both are normalised to one canonical dotted
// key, which is what HttpContextHost.getProperty and VmHost.getProperty are asked for.
//
// Values are bytes, encoded as Envoy encodes them: strings raw UTF-8, integers 8 bytes
// little-endian, booleans 1 byte, timestamps and durations int64 nanoseconds little-endian.

/**
 * Canonical dotted key for a property path: NUL separators become dots, trailing NULs are
 * dropped. undefined for a one-segment path that names a host attribute with dots
 * ("request.path"): Envoy reads that as one unknown name (NotFound), and so does Weft; a dotted
 * path of Weft's own or a filter's keys ("weft.upstream.cluster") is taken as it is.
 */
export function propertyKey(path: string): string | undefined {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0) end--;
  const trimmed = end === path.length ? path : path.slice(0, end);
  if (trimmed.indexOf('\0') >= 0) return trimmed.replaceAll('\0', '.');
  const dot = trimmed.indexOf('.');
  return dot > 0 && ATTRIBUTE_ROOTS.has(trimmed.slice(0, dot)) ? undefined : trimmed;
}

/** Envoy's attribute roots: their paths must come as segments. */
const ATTRIBUTE_ROOTS = new Set(['request', 'response', 'source', 'destination', 'connection', 'upstream', 'xds', 'metadata', 'filter_state']);

export function encodeString(value: string): Uint8Array {
  return Buffer.from(value, 'utf8');
}

export function encodeInt64(value: bigint | number): Uint8Array {
  // Most values (statuses, sizes, ports, durations) are safe integers: two 32-bit words, no
  // BigInt, which costs several times more per property read.
  if (typeof value === 'number' && Number.isSafeInteger(value)) return safeInteger64(value);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt.asIntN(64, toBigInt(value)), true);
  return out;
}

export function encodeUint64(value: bigint | number): Uint8Array {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return safeInteger64(value);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, toBigInt(value)), true);
  return out;
}

/**
 * A safe integer as a little-endian two's-complement i64 (the low word modulo 2^32, the high
 * word floored), written byte by byte: a DataView needs the array's `.buffer`, which V8 makes
 * for a small typed array only when asked, at a cost larger than the rest of a property read
 * (11 % of the breaker's and telemetry's time in-process, for response.code).
 */
function safeInteger64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const low = value >>> 0;
  const high = Math.floor(value / 4294967296) >>> 0;
  out[0] = low;
  out[1] = low >>> 8;
  out[2] = low >>> 16;
  out[3] = low >>> 24;
  out[4] = high;
  out[5] = high >>> 8;
  out[6] = high >>> 16;
  out[7] = high >>> 24;
  return out;
}

export function encodeBool(value: boolean): Uint8Array {
  return Uint8Array.of(value ? 1 : 0);
}

/** A point in time as nanoseconds since the Unix epoch. */
export function encodeTimestamp(nanoseconds: bigint | number): Uint8Array {
  return encodeInt64(nanoseconds);
}

/** A duration in nanoseconds. */
export function encodeDuration(nanoseconds: bigint | number): Uint8Array {
  return encodeInt64(nanoseconds);
}

const utf8 = new TextDecoder();

/**
 * Reads a string property value (UTF-8). A Buffer (what the host calls copy out of guest memory)
 * decodes without touching its `.buffer`: V8 makes the ArrayBuffer of a small typed array only
 * when asked, which cost ~300 ns per read, three times the decoding.
 */
export function decodeString(value: Uint8Array): string {
  return value instanceof Buffer ? value.toString('utf8') : utf8.decode(value);
}

/** Reads an int64 property value; undefined unless it is exactly 8 bytes. */
export function decodeInt64(value: Uint8Array): bigint | undefined {
  if (value.length !== 8) return undefined;
  return new DataView(value.buffer, value.byteOffset, 8).getBigInt64(0, true);
}

/** Reads a bool property value; undefined unless it is exactly 1 byte. */
export function decodeBool(value: Uint8Array): boolean | undefined {
  return value.length === 1 ? value[0] !== 0 : undefined;
}

function toBigInt(value: bigint | number): bigint {
  return typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
}
