// Shared data and shared queues: state that filters share through the host.
// It lives outside every chain, so it survives hot swaps; the interfaces (abi/host-api.ts)
// are small so a later multi-worker build can back them with memory shared between threads.

import { WasmResult } from '../abi/enums.js';
import type { SharedData, SharedQueues } from '../abi/host-api.js';

interface Entry {
  value: Uint8Array;
  cas: number;
}

/** One vm_id's keys, and the bytes they take (UTF-8 key + value, as quotas count them). */
interface Space {
  readonly entries: Map<string, Entry>;
  bytes: number;
}

export class InMemorySharedData implements SharedData {
  private readonly spaces = new Map<string, Space>();

  get(vmId: string, key: string): Entry | undefined {
    return this.spaces.get(vmId)?.entries.get(key);
  }

  set(vmId: string, key: string, value: Uint8Array, cas: number, maxBytes: number): WasmResult {
    let space = this.spaces.get(vmId);
    if (space === undefined) {
      space = { entries: new Map(), bytes: 0 };
      this.spaces.set(vmId, space);
    }
    const current = space.entries.get(key);
    if (cas !== 0 && (current === undefined || current.cas !== cas)) return WasmResult.CasMismatch;
    const keyBytes = Buffer.byteLength(key);
    const bytes = space.bytes - (current === undefined ? 0 : keyBytes + current.value.length) + keyBytes + value.length;
    if (bytes > maxBytes) return WasmResult.InternalFailure;
    space.bytes = bytes;
    space.entries.set(key, { value, cas: nextCas(current?.cas ?? 0) }); // the caller's copy, ours to keep
    return WasmResult.Ok;
  }

  bytesUsed(vmId: string): number {
    return this.spaces.get(vmId)?.bytes ?? 0;
  }
}

/**
 * The cas a key gets on its next write. Per key, as the guest sees it: a u32 (it is written to
 * a u32 out-pointer) that is never 0, since 0 asks proxy_set_shared_data for an unconditional
 * write. It wraps from 2^32-1 to 1, so a stale cas matches again only after 2^32 writes of
 * that one key.
 */
export function nextCas(cas: number): number {
  return cas >= 0xffff_ffff ? 1 : cas + 1;
}

interface Queue {
  readonly vmId: string;
  readonly name: string;
  readonly items: Uint8Array[];
  onReady: (queueId: number) => void;
  maxDepth: number;
}

export class InMemorySharedQueues implements SharedQueues {
  private readonly byId = new Map<number, Queue>();
  private readonly byName = new Map<string, number>();
  private nextId = 1;

  register(vmId: string, name: string, onReady: (queueId: number) => void, maxDepth: number): number {
    const key = queueKey(vmId, name);
    const existing = this.byName.get(key);
    if (existing !== undefined) {
      // Re-registration (a fresh VM after a swap or a trap) takes the queue over with its items.
      const queue = this.byId.get(existing)!;
      queue.onReady = onReady;
      queue.maxDepth = maxDepth;
      return existing;
    }
    const id = this.nextId++;
    this.byId.set(id, { vmId, name, items: [], onReady, maxDepth });
    this.byName.set(key, id);
    return id;
  }

  resolve(vmId: string, name: string): number | undefined {
    return this.byName.get(queueKey(vmId, name));
  }

  enqueue(queueId: number, data: Uint8Array): WasmResult {
    const queue = this.byId.get(queueId);
    if (queue === undefined) return WasmResult.NotFound;
    if (queue.items.length >= queue.maxDepth) return WasmResult.InternalFailure;
    queue.items.push(data.slice());
    // The owner is told after the enqueuing callback returns, never re-entrantly, and on a later
    // turn of the event loop (a macrotask): a proxy_on_queue_ready that enqueues again cannot
    // keep the loop from serving I/O, as a chain of microtasks would.
    setImmediate(() => queue.onReady(queueId));
    return WasmResult.Ok;
  }

  dequeue(queueId: number): Uint8Array | null | undefined {
    const queue = this.byId.get(queueId);
    if (queue === undefined) return undefined;
    return queue.items.shift() ?? null;
  }
}

function queueKey(vmId: string, name: string): string {
  return `${vmId}\u0000${name}`;
}
