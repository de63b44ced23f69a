// Reading and rewriting the parts of a request where credentials travel: the query string of
// `:path` and the Cookie header. Values come back decoded; rewrites keep everything else as
// the client wrote it.

/** The decoded value of the first query parameter `name`, or null when absent or undecodable. */
export function queryParam(path: string, name: string): string | null {
  const q = path.indexOf("?");
  if (q < 0) return null;
  const fields = path.substring(q + 1).split("&");
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const eq = field.indexOf("=");
    const rawName = eq < 0 ? field : field.substring(0, eq);
    if (formDecode(rawName) != name) continue;
    return eq < 0 ? "" : formDecode(field.substring(eq + 1));
  }
  return null;
}

/** `path` with every query parameter `name` removed (and the `?` when nothing is left). */
export function withoutQueryParam(path: string, name: string): string {
  const q = path.indexOf("?");
  if (q < 0) return path;
  const fields = path.substring(q + 1).split("&");
  const kept = new Array<string>();
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const eq = field.indexOf("=");
    const rawName = eq < 0 ? field : field.substring(0, eq);
    if (formDecode(rawName) != name) kept.push(field);
  }
  const base = path.substring(0, q);
  return kept.length == 0 ? base : base + "?" + kept.join("&");
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string, name: string): string | null {
  const parts = header.split(";");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    const eq = part.indexOf("=");
    if (eq < 0 || part.substring(0, eq).trim() != name) continue;
    let value = part.substring(eq + 1).trim();
    // RFC 6265 allows a value in double quotes.
    if (value.length >= 2 && value.startsWith("\"") && value.endsWith("\"")) value = value.substring(1, value.length - 1);
    return value;
  }
  return null;
}

/** The Cookie header without cookie `name` ("" when no cookie is left). */
export function withoutCookie(header: string, name: string): string {
  const parts = header.split(";");
  const kept = new Array<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    if (part.length == 0) continue;
    const eq = part.indexOf("=");
    if (eq >= 0 && part.substring(0, eq).trim() == name) continue;
    kept.push(part);
  }
  return kept.join("; ");
}

/**
 * application/x-www-form-urlencoded decoding, as URLSearchParams does it: `+` is a space and
 * `%XX` a byte. A `%` not followed by two hex digits stays as it is.
 */
export function formDecode(text: string): string {
  if (text.indexOf("%") < 0 && text.indexOf("+") < 0) return text;
  const input = Uint8Array.wrap(String.UTF8.encode(text));
  const out = new Uint8Array(input.length);
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c == 0x2b) {
      out[o++] = 0x20;
    } else if (c == 0x25 && i + 2 < input.length && hexValue(input[i + 1]) >= 0 && hexValue(input[i + 2]) >= 0) {
      out[o++] = <u8>((hexValue(input[i + 1]) << 4) | hexValue(input[i + 2]));
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return String.UTF8.decodeUnsafe(out.dataStart, <usize>o);
}

function hexValue(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}
