// The little of the protobuf wire format the gRPC ext_authz check needs: writing length-delimited
// and varint fields, and walking the fields of a message to read them back. Unknown fields are
// skipped, as protobuf requires.

const WIRE_VARINT: u32 = 0;
const WIRE_I64: u32 = 1;
const WIRE_LEN: u32 = 2;
const WIRE_I32: u32 = 5;

export class ProtoWriter {
  private bytes: Array<u8> = new Array<u8>();

  varintField(field: u32, value: u64): ProtoWriter {
    this.varint(<u64>((field << 3) | WIRE_VARINT));
    this.varint(value);
    return this;
  }

  stringField(field: u32, value: string): ProtoWriter {
    return this.bytesField(field, String.UTF8.encode(value));
  }

  bytesField(field: u32, value: ArrayBuffer): ProtoWriter {
    this.varint(<u64>((field << 3) | WIRE_LEN));
    this.varint(<u64>value.byteLength);
    const view = Uint8Array.wrap(value);
    for (let i = 0; i < view.length; i++) this.bytes.push(view[i]);
    return this;
  }

  messageField(field: u32, message: ProtoWriter): ProtoWriter {
    return this.bytesField(field, message.finish());
  }

  finish(): ArrayBuffer {
    const out = new Uint8Array(this.bytes.length);
    for (let i = 0; i < this.bytes.length; i++) out[i] = this.bytes[i];
    return out.buffer;
  }

  private varint(value: u64): void {
    while (value >= 0x80) {
      this.bytes.push(<u8>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    this.bytes.push(<u8>value);
  }
}

/** Walks a message's fields: next() moves to the following one; false at the end or on bad input. */
export class ProtoReader {
  private readonly view: Uint8Array;
  private at: i32 = 0;
  field: u32 = 0;
  wireType: u32 = 0;
  /** The value of a varint field. */
  varint: u64 = 0;
  /** The bytes of a length-delimited field. */
  bytes: ArrayBuffer = new ArrayBuffer(0);
  /** Set when the message ended in the middle of a field. */
  malformed: bool = false;

  constructor(message: ArrayBuffer) {
    this.view = Uint8Array.wrap(message);
  }

  next(): bool {
    if (this.at >= this.view.length) return false;
    const key = this.readVarint();
    if (this.malformed) return false;
    this.field = <u32>(key >> 3);
    this.wireType = <u32>(key & 7);
    if (this.wireType == WIRE_VARINT) {
      this.varint = this.readVarint();
    } else if (this.wireType == WIRE_LEN) {
      const length = <i32>this.readVarint();
      if (this.malformed || length < 0 || this.at + length > this.view.length) return this.fail();
      this.bytes = this.view.slice(this.at, this.at + length).buffer;
      this.at += length;
    } else if (this.wireType == WIRE_I64 || this.wireType == WIRE_I32) {
      this.at += this.wireType == WIRE_I64 ? 8 : 4;
      if (this.at > this.view.length) return this.fail();
    } else {
      return this.fail(); // groups: not used by the messages read here
    }
    return !this.malformed;
  }

  string(): string {
    return String.UTF8.decode(this.bytes);
  }

  private fail(): bool {
    this.malformed = true;
    return false;
  }

  private readVarint(): u64 {
    let value: u64 = 0;
    for (let shift: u64 = 0; shift < 64; shift += 7) {
      if (this.at >= this.view.length) {
        this.malformed = true;
        return 0;
      }
      const byte = this.view[this.at++];
      value |= (<u64>(byte & 0x7f)) << shift;
      if (byte < 0x80) return value;
    }
    this.malformed = true;
    return 0;
  }
}
