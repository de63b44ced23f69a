import { WasmResult, wasmResultName } from "./types";

/**
 * Aborts (trapping the VM, after a readable log line) when a host call that should not
 * fail did. Used by the convenience API for statuses that mean a host or filter bug.
 */
export function expectOk(status: WasmResult, what: string): void {
  if (status != WasmResult.Ok) throw new Error(what + " failed: " + wasmResultName(status));
}

/**
 * expectOk for the hot paths: call it only once the status is known to be bad, so the
 * message (often built by concatenation) costs nothing when the call succeeded.
 */
export function hostCallFailed(status: WasmResult, what: string): void {
  throw new Error(what + " failed: " + wasmResultName(status));
}
