// The shapes a test hands the kit (text or bytes, headers as an object or as pairs) and the
// conversions to what the ABI layer takes.

/** Text (UTF-8) or raw bytes. */
export type Bytes = string | Uint8Array;

/** Headers as an object ({':path': '/x'}) or as pairs, for repeated names. Names are lower-cased, as the proxy does. */
export type HeaderInput = Record<string, string> | ReadonlyArray<readonly [string, string]>;

export function bytesOf(value: Bytes): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

export function headerPairs(headers: HeaderInput): Array<[string, string]> {
  const entries = Array.isArray(headers) ? (headers as ReadonlyArray<readonly [string, string]>) : Object.entries(headers);
  return entries.map(([name, value]) => [name.toLowerCase(), value]);
}
