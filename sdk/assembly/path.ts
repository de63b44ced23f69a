// A request path as access rules read it: the one spelling of it that every server agrees on,
// so that spellings a service treats as the same path cannot slip past a rule (`/public/../admin`,
// `//admin`, `/%61dmin`, `/public/..;/admin` are all `/admin`). The way Envoy's normalize_path +
// merge_slashes read it, plus matrix parameters:
//   1. the query (`?...`) and fragment (`#...`) are dropped;
//   2. percent-encoded unreserved characters (letters, digits, `-._~`) are decoded, and the hex
//      digits of the other escapes upper-cased (`%2f` -> `%2F`; an encoded `/` stays encoded);
//   3. matrix parameters (`;...` up to the end of a segment) are dropped: Tomcat and Jetty
//      ignore them, so `/public/..;/admin` is `/admin` to them;
//   4. runs of `/` become one;
//   5. `.` and `..` segments are resolved (RFC 3986 section 5.2.4), never above the root.
// Weft's host already does 1, 2, 4 and 5 to the request itself (it leaves `;` alone); a filter
// does them again so that it reads paths the same way in any proxy-wasm host.

export function matchingPath(raw: string): string {
  let end = raw.length;
  const query = raw.indexOf("?");
  if (query >= 0) end = query;
  const fragment = raw.indexOf("#");
  if (fragment >= 0 && fragment < end) end = fragment;
  const decoded = decodeUnreserved(raw.substring(0, end));

  const segments = new Array<string>();
  const parts = decoded.split("/");
  // parts[0] is what precedes the first "/" (empty for an origin-form path).
  for (let i = 0; i < parts.length; i++) {
    const params = parts[i].indexOf(";");
    const part = params < 0 ? parts[i] : parts[i].substring(0, params);
    if (part.length == 0 || part == ".") continue;
    if (part == "..") {
      if (segments.length > 0) segments.pop();
      continue;
    }
    segments.push(part);
  }
  let path = "/" + segments.join("/");
  // A trailing "/" (or a final "." / ".." segment, which names a folder) is kept.
  const lastPart = parts.length > 0 ? parts[parts.length - 1] : "";
  const lastParams = lastPart.indexOf(";");
  const last = lastParams < 0 ? lastPart : lastPart.substring(0, lastParams);
  const endsAsFolder = last.length == 0 || last == "." || last == "..";
  if (endsAsFolder && segments.length > 0) path += "/";
  return path;
}

/** The value of one hex digit (either case), or -1. */
export function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function isUnreserved(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
}

const HEX_DIGITS = "0123456789ABCDEF";

function decodeUnreserved(path: string): string {
  if (!path.includes("%")) return path;
  let out = "";
  let i = 0;
  while (i < path.length) {
    const c = path.charCodeAt(i);
    if (c == 0x25 && i + 2 < path.length) {
      const high = hexValue(path.charCodeAt(i + 1));
      const low = hexValue(path.charCodeAt(i + 2));
      if (high >= 0 && low >= 0) {
        const byte = (high << 4) | low;
        out += isUnreserved(byte) ? String.fromCharCode(byte) : "%" + HEX_DIGITS.charAt(high) + HEX_DIGITS.charAt(low);
        i += 3;
        continue;
      }
    }
    out += String.fromCharCode(c);
    i++;
  }
  return out;
}
