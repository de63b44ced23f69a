// Admin route patterns: `/filters/:name/versions/:version` (a `:name` segment matches one
// non-empty segment, percent-decoded) and a final `*` for everything below a prefix. A path
// that several patterns match takes the most specific one, segment by segment (a literal over
// a parameter over `*`), whatever the order routes were listed in, so `/chain/history` is never
// read as `/chain/:revision`.

type Segment = { literal: string } | { param: string } | { rest: true };

export class PathPattern {
  private readonly segments: readonly Segment[];

  constructor(readonly pattern: string) {
    if (!pattern.startsWith('/')) throw new Error(`admin route pattern ${pattern} must start with /`);
    this.segments = pattern
      .slice(1)
      .split('/')
      .map((part, index, parts): Segment => {
        if (part === '*') {
          if (index !== parts.length - 1) throw new Error(`admin route pattern ${pattern}: * must be the last segment`);
          return { rest: true };
        }
        return part.startsWith(':') ? { param: part.slice(1) } : { literal: part };
      });
  }

  /** The parameters when `path` (without query) matches, else undefined. */
  match(path: string): Record<string, string> | undefined {
    const parts = path.slice(1).split('/');
    const params: Record<string, string> = {};
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i]!;
      if ('rest' in segment) return params;
      const part = parts[i];
      if (part === undefined) return undefined;
      if ('literal' in segment) {
        if (part !== segment.literal) return undefined;
        continue;
      }
      if (part === '') return undefined;
      const value = decode(part);
      if (value === undefined) return undefined;
      params[segment.param] = value;
    }
    return parts.length === this.segments.length ? params : undefined;
  }

  /** Negative when this pattern is more specific than `other` (sorts first). */
  compare(other: PathPattern): number {
    const length = Math.max(this.segments.length, other.segments.length);
    for (let i = 0; i < length; i++) {
      const difference = rank(this.segments[i]) - rank(other.segments[i]);
      if (difference !== 0) return difference;
    }
    return 0;
  }
}

function rank(segment: Segment | undefined): number {
  if (segment === undefined) return 0;
  if ('literal' in segment) return 1;
  return 'param' in segment ? 2 : 3;
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined; // malformed percent-encoding: no match, so a 404
  }
}
