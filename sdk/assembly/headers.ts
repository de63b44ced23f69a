// Header maps of the current stream: request/response headers and trailers.
// Names are lowercase; pseudo-headers (:method :path :authority :scheme, :status) are
// entries like any other.

import * as hostcalls from "./hostcalls";
import { expectOk, hostCallFailed } from "./errors";
import { takeString } from "./memory";
import { Header, MapType, WasmResult } from "./types";

export class HeaderMap {
  readonly mapType: MapType;

  constructor(mapType: MapType) {
    this.mapType = mapType;
  }

  /** First value of `name`, or null when the header is absent. */
  get(name: string): string | null {
    const status = hostcalls.fetchHeaderMapValue(this.mapType, name);
    if (status == WasmResult.NotFound) return null;
    if (status != WasmResult.Ok) hostCallFailed(status, "proxy_get_header_map_value(" + name + ")");
    return takeString();
  }

  /** Adds a value (a repeated header keeps its other values). */
  add(name: string, value: string): WasmResult {
    return hostcalls.addHeaderMapValue(this.mapType, name, value);
  }

  /** Sets `name` to exactly this value. */
  replace(name: string, value: string): WasmResult {
    return hostcalls.replaceHeaderMapValue(this.mapType, name, value);
  }

  /** Removes every value of `name`; Ok when it was absent. */
  remove(name: string): WasmResult {
    return hostcalls.removeHeaderMapValue(this.mapType, name);
  }

  /** All entries in order. */
  pairs(): Array<Header> {
    const result = hostcalls.getHeaderMapPairs(this.mapType);
    expectOk(result.status, "proxy_get_header_map_pairs");
    return result.value;
  }

  /** Replaces the whole map. */
  setPairs(pairs: Array<Header>): WasmResult {
    return hostcalls.setHeaderMapPairs(this.mapType, pairs);
  }

  /** Serialised size of the map in bytes (the pairs encoding). */
  size(): u32 {
    const result = hostcalls.getHeaderMapSize(this.mapType);
    expectOk(result.status, "proxy_get_header_map_size");
    return result.value;
  }
}

export const requestHeaders = new HeaderMap(MapType.RequestHeaders);
export const requestTrailers = new HeaderMap(MapType.RequestTrailers);
export const responseHeaders = new HeaderMap(MapType.ResponseHeaders);
export const responseTrailers = new HeaderMap(MapType.ResponseTrailers);
