// The one request path every filter and the upstream see, made once before any filter runs
// (Envoy's normalize_path, merge_slashes and path_with_escaped_slashes_action). A filter that
// decides on `/private/` and an upstream that would itself resolve `/x/../private/x`,
// `/%70rivate/x` or `//private/x` to `/private/x` must read the same path, or the filter's
// decision protects nothing.
//
// Only the path is touched, never the query. Matrix parameters (`;a=b`) are left as they are:
// they mean different things to different servers; filters that match prefixes strip them
// for matching (sdk/assembly/path.ts).

export type EscapedSlashAction = 'reject' | 'keep' | 'decode';

export interface PathRules {
  /** Decode percent-encoded unreserved characters and resolve `.` / `..` segments (RFC 3986). */
  normalize: boolean;
  /** Runs of `/` become one. */
  mergeSlashes: boolean;
  /** `%2F`, `%5C` and `\`: refuse the request, forward them as they are, or read them as `/`. */
  escapedSlashes: EscapedSlashAction;
}

/** Why a request target is refused (the 400's body says it). */
export class PathRefusal {
  constructor(readonly reason: string) {}
}

/** A request target in origin form (`/path?query`) and the authority an absolute-form target named. */
export interface OriginForm {
  target: string;
  /** Set when the client sent `GET http://host/path`: RFC 9112 §3.2.2 says it wins over Host. */
  authority?: string;
}

const ABSOLUTE_FORM = /^https?:\/\//i;
/** Anything but visible ASCII: what no request target may carry (and what h1-upstream.ts refuses). */
const INVALID_TARGET = /[^\x21-\x7e]/;
/** A path that has nothing to normalize: no escape, no backslash, no `//`, no dot segment. */
const NEEDS_WORK = /[%\\]|\/\/|\/\.\.?(?:\/|$)/;

/** `http://host/x?y` -> `/x?y` plus `host`; an origin-form target as it is; others refused. */
export function originForm(target: string): OriginForm | PathRefusal {
  if (INVALID_TARGET.test(target)) return new PathRefusal('invalid character in the request target');
  if (target.charCodeAt(0) === 47 /* '/' */) return { target };
  if (!ABSOLUTE_FORM.test(target)) return new PathRefusal('request target must be a path (/...) or an absolute http(s) URL');
  const start = target.indexOf('//') + 2;
  let end = start;
  while (end < target.length && target[end] !== '/' && target[end] !== '?') end++;
  const authority = target.slice(start, end);
  if (authority === '' || authority.includes('@')) return new PathRefusal('request target has no host, or has user information');
  const rest = target.slice(end);
  return { target: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* '?' */ ? `/${rest}` : rest, authority };
}

/** The normalized form of an origin-form target (`/path?query`), or why it is refused. */
export function normalizeTarget(target: string, rules: PathRules): string | PathRefusal {
  const queryAt = target.indexOf('?');
  const path = queryAt < 0 ? target : target.slice(0, queryAt);
  if (path.includes('#')) return new PathRefusal('request target has a fragment (#)');
  if (!NEEDS_WORK.test(path)) return target;
  const decoded = decodePath(path, rules);
  if (decoded instanceof PathRefusal) return decoded;
  let normalized = rules.mergeSlashes ? decoded.replace(/\/{2,}/g, '/') : decoded;
  if (rules.normalize) normalized = removeDotSegments(normalized);
  return queryAt < 0 ? normalized : normalized + target.slice(queryAt);
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX = /^[0-9A-Fa-f]{2}$/;

/** Escapes decoded (unreserved ones) or upper-cased (the rest), and escaped slashes handled. */
function decodePath(path: string, rules: PathRules): string | PathRefusal {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i]!;
    if (char === '\\') {
      if (rules.escapedSlashes === 'reject') return new PathRefusal('backslash in path');
      out += rules.escapedSlashes === 'decode' ? '/' : char;
      continue;
    }
    if (char !== '%') {
      out += char;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    // A lone `%` means different things to different servers: refuse rather than guess.
    if (!HEX.test(hex)) return new PathRefusal('invalid percent-encoding in path');
    i += 2;
    const decoded = String.fromCharCode(parseInt(hex, 16));
    if (decoded === '/' || decoded === '\\') {
      if (rules.escapedSlashes === 'reject') return new PathRefusal(`escaped slash (%${hex.toUpperCase()}) in path`);
      out += rules.escapedSlashes === 'decode' ? '/' : `%${hex.toUpperCase()}`;
    } else if (rules.normalize && UNRESERVED.test(decoded)) {
      out += decoded;
    } else {
      out += rules.normalize ? `%${hex.toUpperCase()}` : `%${hex}`;
    }
  }
  return out;
}

/** RFC 3986 §5.2.4 on a path that starts with `/`: `.` and `..` resolved, never above the root. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const kept: string[] = [];
  let endsAsFolder = false;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') kept.pop();
      // A final `.` or `..` names a folder: the path keeps its trailing `/`.
      endsAsFolder = last;
      continue;
    }
    kept.push(segment);
  }
  const resolved = `/${kept.join('/')}`;
  return endsAsFolder && kept.length > 0 ? `${resolved}/` : resolved;
}
