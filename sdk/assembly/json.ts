// A small JSON reader and writer for plugin configurations and filter-built responses.
// One value class with a kind tag keeps the API free of casts: ask a value for what you
// expect and give a fallback (config.getString("name", "default")).
// Integers without fraction or exponent stay exact as i64; other numbers are f64.

export enum JsonKind {
  Null,
  Bool,
  Integer,
  Float,
  String,
  Array,
  Object,
}

export class JsonValue {
  readonly kind: JsonKind;
  private boolValue: bool = false;
  private intValue: i64 = 0;
  private floatValue: f64 = 0;
  private stringValue: string = "";
  // Array elements, or object member values (with `keys` alongside, in insertion order).
  private items: Array<JsonValue> | null = null;
  private keys: Array<string> | null = null;

  private constructor(kind: JsonKind) {
    this.kind = kind;
  }

  // ---- construction ----

  static nullValue(): JsonValue {
    return new JsonValue(JsonKind.Null);
  }
  static fromBool(value: bool): JsonValue {
    const v = new JsonValue(JsonKind.Bool);
    v.boolValue = value;
    return v;
  }
  static fromInteger(value: i64): JsonValue {
    const v = new JsonValue(JsonKind.Integer);
    v.intValue = value;
    return v;
  }
  static fromFloat(value: f64): JsonValue {
    const v = new JsonValue(JsonKind.Float);
    v.floatValue = value;
    return v;
  }
  static fromString(value: string): JsonValue {
    const v = new JsonValue(JsonKind.String);
    v.stringValue = value;
    return v;
  }
  static newArray(): JsonValue {
    const v = new JsonValue(JsonKind.Array);
    v.items = new Array<JsonValue>();
    return v;
  }
  static newObject(): JsonValue {
    const v = new JsonValue(JsonKind.Object);
    v.items = new Array<JsonValue>();
    v.keys = new Array<string>();
    return v;
  }

  /** Appends to an array; returns this for chaining. */
  push(value: JsonValue): JsonValue {
    assert(this.kind == JsonKind.Array, "JsonValue.push on a non-array");
    this.items!.push(value);
    return this;
  }

  /** Sets an object member (replacing an existing one); returns this for chaining. */
  set(key: string, value: JsonValue): JsonValue {
    assert(this.kind == JsonKind.Object, "JsonValue.set on a non-object");
    const keys = this.keys!;
    const index = keys.indexOf(key);
    if (index >= 0) {
      this.items![index] = value;
    } else {
      keys.push(key);
      this.items!.push(value);
    }
    return this;
  }

  // Shorthands for building objects.
  setString(key: string, value: string): JsonValue { return this.set(key, JsonValue.fromString(value)); }
  setInteger(key: string, value: i64): JsonValue { return this.set(key, JsonValue.fromInteger(value)); }
  setBool(key: string, value: bool): JsonValue { return this.set(key, JsonValue.fromBool(value)); }

  // ---- reading ----

  get isNull(): bool { return this.kind == JsonKind.Null; }
  get isNumber(): bool { return this.kind == JsonKind.Integer || this.kind == JsonKind.Float; }

  asBool(fallback: bool = false): bool {
    return this.kind == JsonKind.Bool ? this.boolValue : fallback;
  }
  /** Integers as is; floats truncated toward zero. */
  asInteger(fallback: i64 = 0): i64 {
    if (this.kind == JsonKind.Integer) return this.intValue;
    if (this.kind == JsonKind.Float && isFinite(this.floatValue)) return <i64>this.floatValue;
    return fallback;
  }
  asFloat(fallback: f64 = 0): f64 {
    if (this.kind == JsonKind.Float) return this.floatValue;
    if (this.kind == JsonKind.Integer) return <f64>this.intValue;
    return fallback;
  }
  /** The string; `fallback` for anything else (stringOrNull tells the two apart). */
  asString(fallback: string = ""): string {
    return this.kind == JsonKind.String ? this.stringValue : fallback;
  }
  /** Array elements; empty for anything else (arrayOrNull tells the two apart). */
  asArray(): Array<JsonValue> {
    return this.kind == JsonKind.Array ? this.items! : new Array<JsonValue>();
  }
  /** Object member names in document order; empty for anything else. */
  objectKeys(): Array<string> {
    return this.kind == JsonKind.Object ? this.keys! : new Array<string>();
  }

  // Checked forms: null when the value is of another kind, so a wrong kind is never mistaken
  // for an empty one ({"deny_paths": "/admin"} is not an empty list). ConfigReader builds on them.

  /** The string, or null when this is not a string. */
  stringOrNull(): string | null {
    return this.kind == JsonKind.String ? this.stringValue : null;
  }
  /** The elements, or null when this is not an array. */
  arrayOrNull(): Array<JsonValue> | null {
    return this.kind == JsonKind.Array ? this.items! : null;
  }
  /** This value when it is an object, else null. */
  objectOrNull(): JsonValue | null {
    return this.kind == JsonKind.Object ? this : null;
  }
  get isString(): bool { return this.kind == JsonKind.String; }
  get isArray(): bool { return this.kind == JsonKind.Array; }
  get isObject(): bool { return this.kind == JsonKind.Object; }
  get isBool(): bool { return this.kind == JsonKind.Bool; }

  /** Object member, or null when absent or this is not an object. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    const index = this.keys!.indexOf(key);
    return index < 0 ? null : this.items![index];
  }
  has(key: string): bool {
    return this.kind == JsonKind.Object && this.keys!.includes(key);
  }
  getString(key: string, fallback: string = ""): string {
    const v = this.get(key);
    return v === null ? fallback : v.asString(fallback);
  }
  getInteger(key: string, fallback: i64 = 0): i64 {
    const v = this.get(key);
    return v === null ? fallback : v.asInteger(fallback);
  }
  getFloat(key: string, fallback: f64 = 0): f64 {
    const v = this.get(key);
    return v === null ? fallback : v.asFloat(fallback);
  }
  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v === null ? fallback : v.asBool(fallback);
  }
  /** Member `key` as a string; null when absent or of another kind. */
  getStringOrNull(key: string): string | null {
    const v = this.get(key);
    return v === null ? null : v.stringOrNull();
  }
  /** Member `key` as an array; null when absent or of another kind. */
  getArrayOrNull(key: string): Array<JsonValue> | null {
    const v = this.get(key);
    return v === null ? null : v.arrayOrNull();
  }
  /** Member `key` when it is an object; null when absent or of another kind. */
  getObjectOrNull(key: string): JsonValue | null {
    const v = this.get(key);
    return v === null ? null : v.objectOrNull();
  }

  // ---- writing ----

  stringify(): string {
    const parts = new Array<string>();
    this.writeTo(parts);
    return parts.join("");
  }

  private writeTo(out: Array<string>): void {
    switch (this.kind) {
      case JsonKind.Null: out.push("null"); break;
      case JsonKind.Bool: out.push(this.boolValue ? "true" : "false"); break;
      case JsonKind.Integer: out.push(this.intValue.toString()); break;
      case JsonKind.Float: out.push(isFinite(this.floatValue) ? this.floatValue.toString() : "null"); break;
      case JsonKind.String: out.push(quoteJsonString(this.stringValue)); break;
      case JsonKind.Array: {
        const items = this.items!;
        out.push("[");
        for (let i = 0; i < items.length; i++) {
          if (i > 0) out.push(",");
          items[i].writeTo(out);
        }
        out.push("]");
        break;
      }
      case JsonKind.Object: {
        const keys = this.keys!;
        const items = this.items!;
        out.push("{");
        for (let i = 0; i < keys.length; i++) {
          if (i > 0) out.push(",");
          out.push(quoteJsonString(keys[i]));
          out.push(":");
          items[i].writeTo(out);
        }
        out.push("}");
        break;
      }
    }
  }
}

const HEX_DIGITS = "0123456789abcdef";

/** A JSON string literal for `s` (quotes included). */
export function quoteJsonString(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c) { plain = false; break; }
  }
  if (plain) return "\"" + s + "\"";
  const parts = new Array<string>();
  parts.push("\"");
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    if (i > from) parts.push(s.substring(from, i));
    from = i + 1;
    if (c == 0x22) parts.push("\\\"");
    else if (c == 0x5c) parts.push("\\\\");
    else if (c == 0x0a) parts.push("\\n");
    else if (c == 0x0d) parts.push("\\r");
    else if (c == 0x09) parts.push("\\t");
    else if (c == 0x08) parts.push("\\b");
    else if (c == 0x0c) parts.push("\\f");
    else parts.push("\\u00" + HEX_DIGITS.charAt(c >> 4) + HEX_DIGITS.charAt(c & 15));
  }
  if (from < s.length) parts.push(s.substring(from));
  parts.push("\"");
  return parts.join("");
}

/** Parses JSON text; null when it is not valid JSON. Use JsonParser to get the reason. */
export function parseJson(text: string): JsonValue | null {
  return new JsonParser(text).parse();
}

const MAX_DEPTH = 64;

/** Recursive-descent parser over the UTF-16 text. `error` says what went wrong, and where. */
export class JsonParser {
  private text: string;
  private pos: i32 = 0;
  error: string = "";

  constructor(text: string) {
    this.text = text;
  }

  parse(): JsonValue | null {
    const value = this.parseValue(0);
    if (value === null) return null;
    this.skipWhitespace();
    if (this.pos < this.text.length) return this.fail("unexpected text after the value");
    return value;
  }

  private fail(reason: string): JsonValue | null {
    if (this.error.length == 0) this.error = reason + " at offset " + this.pos.toString();
    return null;
  }

  private skipWhitespace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  private parseValue(depth: i32): JsonValue | null {
    if (depth > MAX_DEPTH) return this.fail("nesting deeper than " + MAX_DEPTH.toString());
    this.skipWhitespace();
    if (this.pos >= this.text.length) return this.fail("unexpected end of input");
    const c = this.text.charCodeAt(this.pos);
    if (c == 0x7b) return this.parseObject(depth);
    if (c == 0x5b) return this.parseArray(depth);
    if (c == 0x22) {
      const s = this.parseString();
      return s === null ? null : JsonValue.fromString(s);
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
    if (this.consumeWord("true")) return JsonValue.fromBool(true);
    if (this.consumeWord("false")) return JsonValue.fromBool(false);
    if (this.consumeWord("null")) return JsonValue.nullValue();
    return this.fail("unexpected character '" + this.text.charAt(this.pos) + "'");
  }

  private consumeWord(word: string): bool {
    if (this.text.substr(this.pos, word.length) != word) return false;
    this.pos += word.length;
    return true;
  }

  private parseObject(depth: i32): JsonValue | null {
    const obj = JsonValue.newObject();
    this.pos++; // {
    this.skipWhitespace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x7d) {
      this.pos++;
      return obj;
    }
    while (true) {
      this.skipWhitespace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x22) return this.fail("expected a member name");
      const key = this.parseString();
      if (key === null) return null;
      this.skipWhitespace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x3a) return this.fail("expected ':'");
      this.pos++;
      const value = this.parseValue(depth + 1);
      if (value === null) return null;
      obj.set(key, value);
      this.skipWhitespace();
      if (this.pos >= this.text.length) return this.fail("unterminated object");
      const c = this.text.charCodeAt(this.pos++);
      if (c == 0x7d) return obj;
      if (c != 0x2c) { this.pos--; return this.fail("expected ',' or '}'"); }
    }
  }

  private parseArray(depth: i32): JsonValue | null {
    const arr = JsonValue.newArray();
    this.pos++; // [
    this.skipWhitespace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x5d) {
      this.pos++;
      return arr;
    }
    while (true) {
      const value = this.parseValue(depth + 1);
      if (value === null) return null;
      arr.push(value);
      this.skipWhitespace();
      if (this.pos >= this.text.length) return this.fail("unterminated array");
      const c = this.text.charCodeAt(this.pos++);
      if (c == 0x5d) return arr;
      if (c != 0x2c) { this.pos--; return this.fail("expected ',' or ']'"); }
    }
  }

  /** Reads a string literal starting at the opening quote; null (with error set) if malformed. */
  private parseString(): string | null {
    const text = this.text;
    this.pos++; // opening quote
    const parts = new Array<string>();
    let from = this.pos;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c == 0x22) {
        parts.push(text.substring(from, this.pos));
        this.pos++;
        return parts.join("");
      }
      if (c < 0x20) { this.fail("control character in string"); return null; }
      if (c != 0x5c) { this.pos++; continue; }
      parts.push(text.substring(from, this.pos));
      this.pos++; // backslash
      if (this.pos >= text.length) break;
      const e = text.charCodeAt(this.pos++);
      if (e == 0x22) parts.push("\"");
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        const code = this.parseHex4();
        if (code < 0) { this.fail("bad \\u escape"); return null; }
        parts.push(String.fromCharCode(code));
      } else {
        this.pos--;
        this.fail("bad escape");
        return null;
      }
      from = this.pos;
    }
    this.fail("unterminated string");
    return null;
  }

  private parseHex4(): i32 {
    if (this.pos + 4 > this.text.length) return -1;
    let code = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.text.charCodeAt(this.pos + i);
      let digit: i32;
      if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) digit = c - 0x41 + 10;
      else return -1;
      code = (code << 4) | digit;
    }
    this.pos += 4;
    return code;
  }

  private parseNumber(): JsonValue | null {
    const text = this.text;
    const start = this.pos;
    let isInteger = true;
    if (text.charCodeAt(this.pos) == 0x2d) this.pos++;
    const digitsStart = this.pos;
    while (this.pos < text.length && isDigit(text.charCodeAt(this.pos))) this.pos++;
    if (this.pos == digitsStart) return this.fail("expected a digit");
    if (this.pos < text.length && text.charCodeAt(this.pos) == 0x2e) {
      isInteger = false;
      this.pos++;
      const fractionStart = this.pos;
      while (this.pos < text.length && isDigit(text.charCodeAt(this.pos))) this.pos++;
      if (this.pos == fractionStart) return this.fail("expected a digit after '.'");
    }
    if (this.pos < text.length && (text.charCodeAt(this.pos) | 0x20) == 0x65) {
      isInteger = false;
      this.pos++;
      if (this.pos < text.length && (text.charCodeAt(this.pos) == 0x2b || text.charCodeAt(this.pos) == 0x2d)) this.pos++;
      const exponentStart = this.pos;
      while (this.pos < text.length && isDigit(text.charCodeAt(this.pos))) this.pos++;
      if (this.pos == exponentStart) return this.fail("expected a digit in the exponent");
    }
    const literal = text.substring(start, this.pos);
    // 18 digits always fit an i64; longer integers go through f64 like any JSON reader would.
    if (isInteger && this.pos - digitsStart <= 18) return JsonValue.fromInteger(I64.parseInt(literal, 10));
    return JsonValue.fromFloat(parseFloat(literal));
  }
}

@inline
function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}
