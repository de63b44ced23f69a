// API keys recently accepted, so that a client presenting the same key on every request does
// not pay a SHA-256 per request. A small direct-mapped table: the slot comes from a hash of the
// presented key, and the key found there is compared in constant time (every code unit of the
// presented key is visited, whatever the stored key holds), so timing tells a client no more
// than the verdict does: a hit is a key the digests accepted anyway. Only accepted keys are stored: unknown keys always take the digest
// path, and a flood of them can only evict entries (which then cost a digest again), never
// grow the table. The table belongs to one configuration: a new configuration starts empty.

import { hash64 } from "../../../sdk/assembly";

/** Slots in the table (a power of two): distinct keys in use at once beyond this cost a digest now and then. */
export const ACCEPTED_KEY_SLOTS = 64;

class AcceptedKey {
  constructor(readonly key: string, readonly consumer: string) {}
}

export class AcceptedKeys {
  private readonly slots: StaticArray<AcceptedKey | null> = new StaticArray<AcceptedKey | null>(ACCEPTED_KEY_SLOTS);

  /** The consumer of `key` when it was accepted recently, else null (ask the digests). */
  consumerOf(key: string): string | null {
    const entry = unchecked(this.slots[slotOf(key)]);
    if (entry === null || !sameKey(entry.key, key)) return null;
    return entry.consumer;
  }

  remember(key: string, consumer: string): void {
    unchecked((this.slots[slotOf(key)] = new AcceptedKey(key, consumer)));
  }
}

function slotOf(key: string): i32 {
  return <i32>(hash64(key) & (ACCEPTED_KEY_SLOTS - 1));
}

/** Equal strings, in a time that depends only on the presented key's length (which its sender knows). */
function sameKey(stored: string, presented: string): bool {
  const length = presented.length;
  const storedLength = stored.length;
  let difference = length ^ storedLength;
  for (let i = 0; i < length; i++) {
    const unit = i < storedLength ? stored.charCodeAt(i) : 0;
    difference |= presented.charCodeAt(i) ^ unit;
  }
  return difference == 0;
}
