// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
//   version "-" trace-id "-" parent-id "-" trace-flags     e.g. 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
// Two, 32, 16 and 2 lowercase hex digits. Parsed the way the spec asks a vendor to: version ff
// is invalid, version 00 must be exactly 55 characters, a later version may append fields
// after a "-" (they are dropped, since we write version 00), all-zero ids are invalid.

const HEADER_LENGTH = 55;

/** The fields of a valid traceparent, ids as lowercase hex. */
export class TraceParent {
  constructor(
    readonly traceId: string,
    readonly parentId: string,
    readonly flags: u8,
  ) {}

  get sampled(): bool {
    return (this.flags & 1) != 0;
  }
}

/** The traceparent in `value`, or null when it is absent or not valid. */
export function parseTraceParent(value: string | null): TraceParent | null {
  if (value === null) return null;
  const text = value.trim();
  if (text.length < HEADER_LENGTH) return null;
  if (!isHex(text, 0, 2) || text.substring(0, 2) == "ff") return null;
  const version00 = text.substring(0, 2) == "00";
  if (version00 && text.length != HEADER_LENGTH) return null;
  if (!version00 && text.length > HEADER_LENGTH && text.charCodeAt(HEADER_LENGTH) != 0x2d /* - */) return null;
  if (text.charCodeAt(2) != 0x2d || text.charCodeAt(35) != 0x2d || text.charCodeAt(52) != 0x2d) return null;
  if (!isHex(text, 3, 35) || !isHex(text, 36, 52) || !isHex(text, 53, 55)) return null;
  const traceId = text.substring(3, 35);
  const parentId = text.substring(36, 52);
  if (isAllZero(traceId) || isAllZero(parentId)) return null;
  return new TraceParent(traceId, parentId, <u8>hexByte(text, 53));
}

/** `00-<trace id>-<span id>-<flags>`: the version this filter writes, built in one allocation. */
export function formatTraceParent(traceId: string, spanId: string, flags: u8): string {
  const out = changetype<string>(__new(HEADER_LENGTH << 1, idof<string>()));
  const at = changetype<usize>(out);
  store<u16>(at, 0x30); // "00-"
  store<u16>(at + 2, 0x30);
  store<u16>(at + 4, 0x2d);
  memory.copy(at + 6, changetype<usize>(traceId), 32 << 1);
  store<u16>(at + 70, 0x2d);
  memory.copy(at + 72, changetype<usize>(spanId), 16 << 1);
  store<u16>(at + 104, 0x2d);
  storeHexByte(at + 106, flags);
  return out;
}

/** Lowercase hex of `length` bytes at `ptr`, built in one allocation (this runs twice per request). */
export function hexOf(ptr: usize, length: i32): string {
  const out = changetype<string>(__new(<usize>length << 2, idof<string>()));
  const at = changetype<usize>(out);
  for (let i = 0; i < length; i++) storeHexByte(at + (<usize>i << 2), load<u8>(ptr + <usize>i));
  return out;
}

/** Two UTF-16 hex digits of `byte` at `at`. */
@inline
function storeHexByte(at: usize, byte: u8): void {
  store<u16>(at, hexDigit(byte >> 4));
  store<u16>(at + 2, hexDigit(byte & 0x0f));
}

@inline
function hexDigit(nibble: u8): u16 {
  return nibble < 10 ? 0x30 + <u16>nibble : 0x57 + <u16>nibble;
}

/** Lowercase hex digits only, in [start, end). Upper case is invalid per the spec. */
function isHex(text: string, start: i32, end: i32): bool {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function isAllZero(hex: string): bool {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) != 0x30) return false;
  return true;
}

function hexByte(text: string, at: i32): i32 {
  return (hexValue(text.charCodeAt(at)) << 4) | hexValue(text.charCodeAt(at + 1));
}

function hexValue(c: i32): i32 {
  return c <= 0x39 ? c - 0x30 : c - 0x61 + 10;
}
