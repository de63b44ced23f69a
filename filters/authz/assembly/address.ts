// IP addresses and CIDR blocks, IPv4 and IPv6 in one form: every address is 16 bytes, an IPv4
// address as its IPv4-mapped IPv6 address (::ffff:a.b.c.d) and an IPv4 block as the mapped
// block (/8 -> /104). So a client that a dual-stack listener reports as ::ffff:10.1.2.3
// matches 10.0.0.0/8, and one reported as 10.1.2.3 matches ::ffff:10.0.0.0/104.

const IPV4_MAPPED_PREFIX_BITS: i32 = 96;

export class IpAddress {
  constructor(readonly bytes: StaticArray<u8>) {}

  /** Dotted IPv4 or any IPv6 text (`::`, embedded IPv4, `%zone`); null when it is neither. */
  static parse(text: string): IpAddress | null {
    if (text.includes(":")) return parseIpv6(text);
    const v4 = parseIpv4(text);
    if (v4 === null) return null;
    const bytes = new StaticArray<u8>(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    for (let i = 0; i < 4; i++) bytes[12 + i] = v4[i];
    return new IpAddress(bytes);
  }

  /**
   * The peer address as a host reports it: a bare IP, or `ip:port` / `[ipv6]:port` as Envoy
   * writes source.address.
   */
  static parsePeer(text: string): IpAddress | null {
    if (text.startsWith("[")) {
      const end = text.indexOf("]");
      return end < 0 ? null : IpAddress.parse(text.substring(1, end));
    }
    const colon = text.indexOf(":");
    if (colon >= 0 && text.lastIndexOf(":") == colon) return IpAddress.parse(text.substring(0, colon));
    return IpAddress.parse(text);
  }
}

export class CidrBlock {
  constructor(readonly network: IpAddress, readonly prefixBits: i32) {}

  /** `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a block of one). Null when malformed. */
  static parse(text: string): CidrBlock | null {
    const slash = text.indexOf("/");
    const addressText = slash < 0 ? text : text.substring(0, slash);
    const address = IpAddress.parse(addressText);
    if (address === null) return null;
    const isV4 = !addressText.includes(":");
    const maxBits = isV4 ? 32 : 128;
    let bits = maxBits;
    if (slash >= 0) {
      bits = parseDecimal(text.substring(slash + 1), maxBits);
      if (bits < 0) return null;
    }
    return new CidrBlock(address, isV4 ? bits + IPV4_MAPPED_PREFIX_BITS : bits);
  }

  contains(address: IpAddress): bool {
    const full = this.prefixBits >> 3;
    for (let i = 0; i < full; i++) {
      if (address.bytes[i] != this.network.bytes[i]) return false;
    }
    const rest = this.prefixBits & 7;
    if (rest == 0) return true;
    const mask = <u8>(<i32>0xff << (8 - rest));
    return (address.bytes[full] & mask) == (this.network.bytes[full] & mask);
  }
}

/** A decimal number in 0..max without sign or leading zeros ("0" itself is fine); -1 otherwise. */
function parseDecimal(text: string, max: i32): i32 {
  if (text.length == 0 || text.length > 3 || (text.length > 1 && text.charCodeAt(0) == 0x30)) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value <= max ? value : -1;
}

function parseIpv4(text: string): StaticArray<u8> | null {
  const parts = text.split(".");
  if (parts.length != 4) return null;
  const bytes = new StaticArray<u8>(4);
  for (let i = 0; i < 4; i++) {
    const value = parseDecimal(parts[i], 255);
    if (value < 0) return null;
    bytes[i] = <u8>value;
  }
  return bytes;
}

/** 1 to 4 hex digits; -1 otherwise. */
function parseHexGroup(text: string): i32 {
  if (text.length == 0 || text.length > 4) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let digit: i32;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x41 + 10;
    else return -1;
    value = (value << 4) | digit;
  }
  return value;
}

/** The 16-bit groups of one side of `::` (an embedded IPv4 address counts as two); null when malformed. */
function ipv6Groups(text: string, ipv4Allowed: bool): Array<i32> | null {
  const groups = new Array<i32>();
  if (text.length == 0) return groups;
  const parts = text.split(":");
  for (let i = 0; i < parts.length; i++) {
    if (ipv4Allowed && i == parts.length - 1 && parts[i].includes(".")) {
      const v4 = parseIpv4(parts[i]);
      if (v4 === null) return null;
      groups.push((<i32>v4[0] << 8) | v4[1]);
      groups.push((<i32>v4[2] << 8) | v4[3]);
      continue;
    }
    const group = parseHexGroup(parts[i]);
    if (group < 0) return null;
    groups.push(group);
  }
  return groups;
}

function parseIpv6(input: string): IpAddress | null {
  const zone = input.indexOf("%");
  const text = zone < 0 ? input : input.substring(0, zone);
  const gap = text.indexOf("::");
  let head: Array<i32> | null;
  let tail: Array<i32> | null;
  if (gap < 0) {
    head = ipv6Groups(text, true);
    tail = new Array<i32>();
    if (head === null || head.length != 8) return null;
  } else {
    if (text.indexOf("::", gap + 1) >= 0) return null;
    head = ipv6Groups(text.substring(0, gap), false);
    tail = ipv6Groups(text.substring(gap + 2), true);
    // `::` stands for at least one group of zeros.
    if (head === null || tail === null || head.length + tail.length > 7) return null;
  }
  const bytes = new StaticArray<u8>(16);
  for (let i = 0; i < head.length; i++) {
    bytes[2 * i] = <u8>(head[i] >> 8);
    bytes[2 * i + 1] = <u8>head[i];
  }
  const tailStart = 8 - tail.length;
  for (let i = 0; i < tail.length; i++) {
    bytes[2 * (tailStart + i)] = <u8>(tail[i] >> 8);
    bytes[2 * (tailStart + i) + 1] = <u8>tail[i];
  }
  return new IpAddress(bytes);
}
