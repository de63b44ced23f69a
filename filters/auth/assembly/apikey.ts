// API keys, from a header or a query parameter. Keys are kept only as SHA-256 digests (the
// configuration may give them in clear or already hashed), and the presented key is hashed
// before it is looked up, so the lookup never compares secrets byte by byte. A key accepted
// recently is recognised without hashing it again (see accepted-keys.ts).

import { JsonKind, JsonValue, requestHeaders } from "../../../sdk/assembly";
import { sha256Hex } from "../../../sdk/assembly/sha256";
import { AcceptedKeys } from "./accepted-keys";
import { AuthMethod } from "./method";
import { Outcome } from "./outcome";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { queryParam } from "../../../sdk/assembly/query";
import { withoutQueryParam } from "./request";

export class ApiKeyMethod extends AuthMethod {
  /** Header that carries the key ("" = not read from a header). */
  header: string = "x-api-key";
  /** Query parameter that carries the key ("" = not read from the query). */
  query: string = "";
  /** Request header that tells the upstream whose key it was ("" = none). */
  consumerHeader: string = "x-consumer";
  /** Remove the key from the request before it goes upstream. */
  strip: bool = true;
  /** sha256 hex of each key -> the consumer's name. */
  readonly consumers: Map<string, string> = new Map<string, string>();
  /** Presented keys recently found among `consumers`. */
  private readonly accepted: AcceptedKeys = new AcceptedKeys();

  constructor(name: string) {
    super(name, "api_key", "ApiKey");
  }

  static parse(name: string, config: JsonValue, reader: ConfigReader): ApiKeyMethod {
    const where = "methods." + name;
    const method = new ApiKeyMethod(name);
    reader.expectObject(config, where, ["type", "header", "query", "consumer_header", "strip", "keys"]);
    method.header = reader.string(config, where, "header", "x-api-key").toLowerCase();
    method.query = reader.string(config, where, "query", "");
    method.consumerHeader = reader.string(config, where, "consumer_header", "x-consumer").toLowerCase();
    method.strip = reader.boolean(config, where, "strip", true);
    if (method.header.length == 0 && method.query.length == 0) reader.fail(where, "needs header or query (where the key is read)");
    const keys = config.get("keys");
    if (keys === null || keys.kind != JsonKind.Array || keys.asArray().length == 0) {
      reader.fail(where + ".keys", "must be a non-empty list of keys");
      return method;
    }
    const entries = keys.asArray();
    for (let i = 0; i < entries.length; i++) method.addKey(entries[i], where + ".keys[" + i.toString() + "]", reader);
    return method;
  }

  /** One entry: "<key>", {key, name?} or {sha256, name?}. */
  private addKey(entry: JsonValue, where: string, reader: ConfigReader): void {
    let digest = "";
    let name = "";
    if (entry.kind == JsonKind.String) {
      digest = entry.asString().length > 0 ? sha256Hex(entry.asString()) : "";
    } else if (entry.kind == JsonKind.Object) {
      const clear = reader.string(entry, where, "key", "");
      const hashed = reader.string(entry, where, "sha256", "").toLowerCase();
      name = reader.string(entry, where, "name", "");
      reader.expectObject(entry, where, ["key", "sha256", "name"]);
      if (clear.length > 0 && hashed.length > 0) {
        reader.fail(where, "has both key and sha256: give one");
        return;
      }
      if (clear.length > 0) digest = sha256Hex(clear);
      else if (isSha256Hex(hashed)) digest = hashed;
      else if (hashed.length > 0) {
        reader.fail(where + ".sha256", "must be 64 hex digits");
        return;
      }
    } else {
      reader.fail(where, "must be a key (string) or {key | sha256, name}");
      return;
    }
    if (digest.length == 0) {
      reader.fail(where, "needs a non-empty key or sha256");
      return;
    }
    // Unnamed keys still get a stable name that does not reveal them.
    if (name.length == 0) name = "key-" + digest.substring(0, 8);
    if (this.consumers.has(digest)) reader.fail(where, "lists a key already listed");
    this.consumers.set(digest, name);
  }

  authenticate(): Outcome {
    let key: string | null = null;
    let inHeader = false;
    if (this.header.length > 0) {
      key = requestHeaders.get(this.header);
      inHeader = key !== null;
    }
    // The path is read only when the key may come from the query.
    let path: string | null = null;
    if (key === null && this.query.length > 0) {
      path = requestHeaders.get(":path");
      if (path !== null) key = queryParam(path, this.query);
    }
    if (key === null) return Outcome.absent();
    const consumer = this.consumerOf(key);
    if (consumer === null) return Outcome.invalid("invalid_key", "unknown API key");
    if (this.strip) {
      if (inHeader) requestHeaders.remove(this.header);
      else if (path !== null) requestHeaders.replace(":path", withoutQueryParam(path, this.query));
    }
    if (this.consumerHeader.length > 0) requestHeaders.replace(this.consumerHeader, consumer);
    return Outcome.allow(consumer);
  }

  private consumerOf(key: string): string | null {
    const known = this.accepted.consumerOf(key);
    if (known !== null) return known;
    const digest = sha256Hex(key);
    if (!this.consumers.has(digest)) return null;
    const consumer = this.consumers.get(digest);
    this.accepted.remember(key, consumer);
    return consumer;
  }

  missingDescription(): string {
    return "missing API key";
  }

  headersItSets(): Array<string> {
    const names = new Array<string>();
    if (this.consumerHeader.length > 0) names.push(this.consumerHeader);
    return names;
  }
}

function isSha256Hex(text: string): bool {
  if (text.length != 64) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}
