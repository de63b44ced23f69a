// Reading and writing the WebAssembly binary format at the level a rewriting pass needs:
// LEB128 numbers, names, value types, limits, and the module's sections as byte ranges.
// Everything a pass does not change is copied as the original bytes.

/** A module this code cannot read: truncated, malformed, or using an encoding it does not know. */
export class WasmFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmFormatError';
  }
}

export class ByteReader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The next byte, without consuming it. */
  peek(): number {
    if (this.pos >= this.end) throw new WasmFormatError(`unexpected end at byte ${this.pos}`);
    return this.bytes[this.pos]!;
  }

  byte(): number {
    const value = this.peek();
    this.pos++;
    return value;
  }

  skip(count: number): void {
    if (this.pos + count > this.end) throw new WasmFormatError(`unexpected end at byte ${this.pos}`);
    this.pos += count;
  }

  /** An unsigned LEB128 of at most 32 bits (counts, indices, sizes). */
  u32(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const byte = this.byte();
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (result > 0xffff_ffff) break;
        return result;
      }
      scale *= 128;
    }
    throw new WasmFormatError(`bad u32 at byte ${this.pos}`);
  }

  /** Any LEB128 (signed or unsigned, up to 64 bits) whose value the caller does not need. */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new WasmFormatError(`LEB128 longer than 10 bytes at byte ${this.pos}`);
  }

  name(): string {
    const length = this.u32();
    const start = this.pos;
    this.skip(length);
    return new TextDecoder().decode(this.bytes.subarray(start, this.pos));
  }

  /** A value type: one byte, or `ref` / `ref null` followed by a heap type. */
  skipValueType(): void {
    const code = this.byte();
    if (code === REF || code === REF_NULL) this.skipLeb();
  }

  /** Limits of a memory or table: flags, minimum, optional maximum (and a custom page size). Returns the flags. */
  skipLimits(): number {
    const flags = this.byte();
    this.skipLeb();
    if (flags & 0x01) this.skipLeb();
    if (flags & 0x08) this.u32();
    return flags;
  }
}

/** Value type prefixes `ref ht` and `ref null ht` (typed function references, GC). */
export const REF = 0x64;
export const REF_NULL = 0x63;

export const SectionId = {
  Custom: 0,
  Type: 1,
  Import: 2,
  Function: 3,
  Table: 4,
  Memory: 5,
  Global: 6,
  Export: 7,
  Start: 8,
  Element: 9,
  Code: 10,
  Data: 11,
  DataCount: 12,
  Tag: 13,
} as const;

/** Where each known section goes in a module (ids 12 and 13 sit between the numbered ones). */
const SECTION_ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 9.5, 10: 10, 11: 11 };

export function sectionOrder(id: number): number {
  const order = SECTION_ORDER[id];
  if (order === undefined) throw new WasmFormatError(`unknown section id ${id}`);
  return order;
}

export interface Section {
  readonly id: number;
  /** The payload's first byte and the byte after its last (the header is before `start`). */
  readonly start: number;
  readonly end: number;
  /** Custom sections only. */
  readonly name?: string;
}

const MAGIC_AND_VERSION = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** The sections of a module, in order. */
export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || MAGIC_AND_VERSION.some((byte, i) => bytes[i] !== byte)) {
    throw new WasmFormatError('not a version 1 WebAssembly module');
  }
  const reader = new ByteReader(bytes, 8, bytes.length);
  const sections: Section[] = [];
  while (!reader.atEnd) {
    const id = reader.byte();
    const size = reader.u32();
    const start = reader.pos;
    reader.skip(size);
    if (id === SectionId.Custom) {
      const name = new ByteReader(bytes, start, start + size).name();
      sections.push({ id, start, end: start + size, name });
    } else {
      sections.push({ id, start, end: start + size });
    }
  }
  return sections;
}

export function moduleHeader(): number[] {
  return [...MAGIC_AND_VERSION];
}

export function encodeU32(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

/** Signed LEB128 of any integer up to 64 bits. */
export function encodeSigned(value: bigint | number): number[] {
  const out: number[] = [];
  let rest = BigInt(value);
  for (;;) {
    const byte = Number(rest & 0x7fn);
    rest >>= 7n;
    const done = (rest === 0n && (byte & 0x40) === 0) || (rest === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

export function encodeName(name: string): number[] {
  const bytes = new TextEncoder().encode(name);
  return [...encodeU32(bytes.length), ...bytes];
}

/** A section: id, payload size, payload. */
export function encodeSection(id: number, payload: ArrayLike<number>): Uint8Array {
  const header = [id, ...encodeU32(payload.length)];
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

/** Concatenates byte chunks. */
export function concatBytes(chunks: ReadonlyArray<ArrayLike<number>>): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
