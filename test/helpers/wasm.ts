// Wasm bytes for registry tests: distinct builds of one fixture, and modules Weft must refuse.

/** Unsigned LEB128, as wasm encodes sizes. */
function leb128(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/**
 * The module with a custom section appended: it runs exactly as before but has other bytes (so
 * another sha256), the way a rebuilt filter would. Tests use it as "version 2" of a fixture.
 */
export function withCustomSection(module: Uint8Array, name: string, payload: string): Uint8Array {
  const encoder = new TextEncoder();
  const nameBytes = encoder.encode(name);
  const content = [...leb128(nameBytes.length), ...nameBytes, ...encoder.encode(payload)];
  return new Uint8Array([...module, 0x00, ...leb128(content.length), ...content]);
}

/** A valid WebAssembly module that is not a proxy-wasm filter (no ABI version export). */
export const EMPTY_WASM_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
