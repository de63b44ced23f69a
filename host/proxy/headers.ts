// Header rules at the proxy's two edges: which headers are hop-by-hop (never forwarded),
// the x-forwarded-* headers, the status line, and the conversion between undici's raw arrays
// and header maps.

import { STATUS_CODES } from 'node:http';

/** RFC 9110 §7.6.1 connection-specific headers, plus the non-standard proxy-connection. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers uWebSockets.js writes itself when it frames the body; writing them too would duplicate them. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'date']);

/** Status lines by code, made once each: a response writes one, and building it is a concatenation. */
const STATUS_LINES: string[] = [];

/** `200 OK`: the status line uWS writes after `HTTP/1.1 `. */
export function statusLine(status: number): string {
  if (status < 100 || status > 999) return `${status} `;
  return (STATUS_LINES[status] ??= `${status} ${STATUS_CODES[status] ?? ''}`);
}

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

export function isFraming(name: string): boolean {
  return FRAMING.has(name);
}

/** Removes every ordinary header whose name `drop` accepts from a request's flat array, keeping order. */
export function removeRequestHeaders(flat: string[], drop: (name: string) => boolean): void {
  let write = 8; // after the four pseudo-headers
  while (write < flat.length && !drop(flat[write]!)) write += 2;
  if (write >= flat.length) return; // the usual case: nothing to remove, nothing rewritten
  for (let read = write + 2; read < flat.length; read += 2) {
    if (drop(flat[read]!)) continue;
    flat[write] = flat[read]!;
    flat[write + 1] = flat[read + 1]!;
    write += 2;
  }
  flat.length = write;
}

/** Header names a `Connection: a, b` header declares hop-by-hop for this one connection. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === '' || value === 'keep-alive' || value === 'close') return undefined;
  return new Set(value.split(',').map((token) => token.trim().toLowerCase()));
}

export interface ForwardingFacts {
  remoteAddress: string;
  scheme: string;
}

/**
 * The upstream request's headers as undici's flat [name, value, ...] array, from the request
 * map after the filters ran: pseudo-headers become the request line and Host, hop-by-hop
 * headers go, x-forwarded-proto and -host are set. x-forwarded-for was settled when the
 * request arrived (forwarded.ts); only when a filter removed it does the client address go.
 */
export function upstreamRequestHeaders(flat: readonly string[], facts: ForwardingFacts): string[] {
  const out: string[] = [];
  let authority = '';
  let forwardedFor: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === 'connection') connection = flat[i + 1];
  }
  const extraHopByHop = connectionTokens(connection);
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'te') {
      // Hop-by-hop, but `te: trailers` says the client takes trailers, which gRPC servers require
      // (and the one TE HTTP/2 allows): it goes on, alone.
      if (/(^|,)\s*trailers\s*(;|,|$)/i.test(value)) out.push('te', 'trailers');
      continue;
    }
    if (HOP_BY_HOP.has(name) || name === 'host' || extraHopByHop?.has(name)) continue;
    if (name === 'x-forwarded-for') {
      forwardedFor = value;
      continue;
    }
    if (name === 'x-forwarded-proto' || name === 'x-forwarded-host') continue;
    out.push(name, value);
  }
  out.push('host', authority);
  out.push('x-forwarded-for', forwardedFor ?? facts.remoteAddress);
  out.push('x-forwarded-proto', facts.scheme);
  if (authority !== '') out.push('x-forwarded-host', authority);
  return out;
}

/**
 * A flat [name, value, ...] array as the headers object node:http2 takes: names lowercased, the
 * values of a repeated name in one array. Added to `headers` when given (pseudo-headers first).
 */
export function headerObject(flat: readonly string[], headers: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    const earlier = headers[name];
    headers[name] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  return headers;
}

/** Raw trailers (undici's Buffers, or node's rawTrailers) as a header map's flat array, names lowercased. */
export function trailerFlat(raw: ReadonlyArray<Buffer | string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) out.push(raw[i]!.toString('latin1').toLowerCase(), raw[i + 1]!.toString('latin1'));
  return out;
}

/** The upstream's raw response headers as a header map's flat array (`:status` first), hop-by-hop removed. */
export function responseHeaderFlat(statusCode: number, raw: readonly Buffer[]): string[] {
  const out: string[] = [':status', String(statusCode)];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  return out;
}
