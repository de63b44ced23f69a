// A header (or trailer) map as the filters and the proxy share it. Storage is one flat array,
// [name0, value0, name1, value1, ...], names lowercase; pseudo-headers (:method, :path,
// :authority, :scheme, :status) are ordinary entries. Order and repeated names are kept.
//
// The pairs encoding the guest reads is cached until the next change, so however many filters
// read a map between two changes, it is serialised once.

import { encodePairs, pairsSize } from './pairs.js';

export class HeaderMap {
  private entries: string[];
  private encoded: Uint8Array | undefined;
  private encodedSize = -1;
  private changes = 0;

  /** Takes ownership of `flat` (names must already be lowercase, as Node and uWS deliver them). */
  constructor(flat: string[] = []) {
    this.entries = flat;
  }

  /** Builds a map from [name, value] entries, lowercasing names. */
  static fromEntries(entries: Iterable<readonly [string, string]>): HeaderMap {
    const flat: string[] = [];
    for (const [name, value] of entries) flat.push(name.toLowerCase(), value);
    return new HeaderMap(flat);
  }

  /** The flat [name, value, ...] storage, for iteration. Do not mutate it: use the methods. */
  get flat(): readonly string[] {
    return this.entries;
  }

  /** Number of pairs. */
  get size(): number {
    return this.entries.length >>> 1;
  }

  /** Bumped on every change; equal versions mean identical contents. */
  get version(): number {
    return this.changes;
  }

  /** The first value of `name`, or undefined. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    const entries = this.entries;
    for (let i = 0; i < entries.length; i += 2) {
      if (entries[i] === key) return entries[i + 1];
    }
    return undefined;
  }

  /** Appends a pair (repeated names are allowed). */
  add(name: string, value: string): void {
    this.entries.push(name.toLowerCase(), value);
    this.changed();
  }

  /** Sets `name` to `value`: the first occurrence is replaced in place, later ones removed; appended if absent. */
  replace(name: string, value: string): void {
    const key = name.toLowerCase();
    const entries = this.entries;
    const first = indexOfName(entries, key, 0);
    if (first < 0) {
      entries.push(key, value);
    } else {
      entries[first + 1] = value;
      const next = indexOfName(entries, key, first + 2);
      if (next >= 0) compactWithout(entries, key, next);
    }
    this.changed();
  }

  /** Removes every occurrence of `name`; no change (and no version bump) when absent. */
  remove(name: string): void {
    const key = name.toLowerCase();
    const first = indexOfName(this.entries, key, 0);
    if (first < 0) return;
    compactWithout(this.entries, key, first);
    this.changed();
  }

  /** Replaces the whole map with `flat` (taken over; names are lowercased in place). */
  setPairs(flat: string[]): void {
    for (let i = 0; i < flat.length; i += 2) flat[i] = flat[i]!.toLowerCase();
    if (flat.length % 2 !== 0) flat.length -= 1;
    this.entries = flat;
    this.changed();
  }

  /** The pairs encoding of the map (0 bytes when empty), cached until the next change. Do not mutate it. */
  serialized(): Uint8Array {
    let encoded = this.encoded;
    if (encoded === undefined) {
      encoded = encodePairs(this.entries);
      this.encoded = encoded;
      this.encodedSize = encoded.length;
    }
    return encoded;
  }

  /** Byte length of serialized(), computed without encoding and cached until the next change. */
  serializedSize(): number {
    if (this.encodedSize < 0) this.encodedSize = pairsSize(this.entries);
    return this.encodedSize;
  }

  private changed(): void {
    this.encoded = undefined;
    this.encodedSize = -1;
    this.changes++;
  }
}

/** Index of the first pair named `key` (lowercase) at or after `from` in a flat [name, value, ...] array; -1 when none. */
export function indexOfName(entries: readonly string[], key: string, from = 0): number {
  for (let i = from; i < entries.length; i += 2) {
    if (entries[i] === key) return i;
  }
  return -1;
}

/** Removes every pair named `key` at or after index `from` (which holds one), keeping order. */
function compactWithout(entries: string[], key: string, from: number): void {
  let write = from;
  for (let read = from + 2; read < entries.length; read += 2) {
    if (entries[read] !== key) {
      entries[write] = entries[read]!;
      entries[write + 1] = entries[read + 1]!;
      write += 2;
    }
  }
  entries.length = write;
}
