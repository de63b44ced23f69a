// Request paths as rules see them, and the three ways a rule matches one.
//
// Rules match the normalised path, so spellings a service treats as the same path cannot slip
// past a rule (`/public/../admin`, `//admin`, `/%61dmin` are all `/admin`), the way Envoy's
// normalize_path + merge_slashes do it:
//   1. the query (`?...`) and fragment (`#...`) are dropped;
//   2. percent-encoded unreserved characters (letters, digits, `-._~`) are decoded, and the hex
//      digits of the other escapes upper-cased (`%2f` -> `%2F`; an encoded `/` stays encoded);
//   3. runs of `/` become one;
//   4. `.` and `..` segments are resolved (RFC 3986 section 5.2.4), never above the root.
// The request goes upstream unchanged: normalising is only how rules read it.

export function normalizePath(raw: string): string {
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
    const part = parts[i];
    if (part.length == 0 || part == ".") continue;
    if (part == "..") {
      if (segments.length > 0) segments.pop();
      continue;
    }
    segments.push(part);
  }
  let path = "/" + segments.join("/");
  // A trailing "/" (or a final "." / ".." segment, which names a folder) is kept.
  const last = parts.length > 0 ? parts[parts.length - 1] : "";
  const endsAsFolder = last.length == 0 || last == "." || last == "..";
  if (endsAsFolder && segments.length > 0) path += "/";
  return path;
}

function hexValue(c: i32): i32 {
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

export enum PathMatchKind {
  Exact,
  Prefix,
  Glob,
}

/** One piece of a glob: literal text, `*` (within a segment) or `**` (across segments). */
class GlobPart {
  constructor(readonly literal: string, readonly wildcard: i32) {}
}

const LITERAL: i32 = 0;
const STAR: i32 = 1;
const DOUBLE_STAR: i32 = 2;

export class PathMatcher {
  private readonly glob: Array<GlobPart>;

  constructor(readonly kind: PathMatchKind, readonly pattern: string) {
    this.glob = kind == PathMatchKind.Glob ? compileGlob(pattern) : new Array<GlobPart>();
  }

  matches(path: string): bool {
    if (this.kind == PathMatchKind.Exact) return path == this.pattern;
    if (this.kind == PathMatchKind.Prefix) return path.startsWith(this.pattern);
    return globMatches(this.glob, path);
  }
}

function compileGlob(pattern: string): Array<GlobPart> {
  const parts = new Array<GlobPart>();
  let literal = "";
  let i = 0;
  while (i < pattern.length) {
    if (pattern.charCodeAt(i) != 0x2a) {
      literal += pattern.charAt(i);
      i++;
      continue;
    }
    if (literal.length > 0) parts.push(new GlobPart(literal, LITERAL));
    literal = "";
    let stars = 0;
    while (i < pattern.length && pattern.charCodeAt(i) == 0x2a) {
      stars++;
      i++;
    }
    parts.push(new GlobPart("", stars >= 2 ? DOUBLE_STAR : STAR));
  }
  if (literal.length > 0) parts.push(new GlobPart(literal, LITERAL));
  return parts;
}

function regionMatches(text: string, offset: i32, literal: string): bool {
  for (let j = 0; j < literal.length; j++) {
    if (text.charCodeAt(offset + j) != literal.charCodeAt(j)) return false;
  }
  return true;
}

/**
 * Whether `path` matches the glob, walking the set of positions each part can end at (no
 * backtracking, so the time is bounded by parts x path length whatever the pattern).
 */
function globMatches(parts: Array<GlobPart>, path: string): bool {
  const length = path.length;
  let reachable = new StaticArray<bool>(length + 1);
  reachable[0] = true;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    const next = new StaticArray<bool>(length + 1);
    let any = false;
    if (part.wildcard == LITERAL) {
      const size = part.literal.length;
      for (let i = 0; i + size <= length; i++) {
        if (reachable[i] && regionMatches(path, i, part.literal)) {
          next[i + size] = true;
          any = true;
        }
      }
    } else {
      // From every reachable start, extend as far as the wildcard allows.
      let open = false;
      for (let i = 0; i <= length; i++) {
        if (reachable[i]) open = true;
        if (open) {
          next[i] = true;
          any = true;
        }
        if (part.wildcard == STAR && i < length && path.charCodeAt(i) == 0x2f) open = false;
      }
    }
    if (!any) return false;
    reachable = next;
  }
  return reachable[length];
}
