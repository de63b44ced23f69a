// The three ways an authz rule matches a path. Paths are read as sdk/assembly/path.ts
// normalises them (matchingPath); the request goes upstream as the host sent it.

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

  /** With `ignoreCase`, `pattern` is lower case and so is the path it is compared with. */
  constructor(readonly kind: PathMatchKind, readonly pattern: string, readonly ignoreCase: bool = false) {
    this.glob = kind == PathMatchKind.Glob ? compileGlob(pattern) : new Array<GlobPart>();
  }

  matches(written: string): bool {
    const path = this.ignoreCase ? written.toLowerCase() : written;
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
