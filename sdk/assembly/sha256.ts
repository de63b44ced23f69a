// SHA-256 (FIPS 180-4) in the guest, for hashing short values such as API keys without a
// host call. Not constant-time over secret-dependent branches: there are none in SHA-256.

// @ts-ignore: decorator
@lazy const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/** The 32-byte SHA-256 digest of `data`. */
export function sha256(data: ArrayBuffer): ArrayBuffer {
  const length = data.byteLength;
  // Message, 0x80, zeros, 64-bit big-endian bit length: a whole number of 64-byte blocks.
  const paddedLength = ((length + 8) / 64 + 1) * 64;
  const padded = new Uint8Array(paddedLength);
  memory.copy(padded.dataStart, changetype<usize>(data), <usize>length);
  padded[length] = 0x80;
  const bitLength = <u64>length * 8;
  for (let i = 0; i < 8; i++) padded[paddedLength - 1 - i] = <u8>(bitLength >> (<u64>i * 8));

  const h = new StaticArray<u32>(8);
  h[0] = 0x6a09e667; h[1] = 0xbb67ae85; h[2] = 0x3c6ef372; h[3] = 0xa54ff53a;
  h[4] = 0x510e527f; h[5] = 0x9b05688c; h[6] = 0x1f83d9ab; h[7] = 0x5be0cd19;
  const w = new StaticArray<u32>(64);
  for (let block = 0; block < paddedLength; block += 64) {
    for (let t = 0; t < 16; t++) {
      const at = block + t * 4;
      w[t] = (<u32>padded[at] << 24) | (<u32>padded[at + 1] << 16) | (<u32>padded[at + 2] << 8) | <u32>padded[at + 3];
    }
    for (let t = 16; t < 64; t++) {
      const w15 = w[t - 15];
      const w2 = w[t - 2];
      const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
      const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let t = 0; t < 64; t++) {
      const s1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
      const choice = (e & f) ^ (~e & g);
      const t1 = hh + s1 + choice + K[t] + w[t];
      const s0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const t2 = s0 + majority;
      hh = g; g = f; f = e; e = d + t1;
      d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }

  const digest = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    digest[i * 4] = <u8>(h[i] >>> 24);
    digest[i * 4 + 1] = <u8>(h[i] >>> 16);
    digest[i * 4 + 2] = <u8>(h[i] >>> 8);
    digest[i * 4 + 3] = <u8>h[i];
  }
  return digest.buffer;
}

@lazy const HEX = "0123456789abcdef";

/** Lowercase hex of `data`. */
export function toHex(data: ArrayBuffer): string {
  const bytes = Uint8Array.wrap(data);
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    out[i * 2] = <u8>HEX.charCodeAt(bytes[i] >> 4);
    out[i * 2 + 1] = <u8>HEX.charCodeAt(bytes[i] & 15);
  }
  return String.UTF8.decodeUnsafe(out.dataStart, <usize>out.length);
}

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. */
export function sha256Hex(text: string): string {
  return toHex(sha256(String.UTF8.encode(text)));
}
