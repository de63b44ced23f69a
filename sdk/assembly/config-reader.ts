// Reads a filter's JSON configuration field by field and collects every mistake with the
// path of the field it concerns (`rules[1].rate must be an integer >= 1, not "ten"`), so
// onConfigure can log them all at once and return false. Objects are checked against the
// keys they may have: a misspelt key is an error, not a setting silently ignored.
//
//   const reader = new ConfigReader();
//   reader.expectObject(config, "", ["rate", "burst", "deny_paths", "limits"]);
//   const rate = reader.integer(config, "", "rate", 10, 1);
//   const denied = reader.stringList(config, "", "deny_paths");      // "/admin" alone is an error
//   const limits = reader.object(config, "", "limits", ["per_second"]);
//   if (limits !== null) reader.number(limits, "limits", "per_second", 1.0, 0.0);
//   if (!reader.ok) { logError("my-filter: " + reader.message()); return false; }

import { JsonKind, JsonValue } from "./json";

export class ConfigReader {
  readonly errors: Array<string> = new Array<string>();

  get ok(): bool {
    return this.errors.length == 0;
  }

  /** Every error, joined with "; ". */
  message(): string {
    return this.errors.join("; ");
  }

  fail(path: string, problem: string): void {
    this.errors.push((path.length > 0 ? path + " " : "") + problem);
  }

  /**
   * True when `value` is an object. Keys not in `allowed` are recorded as errors, and the
   * object is still read, so one run reports every mistake.
   */
  expectObject(value: JsonValue, path: string, allowed: Array<string>): bool {
    if (value.kind != JsonKind.Object) {
      this.fail(path.length > 0 ? path : "the configuration", "must be an object, not " + describe(value));
      return false;
    }
    const keys = value.objectKeys();
    for (let i = 0; i < keys.length; i++) {
      if (!allowed.includes(keys[i])) this.fail(join(path, keys[i]), "is not a known field (known: " + allowed.join(", ") + ")");
    }
    return true;
  }

  /** An integer member >= min; `fallback` when absent. */
  integer(object: JsonValue, path: string, key: string, fallback: i64, min: i64): i64 {
    const value = object.get(key);
    if (value === null) return fallback;
    if (value.kind != JsonKind.Integer || value.asInteger() < min) {
      this.fail(join(path, key), "must be an integer >= " + min.toString() + ", not " + describe(value));
      return fallback;
    }
    return value.asInteger();
  }

  /** A string member; `fallback` when absent. */
  string(object: JsonValue, path: string, key: string, fallback: string): string {
    const value = object.get(key);
    if (value === null) return fallback;
    if (value.kind != JsonKind.String) {
      this.fail(join(path, key), "must be a string, not " + describe(value));
      return fallback;
    }
    return value.asString();
  }

  /** A boolean member; `fallback` when absent. */
  boolean(object: JsonValue, path: string, key: string, fallback: bool): bool {
    const value = object.get(key);
    if (value === null) return fallback;
    if (value.kind != JsonKind.Bool) {
      this.fail(join(path, key), "must be true or false, not " + describe(value));
      return fallback;
    }
    return value.asBool();
  }

  /** A string member that must be one of `choices`; `fallback` when absent. */
  choice(object: JsonValue, path: string, key: string, fallback: string, choices: Array<string>): string {
    const value = object.get(key);
    if (value === null) return fallback;
    if (value.kind != JsonKind.String || !choices.includes(value.asString())) {
      this.fail(join(path, key), "must be one of " + choices.join(", ") + ", not " + describe(value));
      return fallback;
    }
    return value.asString();
  }
  /** A number member (integer or not) within [min, max]; `fallback` when absent. */
  number(object: JsonValue, path: string, key: string, fallback: f64, min: f64 = -Infinity, max: f64 = Infinity): f64 {
    const value = object.get(key);
    if (value === null) return fallback;
    if (!value.isNumber || value.asFloat() < min || value.asFloat() > max) {
      this.fail(join(path, key), "must be a number" + range(min, max) + ", not " + describe(value));
      return fallback;
    }
    return value.asFloat();
  }

  /**
   * A list of strings; `fallback` when absent. Anything else, a single string included, is an
   * error naming the field: `deny_paths must be a list of strings, not "/admin"`.
   */
  stringList(object: JsonValue, path: string, key: string, fallback: Array<string> = new Array<string>()): Array<string> {
    const value = object.get(key);
    if (value === null) return fallback;
    const items = value.arrayOrNull();
    if (items === null) {
      this.fail(join(path, key), "must be a list of strings, not " + describe(value));
      return fallback;
    }
    const out = new Array<string>();
    for (let i = 0; i < items.length; i++) {
      const text = items[i].stringOrNull();
      if (text === null) this.fail(join(path, key) + "[" + i.toString() + "]", "must be a string, not " + describe(items[i]));
      else out.push(text);
    }
    return out;
  }

  /**
   * A nested object whose keys must be among `allowed`; null when absent (not an error) or not
   * an object (an error). Read its members with the same reader and path `join(path, key)`.
   */
  object(object: JsonValue, path: string, key: string, allowed: Array<string>): JsonValue | null {
    const value = object.get(key);
    if (value === null) return null;
    return this.expectObject(value, join(path, key), allowed) ? value : null;
  }

  /** A list member (of anything); null when absent (not an error) or not a list (an error). */
  list(object: JsonValue, path: string, key: string): Array<JsonValue> | null {
    const value = object.get(key);
    if (value === null) return null;
    const items = value.arrayOrNull();
    if (items === null) this.fail(join(path, key), "must be a list, not " + describe(value));
    return items;
  }

  /** Records that a required member is missing; returns true when it is present. */
  require(object: JsonValue, path: string, key: string): bool {
    if (object.has(key)) return true;
    this.fail(join(path, key), "is required");
    return false;
  }
}

function range(min: f64, max: f64): string {
  if (min == -Infinity && max == Infinity) return "";
  if (max == Infinity) return " >= " + plain(min);
  if (min == -Infinity) return " <= " + plain(max);
  return " between " + plain(min) + " and " + plain(max);
}

/** A bound as a person writes it: 1, not AssemblyScript's 1.0. */
function plain(value: f64): string {
  return value == Math.floor(value) && Math.abs(value) < 1e15 ? (<i64>value).toString() : value.toString();
}

/** `path.key`, or just `key` at the top level. */
export function join(path: string, key: string): string {
  return path.length > 0 ? path + "." + key : key;
}

/** A short rendering of a value for an error message. */
export function describe(value: JsonValue): string {
  const text = value.stringify();
  return text.length > 40 ? text.substring(0, 37) + "..." : text;
}
