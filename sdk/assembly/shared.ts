// State shared by every VM with the same vm_id: a key-value store with compare-and-swap,
// and named queues. Both live in the host, so they outlive a VM and a hot swap.

import * as hostcalls from "./hostcalls";
import { expectOk, hostCallFailed } from "./errors";
import { WasmResult } from "./types";

/** A shared-data value and its version: pass `cas` back to setSharedData to update safely. */
export class SharedValue {
  bytes: ArrayBuffer;
  cas: u32;
  constructor(bytes: ArrayBuffer, cas: u32) {
    this.bytes = bytes;
    this.cas = cas;
  }
  toString(): string {
    return String.UTF8.decode(this.bytes);
  }
}

/** The value under `key`, or null when there is none. */
export function getSharedData(key: string): SharedValue | null {
  const result = hostcalls.getSharedData(key);
  if (result.status == WasmResult.NotFound) return null;
  if (result.status != WasmResult.Ok) hostCallFailed(result.status, "proxy_get_shared_data(" + key + ")");
  return new SharedValue(result.value, result.cas);
}

/**
 * Stores `value` under `key`. cas 0 writes unconditionally; any other cas must be the one
 * read with the current value, else the result is CasMismatch and nothing is written.
 */
export function setSharedData(key: string, value: ArrayBuffer, cas: u32 = 0): WasmResult {
  return hostcalls.setSharedData(key, value, cas);
}

export function setSharedDataString(key: string, value: string, cas: u32 = 0): WasmResult {
  return hostcalls.setSharedData(key, String.UTF8.encode(value), cas);
}

/** Registers (or finds again) a queue owned by this root context; onQueueReady fires on enqueue. */
export function registerSharedQueue(name: string): u32 {
  const result = hostcalls.registerSharedQueue(name);
  expectOk(result.status, "proxy_register_shared_queue(" + name + ")");
  return result.value;
}

/** Adds a message; NotFound when the queue does not exist. */
export function enqueueSharedQueue(queueId: u32, data: ArrayBuffer): WasmResult {
  return hostcalls.enqueueSharedQueue(queueId, data);
}

export function enqueueSharedQueueString(queueId: u32, data: string): WasmResult {
  return hostcalls.enqueueSharedQueue(queueId, String.UTF8.encode(data));
}

/** The oldest message, or null when the queue is empty. */
export function dequeueSharedQueue(queueId: u32): ArrayBuffer | null {
  const result = hostcalls.dequeueSharedQueue(queueId);
  if (result.status == WasmResult.Empty) return null;
  expectOk(result.status, "proxy_dequeue_shared_queue");
  return result.value;
}
