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
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt.asIntN(64, toBigInt(value)), true);
  return out;
}

export function encodeUint64(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, toBigInt(value)), true);
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

/** Reads a string property value (UTF-8). */
export function decodeString(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
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
