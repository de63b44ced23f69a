// The proxy-wasm serialisation of a header map ("pairs"), little-endian:
//   u32 n | n x (u32 key_len, u32 value_len) | for each pair: key, 0x00, value, 0x00
// so a map of n >= 1 pairs takes 4 + 8n + sum(key_len + value_len + 2) bytes.
//
// Maps are held flat, [name0, value0, name1, value1, ...] (see header-map.ts), and encoded from
// and decoded to that form. Host to guest, an empty map is 0 bytes (the guest sees p = len = 0:
// Rust and Go SDKs panic on the lone 0x00 the spec also allows). Guest to host, an empty map may
// come as 0 bytes, as `00000000`, or as a lone 0x00.

const EMPTY = new Uint8Array(0);

/** Size in bytes of the encoding of a flat map; 0 for an empty map. */
export function pairsSize(flat: readonly string[]): number {
  const count = flat.length >>> 1;
  if (count === 0) return 0;
  let size = 4 + 8 * count + 2 * count;
  for (let i = 0; i < count * 2; i++) size += Buffer.byteLength(flat[i]!, 'utf8');
  return size;
}

/** Encodes a flat map [name, value, ...]; an empty map encodes to 0 bytes. */
export function encodePairs(flat: readonly string[]): Uint8Array {
  const count = flat.length >>> 1;
  if (count === 0) return EMPTY;
  // Headers are nearly always ASCII: then every string's byte length is its length, and the
  // whole data section is one string written with one native call instead of two per string.
  const data = flat.join('\0') + '\0';
  const dataBytes = Buffer.byteLength(data, 'utf8');
  if (dataBytes === data.length) {
    const out = Buffer.allocUnsafe(4 + 8 * count + dataBytes);
    writeU32(out, 0, count);
    for (let i = 0; i < count; i++) {
      writeU32(out, 4 + 8 * i, flat[2 * i]!.length);
      writeU32(out, 8 + 8 * i, flat[2 * i + 1]!.length);
    }
    out.write(data, 4 + 8 * count, 'latin1');
    return out;
  }
  return encodeAnyPairs(flat, count);
}

/** The general case: strings with characters beyond ASCII, measured and written one by one. */
function encodeAnyPairs(flat: readonly string[], count: number): Uint8Array {
  // Every byte is written below, so the unsafe (uninitialised) allocation never leaks old memory.
  const out = Buffer.allocUnsafe(pairsSize(flat));
  writeU32(out, 0, count);
  let lengths = 4;
  let data = 4 + 8 * count;
  for (let i = 0; i < count * 2; i += 2) {
    const keyLength = out.write(flat[i]!, data, 'utf8');
    data += keyLength;
    out[data++] = 0;
    const valueLength = out.write(flat[i + 1]!, data, 'utf8');
    data += valueLength;
    out[data++] = 0;
    writeU32(out, lengths, keyLength);
    writeU32(out, lengths + 4, valueLength);
    lengths += 8;
  }
  return out;
}

/** Decodes pairs into a fresh flat array; null when the bytes are not a well-formed encoding. */
export function decodePairs(bytes: Uint8Array): string[] | null {
  const length = bytes.length;
  if (length === 0 || (length === 1 && bytes[0] === 0)) return [];
  if (length < 4) return null;
  const count = readU32(bytes, 0);
  if (count === 0) return length === 4 ? [] : null;
  // Each pair needs 8 bytes of lengths and 2 terminators; this also bounds the loop below.
  if (count > (length - 4) / 10) return null;
  const text = bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flat: string[] = [];
  let data = 4 + 8 * count;
  for (let i = 0; i < count; i++) {
    const keyLength = readU32(bytes, 4 + 8 * i);
    const valueLength = readU32(bytes, 8 + 8 * i);
    const keyEnd = data + keyLength;
    const valueEnd = keyEnd + 1 + valueLength;
    if (valueEnd >= length || bytes[keyEnd] !== 0 || bytes[valueEnd] !== 0) return null;
    flat.push(keyLength === 0 ? '' : text.toString('utf8', data, keyEnd));
    flat.push(valueLength === 0 ? '' : text.toString('utf8', keyEnd + 1, valueEnd));
    data = valueEnd + 1;
  }
  return data === length ? flat : null;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}
