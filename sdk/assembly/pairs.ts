// The proxy-wasm pairs encoding, used for header maps, local-response headers and
// http_call headers:
//   u32 count | count x (u32 keyLength, u32 valueLength) | per pair: key 0x00 value 0x00
// All integers little-endian (wasm's native order), strings UTF-8.

import { Header } from "./types";

/** Serialises headers into one buffer the host can read. */
export function serializePairs(pairs: Array<Header>): ArrayBuffer {
  const count = pairs.length;
  let size: i32 = 4 + 8 * count;
  for (let i = 0; i < count; i++) {
    const pair = unchecked(pairs[i]);
    size += String.UTF8.byteLength(pair.key) + String.UTF8.byteLength(pair.value) + 2;
  }
  const buf = new ArrayBuffer(size);
  const base = changetype<usize>(buf);
  store<u32>(base, <u32>count);
  let lengths = base + 4;
  let data = base + 4 + 8 * <usize>count;
  for (let i = 0; i < count; i++) {
    const pair = unchecked(pairs[i]);
    const keyLength = String.UTF8.encodeUnsafe(changetype<usize>(pair.key), pair.key.length, data);
    data += keyLength;
    store<u8>(data++, 0);
    const valueLength = String.UTF8.encodeUnsafe(changetype<usize>(pair.value), pair.value.length, data);
    data += valueLength;
    store<u8>(data++, 0);
    store<u32>(lengths, <u32>keyLength);
    store<u32>(lengths, <u32>valueLength, 4);
    lengths += 8;
  }
  return buf;
}

/**
 * Reads pairs from `len` bytes at `ptr`. Malformed input (counts or lengths running past
 * the end) yields the pairs read up to that point rather than reading outside the block.
 */
export function deserializePairs(ptr: usize, len: usize): Array<Header> {
  const pairs = new Array<Header>();
  if (len < 4) return pairs;
  const end = ptr + len;
  const count = <usize>load<u32>(ptr);
  if (count > (len - 4) / 8) return pairs;
  let lengths = ptr + 4;
  let data = lengths + 8 * count;
  for (let i: usize = 0; i < count; i++) {
    const keyLength = <usize>load<u32>(lengths);
    const valueLength = <usize>load<u32>(lengths, 4);
    lengths += 8;
    if (<u64>keyLength + <u64>valueLength + 2 > <u64>(end - data)) break;
    const key = String.UTF8.decodeUnsafe(data, keyLength);
    data += keyLength + 1;
    const value = String.UTF8.decodeUnsafe(data, valueLength);
    data += valueLength + 1;
    pairs.push(new Header(key, value));
  }
  return pairs;
}
