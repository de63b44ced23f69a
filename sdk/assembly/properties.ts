// Properties: request attributes, plugin identity and custom keys, addressed by path
// segments (["request", "path"], ["plugin_root_id"]). See sdk/README.md for the list.

import * as hostcalls from "./hostcalls";
import { hostCallFailed } from "./errors";
import { takeBytes, takeI64, takeString } from "./memory";
import { WasmResult } from "./types";

/** The property's status: Ok (its value waits in the out-slots), NotFound, or it aborts. */
function fetch(path: Array<string>): WasmResult {
  const status = hostcalls.fetchProperty(path);
  if (status != WasmResult.Ok && status != WasmResult.NotFound) hostCallFailed(status, "proxy_get_property(" + path.join(".") + ")");
  return status;
}

/** Raw property value, or null when the property does not exist. */
export function getProperty(path: Array<string>): ArrayBuffer | null {
  return fetch(path) == WasmResult.Ok ? takeBytes() : null;
}

/** A string property (request.path, source.address, plugin_name, ...), or null. */
export function getPropertyString(path: Array<string>): string | null {
  return fetch(path) == WasmResult.Ok ? takeString() : null;
}

/**
 * An integer property (source.port, response.code, ...: 8 bytes little-endian), or
 * `fallback` when it does not exist or is not 8 bytes long.
 */
export function getPropertyInt(path: Array<string>, fallback: i64 = 0): i64 {
  return fetch(path) == WasmResult.Ok ? takeI64(fallback) : fallback;
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
