// Reading and rewriting the parts of a request where credentials travel: the query string of
// `:path` and the Cookie header. Values come back decoded; rewrites keep everything else as
// the client wrote it. Reading a query parameter is the SDK's (queryParam, decodeQueryComponent).

import { decodeQueryComponent } from "../../../sdk/assembly/query";

/** `path` with every query parameter `name` removed (and the `?` when nothing is left). */
export function withoutQueryParam(path: string, name: string): string {
  const q = path.indexOf("?");
  if (q < 0) return path;
  const fields = path.substring(q + 1).split("&");
  const kept = new Array<string>();
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const eq = field.indexOf("=");
    const rawName = eq < 0 ? field : field.substring(0, eq);
    if (decodeQueryComponent(rawName) != name) kept.push(field);
  }
  const base = path.substring(0, q);
  return kept.length == 0 ? base : base + "?" + kept.join("&");
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string, name: string): string | null {
  const parts = header.split(";");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    const eq = part.indexOf("=");
    if (eq < 0 || part.substring(0, eq).trim() != name) continue;
    let value = part.substring(eq + 1).trim();
    // RFC 6265 allows a value in double quotes.
    if (value.length >= 2 && value.startsWith("\"") && value.endsWith("\"")) value = value.substring(1, value.length - 1);
    return value;
  }
  return null;
}

/** The Cookie header without cookie `name` ("" when no cookie is left). */
export function withoutCookie(header: string, name: string): string {
  const parts = header.split(";");
  const kept = new Array<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    if (part.length == 0) continue;
    const eq = part.indexOf("=");
    if (eq >= 0 && part.substring(0, eq).trim() == name) continue;
    kept.push(part);
  }
  return kept.join("; ");
}
