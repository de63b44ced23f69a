// The router's configuration, checked and turned into Routes once, in onConfigure. Every mistake
// is reported with where it is (`routes[2].match.regex: missing ')' at offset 7`) and makes the
// filter refuse to start, rather than routing in a way nobody asked for.

import { Header, JsonKind, JsonValue } from "../../../sdk/assembly";
import { compileRegex } from "./regex";
import {
  HEADER_ABSENT, HEADER_EXACT, HEADER_PRESENT, HEADER_REGEX, HOST_EXACT, HOST_SUFFIX, HeaderCondition,
  PATH_EXACT, PATH_PREFIX, PATH_REGEX, PropertySetting, Route, WeightedCluster, WeightedClusters,
} from "./routes";

const RETRY_CONDITIONS = [
  "5xx", "gateway-error", "connect-failure", "reset", "retriable-4xx",
  // gRPC statuses of a trailers-only answer (Envoy's retry_on names)
  "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
];
const DEFAULT_RETRY_ON = "gateway-error,connect-failure,reset";

const ROUTE_FIELDS = [
  "name", "match", "cluster", "weighted_clusters", "direct_response", "prefix_rewrite", "host_rewrite", "timeout_ms", "retry",
];
const MATCH_FIELDS = ["host", "path", "prefix", "regex", "methods", "headers"];

export class RouterConfig {
  routes: Array<Route> = [];
  /** Empty when the configuration is valid. */
  error: string = "";
}

/**
 * Parses `{"routes": [...]}`. `knownClusters` (from the host's `weft.clusters`, when it has it)
 * lets a misspelt cluster name fail here instead of on every request.
 */
export function parseRouterConfig(json: JsonValue, knownClusters: Array<string> | null): RouterConfig {
  const reader = new Reader(knownClusters);
  const config = new RouterConfig();
  if (reader.checkFields(json, ["routes"], "config")) {
    const routes = json.get("routes");
    if (routes === null || routes.kind != JsonKind.Array) {
      reader.fail("config.routes", "is required and must be a list of routes");
    } else {
      const list = routes.asArray();
      for (let i = 0; i < list.length && reader.ok; i++) {
        const route = reader.route(list[i], "routes[" + i.toString() + "]", i);
        if (route !== null) config.routes.push(route);
      }
    }
  }
  config.error = reader.error;
  return config;
}

class Reader {
  error: string = "";
  private readonly knownClusters: Array<string> | null;

  constructor(knownClusters: Array<string> | null) {
    this.knownClusters = knownClusters;
  }

  get ok(): bool {
    return this.error.length == 0;
  }

  fail(where: string, message: string): void {
    if (this.ok) this.error = where + ": " + message;
  }

  /** `value` is an object whose fields are all in `allowed` (a misspelt field is an error). */
  checkFields(value: JsonValue, allowed: Array<string>, where: string): bool {
    if (value.kind != JsonKind.Object) {
      this.fail(where, "must be an object");
      return false;
    }
    const keys = value.objectKeys();
    for (let i = 0; i < keys.length; i++) {
      if (!allowed.includes(keys[i])) {
        this.fail(where, "unknown field \"" + keys[i] + "\" (expected " + allowed.join(", ") + ")");
        return false;
      }
    }
    return true;
  }

  /** A string field; null when absent (or, after failing, when it is not a string). */
  string(object: JsonValue, key: string, where: string): string | null {
    const value = object.get(key);
    if (value === null) return null;
    if (value.kind != JsonKind.String) {
      this.fail(where + "." + key, "must be a string");
      return null;
    }
    return value.asString();
  }

  /** An integer field within [min, max]; `fallback` when absent. */
  integer(object: JsonValue, key: string, where: string, min: i64, max: i64, fallback: i64): i64 {
    const value = object.get(key);
    if (value === null) return fallback;
    if (value.kind != JsonKind.Integer || value.asInteger() < min || value.asInteger() > max) {
      this.fail(where + "." + key, "must be an integer from " + min.toString() + " to " + max.toString());
      return fallback;
    }
    return value.asInteger();
  }

  route(value: JsonValue, where: string, index: i32): Route | null {
    if (!this.checkFields(value, ROUTE_FIELDS, where)) return null;
    const name = this.string(value, "name", where);
    const route = new Route(name !== null && name.length > 0 ? name : "route-" + index.toString());
    const match = value.get("match");
    if (match === null) this.fail(where + ".match", "is required ({} matches every request)");
    else this.match(route, match, where + ".match");
    this.action(route, value, where);
    this.rewrites(route, value, where);
    this.settings(route, value, where);
    return this.ok ? route : null;
  }

  private match(route: Route, match: JsonValue, where: string): void {
    if (!this.checkFields(match, MATCH_FIELDS, where)) return;
    const host = this.string(match, "host", where);
    if (host !== null) this.host(route, host.toLowerCase(), where + ".host");

    let pathKinds = 0;
    const path = this.string(match, "path", where);
    const prefix = this.string(match, "prefix", where);
    const regex = this.string(match, "regex", where);
    if (path !== null) {
      pathKinds++;
      route.pathKind = PATH_EXACT;
      route.path = this.absolutePath(path, where + ".path");
    }
    if (prefix !== null) {
      pathKinds++;
      route.pathKind = PATH_PREFIX;
      route.path = this.absolutePath(prefix, where + ".prefix");
    }
    if (regex !== null) {
      pathKinds++;
      route.pathKind = PATH_REGEX;
      const compiled = compileRegex(regex);
      if (!compiled.valid) this.fail(where + ".regex", "'" + regex + "': " + compiled.error);
      route.regex = compiled;
    }
    if (pathKinds > 1) this.fail(where, "give one of path, prefix and regex");

    const methods = match.get("methods");
    if (methods !== null) {
      const list = methods.asArray();
      if (methods.kind != JsonKind.Array || list.length == 0) this.fail(where + ".methods", "must be a non-empty list of methods");
      for (let i = 0; i < list.length; i++) {
        if (list[i].kind != JsonKind.String) this.fail(where + ".methods", "must be a list of strings");
        else route.methods.push(list[i].asString().toUpperCase());
      }
    }

    const headers = match.get("headers");
    if (headers !== null) {
      if (headers.kind != JsonKind.Array) this.fail(where + ".headers", "must be a list of {name, exact | present | regex}");
      const list = headers.asArray();
      for (let i = 0; i < list.length; i++) {
        const condition = this.header(list[i], where + ".headers[" + i.toString() + "]");
        if (condition !== null) route.headers.push(condition);
      }
    }
  }

  private host(route: Route, host: string, where: string): void {
    if (host == "*") return; // any host: same as no condition
    route.hostHasPort = host.lastIndexOf(":") > host.lastIndexOf("]");
    if (host.startsWith("*.") && host.length > 2) {
      route.hostKind = HOST_SUFFIX;
      route.host = host.substring(1);
    } else {
      route.hostKind = HOST_EXACT;
      route.host = host;
    }
    if (host.length == 0 || route.host.includes("*")) {
      this.fail(where, "'" + host + "' must be a host name, '*.' followed by a domain, or '*'");
    }
  }

  private absolutePath(path: string, where: string): string {
    if (!path.startsWith("/")) this.fail(where, "'" + path + "' must start with '/'");
    if (path.includes("?")) this.fail(where, "'" + path + "' must not contain a query: paths are matched without it");
    return path;
  }

  private header(value: JsonValue, where: string): HeaderCondition | null {
    if (!this.checkFields(value, ["name", "exact", "present", "regex"], where)) return null;
    const name = this.string(value, "name", where);
    if (name === null || name.length == 0) {
      this.fail(where + ".name", "is required");
      return null;
    }
    const exact = this.string(value, "exact", where);
    const regex = this.string(value, "regex", where);
    const present = value.get("present");
    let kinds = 0;
    const condition = new HeaderCondition(name.toLowerCase(), HEADER_EXACT);
    if (exact !== null) {
      kinds++;
      condition.value = exact;
    }
    if (regex !== null) {
      kinds++;
      condition.kind = HEADER_REGEX;
      const compiled = compileRegex(regex);
      if (!compiled.valid) this.fail(where + ".regex", "'" + regex + "': " + compiled.error);
      condition.regex = compiled;
    }
    if (present !== null) {
      kinds++;
      if (present.kind != JsonKind.Bool) this.fail(where + ".present", "must be true or false");
      condition.kind = present.asBool() ? HEADER_PRESENT : HEADER_ABSENT;
    }
    if (kinds != 1) this.fail(where, "give exactly one of exact, present and regex");
    return condition;
  }

  private action(route: Route, value: JsonValue, where: string): void {
    const cluster = this.string(value, "cluster", where);
    const weighted = value.get("weighted_clusters");
    const direct = value.get("direct_response");
    const actions = (cluster !== null ? 1 : 0) + (weighted !== null ? 1 : 0) + (direct !== null ? 1 : 0);
    if (actions != 1) {
      this.fail(where, "give exactly one of cluster, weighted_clusters and direct_response");
      return;
    }
    if (cluster !== null) {
      this.checkCluster(cluster, where + ".cluster");
      route.cluster = String.UTF8.encode(cluster);
    } else if (weighted !== null) {
      route.weighted = this.weightedClusters(weighted, where + ".weighted_clusters");
    } else {
      this.directResponse(route, direct!, where + ".direct_response");
    }
  }

  private checkCluster(name: string, where: string): void {
    if (name.length == 0) {
      this.fail(where, "must not be empty");
      return;
    }
    const known = this.knownClusters;
    if (known !== null && !known.includes(name)) {
      this.fail(where, "unknown cluster \"" + name + "\" (clusters: " + known.join(", ") + ")");
    }
  }

  private weightedClusters(value: JsonValue, where: string): WeightedClusters | null {
    if (!this.checkFields(value, ["clusters", "sticky"], where)) return null;
    const weighted = new WeightedClusters();
    const clusters = value.get("clusters");
    const list = clusters === null ? new Array<JsonValue>() : clusters.asArray();
    if (list.length == 0) this.fail(where + ".clusters", "must be a non-empty list of {name, weight}");
    for (let i = 0; i < list.length; i++) {
      const at = where + ".clusters[" + i.toString() + "]";
      if (!this.checkFields(list[i], ["name", "weight"], at)) return null;
      const name = this.string(list[i], "name", at);
      if (name === null) this.fail(at + ".name", "is required");
      else this.checkCluster(name, at + ".name");
      const weight = this.integer(list[i], "weight", at, 0, 1000000, -1);
      if (weight < 0) this.fail(at + ".weight", "is required (an integer from 0 to 1000000)");
      if (this.ok) weighted.add(new WeightedCluster(name!, <u64>weight));
    }
    if (this.ok && weighted.total == 0) this.fail(where + ".clusters", "weights must not all be 0");

    const sticky = value.get("sticky");
    if (sticky !== null && this.checkFields(sticky, ["header", "cookie"], where + ".sticky")) {
      const header = this.string(sticky, "header", where + ".sticky");
      const cookie = this.string(sticky, "cookie", where + ".sticky");
      if ((header === null) == (cookie === null)) this.fail(where + ".sticky", "give one of header and cookie");
      else if (header !== null) weighted.stickyHeader = header.toLowerCase();
      else weighted.stickyCookie = cookie!;
    }
    return weighted;
  }

  private directResponse(route: Route, value: JsonValue, where: string): void {
    if (!this.checkFields(value, ["status", "body", "headers"], where)) return;
    route.directStatus = <u32>this.integer(value, "status", where, 200, 599, 0);
    if (route.directStatus == 0) this.fail(where + ".status", "is required (200-599)");
    const body = this.string(value, "body", where);
    route.directBody = body !== null ? body : "";
    const headers = value.get("headers");
    let hasContentType = false;
    if (headers !== null) {
      if (headers.kind != JsonKind.Object) this.fail(where + ".headers", "must be an object of header: value");
      const names = headers.objectKeys();
      for (let i = 0; i < names.length; i++) {
        const headerValue = headers.get(names[i])!;
        if (headerValue.kind != JsonKind.String) this.fail(where + ".headers." + names[i], "must be a string");
        const name = names[i].toLowerCase();
        if (name == "content-type") hasContentType = true;
        route.directHeaders.push(new Header(name, headerValue.asString()));
      }
    }
    if (!hasContentType) {
      route.directHeaders.push(new Header("content-type", "text/plain"));
    }
  }

  private rewrites(route: Route, value: JsonValue, where: string): void {
    const prefixRewrite = this.string(value, "prefix_rewrite", where);
    const hostRewrite = this.string(value, "host_rewrite", where);
    if (route.directStatus != 0 && (prefixRewrite !== null || hostRewrite !== null)) {
      this.fail(where, "a direct_response route has no upstream request to rewrite");
    }
    if (prefixRewrite !== null) {
      if (route.pathKind != PATH_PREFIX && route.pathKind != PATH_EXACT) {
        this.fail(where + ".prefix_rewrite", "needs match.prefix or match.path (the part it replaces)");
      }
      if (!prefixRewrite.startsWith("/")) this.fail(where + ".prefix_rewrite", "'" + prefixRewrite + "' must start with '/'");
      route.prefixRewrite = prefixRewrite;
    }
    if (hostRewrite !== null) {
      if (hostRewrite.length == 0) this.fail(where + ".host_rewrite", "must not be empty");
      route.hostRewrite = hostRewrite;
    }
  }

  private settings(route: Route, value: JsonValue, where: string): void {
    const timeout = this.integer(value, "timeout_ms", where, 0, 86400000, -1);
    if (timeout >= 0) route.settings.push(new PropertySetting(["weft", "route", "timeout_ms"], timeout.toString()));
    const retry = value.get("retry");
    if (retry === null) return;
    const at = where + ".retry";
    if (route.directStatus != 0) this.fail(at, "a direct_response route sends nothing upstream to retry");
    if (!this.checkFields(retry, ["attempts", "on", "per_try_timeout_ms"], at)) return;
    const attempts = this.integer(retry, "attempts", at, 0, 10, 1);
    route.settings.push(new PropertySetting(["weft", "route", "retry", "attempts"], attempts.toString()));
    route.settings.push(new PropertySetting(["weft", "route", "retry", "on"], this.retryOn(retry.get("on"), at + ".on")));
    const perTry = this.integer(retry, "per_try_timeout_ms", at, 1, 86400000, -1);
    if (perTry > 0) {
      route.settings.push(new PropertySetting(["weft", "route", "retry", "per_try_timeout_ms"], perTry.toString()));
    }
  }

  /** `on` as a list or a comma-separated string, checked against the conditions the host knows. */
  private retryOn(value: JsonValue | null, where: string): string {
    if (value === null) return DEFAULT_RETRY_ON;
    let conditions = new Array<string>();
    if (value.kind == JsonKind.String) {
      conditions = value.asString().split(",");
    } else if (value.kind == JsonKind.Array) {
      const list = value.asArray();
      for (let i = 0; i < list.length; i++) conditions.push(list[i].asString());
    } else {
      this.fail(where, "must be a list or a comma-separated string");
    }
    const cleaned = new Array<string>();
    for (let i = 0; i < conditions.length; i++) {
      const condition = conditions[i].trim();
      if (!RETRY_CONDITIONS.includes(condition)) {
        this.fail(where, "unknown retry condition '" + condition + "' (known: " + RETRY_CONDITIONS.join(", ") + ")");
      }
      cleaned.push(condition);
    }
    if (cleaned.length == 0) this.fail(where, "must name at least one condition");
    return cleaned.join(",");
  }
}
