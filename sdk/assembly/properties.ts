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

/** Sets a property; later get_property calls (by any filter on this stream) read it back. */
export function setProperty(path: Array<string>, value: ArrayBuffer): WasmResult {
  return hostcalls.setProperty(path, value);
}

export function setPropertyString(path: Array<string>, value: string): WasmResult {
  return hostcalls.setProperty(path, String.UTF8.encode(value));
}
