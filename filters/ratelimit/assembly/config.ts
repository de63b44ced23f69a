// The ratelimit configuration: a list of rules, each a token bucket per key. See ../README.md.

import { JsonKind, JsonValue, PropertyPath, getSourceIp, requestHeaders } from "../../../sdk/assembly";
import { ConfigReader, describe } from "../../../sdk/assembly/config-reader";

const NS_PER_SECOND: f64 = 1e9;
/** Buckets a rule keeps when max_keys is not given. */
const DEFAULT_MAX_KEYS: i64 = 10_000;
/** Buckets per shared-data entry (a set): a new key takes the least recently used one of its set. */
export const BUCKET_WAYS: i32 = 4;
const ROUTE_NAME = new PropertyPath(["weft", "route", "name"]);
const KEY_FORMS = "\"source_address\", \"route\", \"global\" or {\"header\": \"<name>\"}";
const RULE_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

/** What a rule counts requests by. */
export enum KeyKind {
  SourceAddress,
  Header,
  Route,
  Global,
}

export class Rule {
  name: string = "";
  keyKind: KeyKind = KeyKind.SourceAddress;
  /** Lowercase header name, for KeyKind.Header. */
  headerName: string = "";
  /** Tokens added per `per`. */
  rate: i64 = 0;
  per: string = "second";
  /** Bucket size: the most requests allowed at once. */
  burst: i64 = 0;
  pathPrefix: string = "";
  /** Upper-case methods; empty = any. */
  methods: Array<string> = new Array<string>();
  /**
   * Shared-data key of each request key seen: the same string object for the same client, which
   * the SDK then encodes once instead of a fresh concatenation, encoded afresh, per request.
   */
  /** Most buckets kept (keys seen at once); rounded up to whole sets of BUCKET_WAYS. */
  maxKeys: i64 = DEFAULT_MAX_KEYS;
  /** Number of sets: shared-data entries `ratelimit.<name>.<set>`. */
  sets: i32 = 1;
  /** The shared-data keys of the sets, built once each. */
  private setKeys: StaticArray<string | null> = new StaticArray<string | null>(0);
  /** Refill speed, tokens per nanosecond. */
  tokensPerNs: f64 = 0;
  /** Refill speed, tokens per second (for the headers' second counts). */
  tokensPerSecond: f64 = 0;

  /** Whether the current request is one this rule limits. */
  /** Whether `matches` looks at the method or the path (else every request matches). */
  get hasMatch(): bool {
    return this.pathPrefix.length > 0 || this.methods.length > 0;
  }

  matches(method: string, path: string): bool {
    if (this.pathPrefix.length > 0 && !path.startsWith(this.pathPrefix)) return false;
    return this.methods.length == 0 || this.methods.includes(method);
  }

  /** The bucket the current request draws from, or null when the request has no such key. */
  keyOfRequest(): string | null {
    switch (this.keyKind) {
      case KeyKind.SourceAddress: return getSourceIp();
      case KeyKind.Header: return requestHeaders.get(this.headerName);
      case KeyKind.Route: return ROUTE_NAME.getString();
      default: return "";
    }
  }

  /** Sizes the table: called once the configuration is read. */
  sizeTable(): void {
    this.sets = <i32>((this.maxKeys + BUCKET_WAYS - 1) / BUCKET_WAYS);
    this.setKeys = new StaticArray<string | null>(this.sets);
  }

  /** Shared-data key of the set that holds the bucket of a key hashing to `hash`. */
  setKey(hash: u64): string {
    const index = <i32>(hash % <u64>this.sets);
    let key = unchecked(this.setKeys[index]);
    if (key === null) {
      key = "ratelimit." + this.name + "." + index.toString();
      unchecked((this.setKeys[index] = key));
    }
    return key;
  }
}

export class RateLimitConfig {
  rules: Array<Rule> = new Array<Rule>();
  /** Add RateLimit-* headers to allowed responses too (429s always carry them). */
  responseHeaders: bool = false;
}

/** Parses the plugin configuration; null (with every problem in `reader`) when it is not valid. */
export function parseConfig(config: JsonValue, reader: ConfigReader): RateLimitConfig | null {
  const parsed = new RateLimitConfig();
  if (!reader.expectObject(config, "", ["rules", "response_headers"])) return null;
  parsed.responseHeaders = reader.boolean(config, "", "response_headers", false);
  const rules = config.get("rules");
  if (rules === null || rules.kind != JsonKind.Array || rules.asArray().length == 0) {
    reader.fail("rules", rules === null ? "is required" : "must be a non-empty list of rules, not " + describe(rules));
    return null;
  }
  const items = rules.asArray();
  for (let i = 0; i < items.length; i++) {
    const rule = parseRule(items[i], "rules[" + i.toString() + "]", reader);
    if (rule === null) continue;
    for (let j = 0; j < parsed.rules.length; j++) {
      if (parsed.rules[j].name == rule.name) {
        reader.fail("rules[" + i.toString() + "].name", "\"" + rule.name + "\" is already used by rules[" + j.toString() + "]");
      }
    }
    parsed.rules.push(rule);
  }
  return reader.ok ? parsed : null;
}

function parseRule(value: JsonValue, path: string, reader: ConfigReader): Rule | null {
  if (!reader.expectObject(value, path, ["name", "key", "rate", "per", "burst", "match", "max_keys"])) return null;
  const rule = new Rule();
  rule.name = reader.string(value, path, "name", "");
  if (rule.name.length == 0 || !onlyNameChars(rule.name)) {
    reader.fail(path + ".name", value.has("name") ? "must use only letters, digits, \"_\" and \"-\"" : "is required");
  }
  parseKey(value.get("key"), path + ".key", rule, reader);
  if (!value.has("rate")) reader.fail(path + ".rate", "is required");
  rule.rate = reader.integer(value, path, "rate", 1, 1);
  rule.per = reader.choice(value, path, "per", "second", ["second", "minute", "hour"]);
  rule.burst = reader.integer(value, path, "burst", rule.rate, 1);
  rule.maxKeys = reader.integer(value, path, "max_keys", DEFAULT_MAX_KEYS, 1);
  rule.sizeTable();
  const match = value.get("match");
  if (match !== null && reader.expectObject(match, path + ".match", ["path_prefix", "methods"])) {
    rule.pathPrefix = reader.string(match, path + ".match", "path_prefix", "");
    const methods = match.get("methods");
    if (methods !== null) {
      const list = methods.asArray();
      if (methods.kind != JsonKind.Array || list.length == 0) reader.fail(path + ".match.methods", "must be a non-empty list of methods");
      for (let i = 0; i < list.length; i++) {
        if (list[i].kind != JsonKind.String) reader.fail(path + ".match.methods[" + i.toString() + "]", "must be a string");
        else rule.methods.push(list[i].asString().toUpperCase());
      }
    }
  }
  const periodSeconds: f64 = rule.per == "second" ? 1 : rule.per == "minute" ? 60 : 3600;
  rule.tokensPerSecond = <f64>rule.rate / periodSeconds;
  rule.tokensPerNs = rule.tokensPerSecond / NS_PER_SECOND;
  return rule;
}

function parseKey(key: JsonValue | null, path: string, rule: Rule, reader: ConfigReader): void {
  if (key === null) {
    reader.fail(path, "is required: " + KEY_FORMS);
    return;
  }
  const expected = "must be " + KEY_FORMS;
  if (key.kind == JsonKind.String) {
    const kind = key.asString();
    if (kind == "source_address") rule.keyKind = KeyKind.SourceAddress;
    else if (kind == "route") rule.keyKind = KeyKind.Route;
    else if (kind == "global") rule.keyKind = KeyKind.Global;
    else reader.fail(path, expected + ", not " + describe(key));
    return;
  }
  if (key.kind == JsonKind.Object) {
    reader.expectObject(key, path, ["header"]);
    const header = reader.string(key, path, "header", "");
    if (header.length == 0) reader.fail(path + ".header", "must name a header");
    rule.keyKind = KeyKind.Header;
    rule.headerName = header.toLowerCase();
    return;
  }
  reader.fail(path, expected + ", not " + describe(key));
}

function onlyNameChars(name: string): bool {
  for (let i = 0; i < name.length; i++) {
    if (!RULE_NAME_CHARS.includes(name.charAt(i))) return false;
  }
  return true;
}
