// Base64 (RFC 4648 §4, with padding) and base64url (§5, without padding, as JOSE / JWT use it).
// Decoders are strict: a character outside the alphabet, misplaced padding or an impossible
// length gives null rather than a best guess, so a tampered token cannot decode "close enough".

// @lazy: only filters that encode pay for the alphabets (the SDK index re-exports this module).
@lazy const STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
@lazy const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Bytes as base64url without padding (the JWS encoding). */
export function encodeBase64Url(data: ArrayBuffer): string {
  return encode(data, URL_SAFE, false);
}

/** Bytes as standard base64 with `=` padding. */
export function encodeBase64(data: ArrayBuffer): string {
  return encode(data, STANDARD, true);
}

/** base64url without padding to bytes; null when `text` is not exactly that. */
export function decodeBase64Url(text: string): ArrayBuffer | null {
  return decode(text, true);
}

/** Standard base64 to bytes, padded to a multiple of 4 or unpadded; null when `text` is not base64. */
export function decodeBase64(text: string): ArrayBuffer | null {
  let end = text.length;
  if (end % 4 == 0 && text.endsWith("==")) end -= 2;
  else if (end % 4 == 0 && text.endsWith("=")) end -= 1;
  return decode(text.substring(0, end), false);
}

/** True when every character of `text` belongs to the base64url alphabet. */
export function isBase64UrlText(text: string): bool {
  for (let i = 0; i < text.length; i++) {
    if (sextet(text.charCodeAt(i), true) < 0) return false;
  }
  return true;
}

function encode(data: ArrayBuffer, alphabet: string, pad: bool): string {
  const bytes = Uint8Array.wrap(data);
  const length = bytes.length;
  const full = length / 3 * 3;
  const out = new Uint8Array(<i32>((length + 2) / 3 * 4));
  let o = 0;
  for (let i = 0; i < full; i += 3) {
    const n = (<u32>bytes[i] << 16) | (<u32>bytes[i + 1] << 8) | <u32>bytes[i + 2];
    out[o++] = <u8>alphabet.charCodeAt(n >> 18);
    out[o++] = <u8>alphabet.charCodeAt((n >> 12) & 63);
    out[o++] = <u8>alphabet.charCodeAt((n >> 6) & 63);
    out[o++] = <u8>alphabet.charCodeAt(n & 63);
  }
  const rest = length - full;
  if (rest > 0) {
    const n = (<u32>bytes[full] << 16) | (rest == 2 ? <u32>bytes[full + 1] << 8 : 0);
    out[o++] = <u8>alphabet.charCodeAt(n >> 18);
    out[o++] = <u8>alphabet.charCodeAt((n >> 12) & 63);
    if (rest == 2) out[o++] = <u8>alphabet.charCodeAt((n >> 6) & 63);
    else if (pad) out[o++] = 0x3d;
    if (pad) out[o++] = 0x3d;
  }
  return String.UTF8.decodeUnsafe(out.dataStart, <usize>o);
}

/** Value of one alphabet character, -1 when it is not one. */
function sextet(c: i32, urlSafe: bool): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == (urlSafe ? 0x2d : 0x2b)) return 62;
  if (c == (urlSafe ? 0x5f : 0x2f)) return 63;
  return -1;
}

/** Unpadded text of either alphabet to bytes. */
function decode(text: string, urlSafe: bool): ArrayBuffer | null {
  const length = text.length;
  if (length % 4 == 1) return null;
  const out = new Uint8Array(length * 3 / 4);
  let o = 0;
  let buffer: u32 = 0;
  let bits = 0;
  for (let i = 0; i < length; i++) {
    const value = sextet(text.charCodeAt(i), urlSafe);
    if (value < 0) return null;
    buffer = (buffer << 6) | <u32>value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = <u8>(buffer >> <u32>bits);
    }
  }
  // Leftover bits must be zero, or two texts would decode to the same bytes.
  if ((buffer & ((1 << <u32>bits) - 1)) != 0) return null;
  return out.buffer;
}
