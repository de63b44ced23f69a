// Configuration values the SDK's ConfigReader has no reader for.

import { JsonKind, JsonValue } from "../../../sdk/assembly";
import { ConfigReader } from "../../../sdk/assembly/config-reader";

/** A string or a list of strings as a list (empty when absent); anything else is an error. */
export function stringList(value: JsonValue | null, path: string, reader: ConfigReader): Array<string> {
  const out = new Array<string>();
  if (value === null) return out;
  if (value.kind == JsonKind.String) {
    out.push(value.asString());
    return out;
  }
  if (value.kind != JsonKind.Array) {
    reader.fail(path, "must be a string or a list of strings");
    return out;
  }
  const items = value.asArray();
  for (let i = 0; i < items.length; i++) {
    if (items[i].kind == JsonKind.String) out.push(items[i].asString());
    else reader.fail(path + "[" + i.toString() + "]", "must be a string");
  }
  return out;
}

/** Lowercased header names (header maps are lowercase). */
export function lowercaseAll(names: Array<string>): Array<string> {
  const out = new Array<string>();
  for (let i = 0; i < names.length; i++) out.push(names[i].toLowerCase());
  return out;
}
