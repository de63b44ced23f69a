// Read-modify-write of one shared-data key with compare-and-swap, retried until it lands.
// Several VMs (in several worker threads) may update the same key at once; a write with the
// cas read alongside the value fails with CasMismatch when someone else wrote in between, and
// the update is then computed again from the fresh value.
//
//   class AddOne extends SharedUpdate {
//     apply(current: ArrayBuffer | null): ArrayBuffer | null { ... return next; }
//   }
//   if (updateSharedData("my.key", new AddOne()) == UpdateOutcome.Contended) ...
//
// AssemblyScript has no closures, so an update is an object: it carries its inputs, and the
// outputs of its last apply() for the caller to read afterwards (apply may run several times;
// only the last run counts).

import * as hostcalls from "./hostcalls";
import { hostCallFailed } from "./errors";
import { WasmResult } from "./types";

export abstract class SharedUpdate {
  /** The value to store given the current one (null when the key is absent); null = write nothing. */
  abstract apply(current: ArrayBuffer | null): ArrayBuffer | null;
}

export enum UpdateOutcome {
  /** apply's value was stored. */
  Written,
  /** apply returned null: nothing was stored. */
  Unchanged,
  /** Other writers won every attempt; nothing was stored. */
  Contended,
}

/**
 * Applies `update` to `key` until the write succeeds or `maxAttempts` writes lost the race.
 * A key that does not exist yet is created with an unconditional write (the ABI has no
 * create-if-absent), so two first writers racing may both succeed; the second one wins.
 */
export function updateSharedData(key: string, update: SharedUpdate, maxAttempts: i32 = 16): UpdateOutcome {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = hostcalls.getSharedData(key);
    const exists = current.status == WasmResult.Ok;
    if (!exists && current.status != WasmResult.NotFound) hostCallFailed(current.status, "proxy_get_shared_data(" + key + ")");
    const next = update.apply(exists ? current.value : null);
    if (next === null) return UpdateOutcome.Unchanged;
    const written = hostcalls.setSharedData(key, next, exists ? current.cas : 0);
    if (written == WasmResult.Ok) return UpdateOutcome.Written;
    if (written != WasmResult.CasMismatch) hostCallFailed(written, "proxy_set_shared_data(" + key + ")");
  }
  return UpdateOutcome.Contended;
}

/**
 * Creates `key` with `initial` unless it exists. The ABI has no create-if-absent, so two VMs
 * racing here may both write; that is harmless when every creator writes the same initial
 * value, which is the point: create a key that several workers will update (a count, a ledger)
 * while nothing updates it yet, e.g. in on_configure (every worker configures a chain before any
 * serves it), so that updateSharedData never has to create it while others update it, where two
 * first writers racing would lose an update.
 */
export function createSharedData(key: string, initial: ArrayBuffer): void {
  const current = hostcalls.getSharedData(key);
  if (current.status == WasmResult.Ok) return;
  if (current.status != WasmResult.NotFound) hostCallFailed(current.status, "proxy_get_shared_data(" + key + ")");
  const written = hostcalls.setSharedData(key, initial, 0);
  if (written != WasmResult.Ok) hostCallFailed(written, "proxy_set_shared_data(" + key + ")");
}
