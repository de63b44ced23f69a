// Properties: request attributes, plugin identity and custom keys, addressed by path
// segments (["request", "path"], ["plugin_root_id"]). See sdk/README.md for the list.

import * as hostcalls from "./hostcalls";
import { hostCallFailed } from "./errors";
import { takeBytes, takeI64, takeString } from "./memory";
import { WasmResult } from "./types";

/** The property's status: Ok (its value waits in the out-slots), NotFound, or it aborts. */
function fetch(path: Array<string>): WasmResult {
  return checked(hostcalls.fetchProperty(path), path);
}

function checked(status: WasmResult, path: Array<string>): WasmResult {
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

/**
 * A property path encoded once, for a filter that reads or writes it on every request
 * (`const TRACE_ID = new PropertyPath(["weft", "trace", "trace_id"])`): no per-call lookup of
 * the encoding, and the host sees the same bytes at the same address every time, so what it
 * decoded once (its cache is keyed by address) stays valid. The functions above taking a segment
 * array give the same answers; their small encoding cache can drop a path another one evicted.
 */
export class PropertyPath {
  private readonly bytes: ArrayBuffer;

  constructor(readonly segments: Array<string>) {
    this.bytes = String.UTF8.encode(segments.join("\0"));
  }

  /** The raw value, or null when the property does not exist. */
  get(): ArrayBuffer | null {
    return this.fetch() == WasmResult.Ok ? takeBytes() : null;
  }

  /** A string value, or null when the property does not exist. */
  getString(): string | null {
    return this.fetch() == WasmResult.Ok ? takeString() : null;
  }

  /** An integer value (8 bytes little-endian), or `fallback` when absent or not 8 bytes long. */
  getInt(fallback: i64 = 0): i64 {
    return this.fetch() == WasmResult.Ok ? takeI64(fallback) : fallback;
  }

  set(value: ArrayBuffer): WasmResult {
    return hostcalls.setEncodedProperty(this.bytes, value);
  }

  setString(value: string): WasmResult {
    return hostcalls.setEncodedPropertyString(this.bytes, value);
  }

  private fetch(): WasmResult {
    return checked(hostcalls.fetchEncodedProperty(this.bytes), this.segments);
  }
}
