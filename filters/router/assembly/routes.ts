// Routes as the router holds them after configure: every matcher precompiled, every property
// value already encoded, so matching a request reads three pseudo-headers and compares.

import { Random, cookieValue, hash64 } from "../../../sdk/assembly/cluster";
import { Header, requestHeaders } from "../../../sdk/assembly";
import { Regex } from "./regex";

export const HOST_ANY: i32 = 0;
export const HOST_EXACT: i32 = 1;
/** `*.example.com`: any host ending in `.example.com` (not example.com itself). */
export const HOST_SUFFIX: i32 = 2;

export const PATH_ANY: i32 = 0;
export const PATH_EXACT: i32 = 1;
export const PATH_PREFIX: i32 = 2;
export const PATH_REGEX: i32 = 3;

export const HEADER_EXACT: i32 = 0;
export const HEADER_PRESENT: i32 = 1;
export const HEADER_ABSENT: i32 = 2;
export const HEADER_REGEX: i32 = 3;

/** What matchers look at, read once per request. */
export class RequestFacts {
  method: string;
  /** `:path` with its query; matchers look at [0, pathEnd) only. */
  path: string;
  pathEnd: i32;
  /** `:authority` with its port; `hostEnd` is where the port starts (or the length). */
  authority: string;
  hostEnd: i32;

  constructor(method: string, path: string, authority: string) {
    this.method = method;
    this.path = path;
    const query = path.indexOf("?");
    this.pathEnd = query < 0 ? path.length : query;
    this.authority = authority;
    this.hostEnd = portStart(authority);
  }
}

/** Where `:port` starts in an authority ("a.com:80" -> 5, "[::1]:80" -> 5, "a.com" -> 5). */
function portStart(authority: string): i32 {
  const colon = authority.lastIndexOf(":");
  if (colon < 0 || authority.lastIndexOf("]") > colon) return authority.length;
  return colon;
}

/** text[start, end) equals `lower` (already lower case), ignoring ASCII case. */
function equalsIgnoreCase(text: string, start: i32, end: i32, lower: string): bool {
  if (end - start != lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(start + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c != lower.charCodeAt(i)) return false;
  }
  return true;
}

export class HeaderCondition {
  name: string;
  kind: i32;
  value: string = "";
  regex: Regex | null = null;

  constructor(name: string, kind: i32) {
    this.name = name;
    this.kind = kind;
  }

  matches(): bool {
    const value = requestHeaders.get(this.name);
    if (this.kind == HEADER_ABSENT) return value === null;
    if (value === null) return false;
    if (this.kind == HEADER_PRESENT) return true;
    if (this.kind == HEADER_EXACT) return value == this.value;
    return this.regex!.test(value);
  }
}

/** A property the route sets when it matches, with its value already encoded. */
export class PropertySetting {
  path: Array<string>;
  value: ArrayBuffer;

  constructor(path: Array<string>, value: string) {
    this.path = path;
    this.value = String.UTF8.encode(value);
  }
}

export class WeightedCluster {
  name: string;
  nameBytes: ArrayBuffer;
  weight: u64;
  /** Sum of the weights up to and including this one. */
  cumulative: u64 = 0;

  constructor(name: string, weight: u64) {
    this.name = name;
    this.nameBytes = String.UTF8.encode(name);
    this.weight = weight;
  }
}

export class WeightedClusters {
  clusters: Array<WeightedCluster> = [];
  total: u64 = 0;
  /** Sticky key source: a request header or a cookie (empty = not sticky). */
  stickyHeader: string = "";
  stickyCookie: string = "";

  add(cluster: WeightedCluster): void {
    this.total += cluster.weight;
    cluster.cumulative = this.total;
    this.clusters.push(cluster);
  }

  /** A cluster by weight: from the sticky key's hash when there is one, else at random. */
  pick(random: Random): WeightedCluster {
    const key = this.stickyKey();
    const point = key === null ? random.below(this.total) : hash64(key) % this.total;
    const clusters = this.clusters;
    for (let i = 0; i < clusters.length; i++) {
      if (point < clusters[i].cumulative) return clusters[i];
    }
    return clusters[clusters.length - 1];
  }

  private stickyKey(): string | null {
    if (this.stickyHeader.length > 0) return requestHeaders.get(this.stickyHeader);
    if (this.stickyCookie.length > 0) {
      const cookies = requestHeaders.get("cookie");
      return cookies === null ? null : cookieValue(cookies, this.stickyCookie);
    }
    return null;
  }
}

export class Route {
  name: string;
  nameBytes: ArrayBuffer;

  // match
  hostKind: i32 = HOST_ANY;
  /** Lower case; for HOST_SUFFIX the suffix with its leading dot. */
  host: string = "";
  /** The host pattern names a port, so the whole authority is compared. */
  hostHasPort: bool = false;
  pathKind: i32 = PATH_ANY;
  path: string = "";
  regex: Regex | null = null;
  methods: Array<string> = [];
  headers: Array<HeaderCondition> = [];

  // action: exactly one of cluster, weighted, direct response
  cluster: ArrayBuffer | null = null;
  weighted: WeightedClusters | null = null;
  directStatus: u32 = 0;
  directBody: string = "";
  directHeaders: Array<Header> = [];

  // rewrites (null = none) and the weft.route.* settings
  prefixRewrite: string | null = null;
  hostRewrite: string | null = null;
  settings: Array<PropertySetting> = [];

  constructor(name: string) {
    this.name = name;
    this.nameBytes = String.UTF8.encode(name);
  }

  /** Cheapest checks first: host, path, method, then headers (each a host call). */
  matches(facts: RequestFacts): bool {
    if (this.hostKind != HOST_ANY && !this.matchesHost(facts)) return false;
    if (this.pathKind != PATH_ANY && !this.matchesPath(facts)) return false;
    if (this.methods.length > 0 && !this.methods.includes(facts.method)) return false;
    const headers = this.headers;
    for (let i = 0; i < headers.length; i++) {
      if (!headers[i].matches()) return false;
    }
    return true;
  }

  private matchesHost(facts: RequestFacts): bool {
    const authority = facts.authority;
    const end = this.hostHasPort ? authority.length : facts.hostEnd;
    if (this.hostKind == HOST_EXACT) return equalsIgnoreCase(authority, 0, end, this.host);
    const start = end - this.host.length;
    return start > 0 && equalsIgnoreCase(authority, start, end, this.host);
  }

  private matchesPath(facts: RequestFacts): bool {
    const kind = this.pathKind;
    if (kind == PATH_EXACT) return facts.pathEnd == this.path.length && facts.path.startsWith(this.path);
    if (kind == PATH_PREFIX) return this.path.length <= facts.pathEnd && facts.path.startsWith(this.path);
    return this.regex!.testRange(facts.path, facts.pathEnd);
  }

  /**
   * The `:path` after prefix_rewrite: the matched prefix (or, for an exact path, the whole path)
   * replaced, the rest and the query kept.
   */
  rewritePath(facts: RequestFacts): string {
    return this.prefixRewrite! + facts.path.substring(this.path.length);
  }
}
