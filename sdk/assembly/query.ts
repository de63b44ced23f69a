// Query parameters of a request path (`/search?q=a+b&tag=x&tag=y`), decoded as browsers and
// servers encode them (application/x-www-form-urlencoded: `+` is a space, %XX a UTF-8 byte).
// A malformed escape (`%zz`, a lone `%`) is kept as written rather than dropped.
//
//   const tenant = requestQueryParam("tenant");      // from :path; null when absent
//   const tags = queryParams(path, "tag");           // every value, in order

import { requestHeaders } from "./headers";
import { hexValue } from "./path";

/** The first value of parameter `name` in `path`'s query; null when absent. `?a` gives "". */
export function queryParam(path: string, name: string): string | null {
  const values = collect(path, name, true);
  return values.length == 0 ? null : values[0];
}

/** Every value of parameter `name`, in order; empty when absent. */
export function queryParams(path: string, name: string): Array<string> {
  return collect(path, name, false);
}

/** The first value of `name` in the request's :path; null when absent (or no :path). */
export function requestQueryParam(name: string): string | null {
  const path = requestHeaders.get(":path");
  return path === null ? null : queryParam(path, name);
}

/** Decodes one query component: `+` to a space, %XX escapes as UTF-8 bytes. */
export function decodeQueryComponent(text: string): string {
  if (text.indexOf("%") < 0 && text.indexOf("+") < 0) return text;
  const bytes = Uint8Array.wrap(String.UTF8.encode(text));
  const out = new Uint8Array(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte == 0x2b) {
      out[length++] = 0x20;
      continue;
    }
    if (byte == 0x25 && i + 2 < bytes.length) {
      const high = hexValue(bytes[i + 1]);
      const low = hexValue(bytes[i + 2]);
      if (high >= 0 && low >= 0) {
        out[length++] = <u8>((high << 4) | low);
        i += 2;
        continue;
      }
    }
    out[length++] = byte;
  }
  return String.UTF8.decode(out.slice(0, length).buffer);
}

function collect(path: string, name: string, firstOnly: bool): Array<string> {
  const values = new Array<string>();
  const start = path.indexOf("?");
  if (start < 0) return values;
  let end = path.indexOf("#", start);
  if (end < 0) end = path.length;
  let at = start + 1;
  while (at <= end) {
    let next = path.indexOf("&", at);
    if (next < 0 || next > end) next = end;
    if (next > at) {
      const pair = path.substring(at, next);
      const equals = pair.indexOf("=");
      const key = decodeQueryComponent(equals < 0 ? pair : pair.substring(0, equals));
      if (key == name) {
        values.push(equals < 0 ? "" : decodeQueryComponent(pair.substring(equals + 1)));
        if (firstOnly) break;
      }
    }
    at = next + 1;
  }
  return values;
}
