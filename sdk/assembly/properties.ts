// Properties: request attributes, plugin identity and custom keys, addressed by path
// segments (["request", "path"], ["plugin_root_id"]). See sdk/README.md for the list.

import * as hostcalls from "./hostcalls";
import { expectOk } from "./errors";
import { WasmResult } from "./types";

/** Raw property value, or null when the property does not exist. */
export function getProperty(path: Array<string>): ArrayBuffer | null {
  const result = hostcalls.getProperty(path);
  if (result.status == WasmResult.NotFound) return null;
  expectOk(result.status, "proxy_get_property(" + path.join(".") + ")");
  return result.value;
}

/** A string property (request.path, source.address, plugin_name, ...), or null. */
export function getPropertyString(path: Array<string>): string | null {
  const value = getProperty(path);
  return value === null ? null : String.UTF8.decode(value);
}

/**
 * An integer property (source.port, response.code, ...: 8 bytes little-endian), or
 * `fallback` when it does not exist or is not 8 bytes long.
 */
export function getPropertyInt(path: Array<string>, fallback: i64 = 0): i64 {
  const value = getProperty(path);
  if (value === null || value.byteLength != 8) return fallback;
  return load<i64>(changetype<usize>(value));
}

/**
 * The peer's IP without its port: source.address is `ip:port` (`[ipv6]:port`) as in Envoy,
 * or the IP alone where the listener does not know the port. Null when there is none. Key
 * per-client state (rate limits, hashing) on this, not on source.address, which differs per
 * connection.
 */
export function getSourceIp(): string | null {
  const address = getPropertyString(["source", "address"]);
  if (address === null) return null;
  if (address.startsWith("[")) {
    const end = address.indexOf("]");
    return end < 0 ? address : address.substring(1, end);
  }
  const colon = address.indexOf(":");
  // One colon: IPv4 with a port. More: a bare IPv6 address.
  return colon >= 0 && address.lastIndexOf(":") == colon ? address.substring(0, colon) : address;
}

/** Sets a property; later get_property calls (by any filter on this stream) read it back. */
export function setProperty(path: Array<string>, value: ArrayBuffer): WasmResult {
  return hostcalls.setProperty(path, value);
}

export function setPropertyString(path: Array<string>, value: string): WasmResult {
  return hostcalls.setProperty(path, String.UTF8.encode(value));
}
