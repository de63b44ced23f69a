import { WasmResult, wasmResultName } from "./types";

/**
 * Aborts (trapping the VM, after a readable log line) when a host call that should not
 * fail did. Used by the convenience API for statuses that mean a host or filter bug.
 */
export function expectOk(status: WasmResult, what: string): void {
  if (status != WasmResult.Ok) throw new Error(what + " failed: " + wasmResultName(status));
}
