// Framing checks on a request as a transport read it, before any filter runs: what two parties
// could read two ways (request smuggling, RFC 9112 §6.3, §11.2) or what undici would refuse to
// send is answered 400 here, naming the header, instead of reaching a filter or the upstream.
//
// Transports put the first Host into the `:authority` slot and any further Host as an ordinary
// `host` entry, so a second Host is visible here whatever the engine.

import { isToken, isValidFieldValue } from '../net/http-syntax.js';

/** Index of the first ordinary header in a request's flat array (after the four pseudo-headers). */
export const FIRST_HEADER = 8;

/**
 * Why the request is refused, or undefined when its framing is sound. Repeated equal
 * Content-Length values are folded into one (RFC 9112 §6.3 allows a recipient to).
 */
export function framingProblem(flat: string[]): string | undefined {
  if (!isToken(flat[1]!)) return 'invalid request method';
  let contentLength: string | undefined;
  let repeatedLength = false;
  let transferEncoding = false;
  for (let i = FIRST_HEADER; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    if (!isToken(name)) return 'invalid header name';
    if (!isValidFieldValue(value)) return `invalid character in header ${name}`;
    switch (name) {
      case 'host':
        return 'duplicate Host header';
      case 'content-length':
        if (!/^\d+$/.test(value)) return 'invalid Content-Length header';
        if (contentLength !== undefined && contentLength !== value) return 'conflicting Content-Length headers';
        repeatedLength = contentLength !== undefined;
        contentLength = value;
        break;
      case 'transfer-encoding':
        transferEncoding = true;
        break;
    }
  }
  if (contentLength !== undefined && transferEncoding) return 'both Content-Length and Transfer-Encoding';
  if (repeatedLength) foldRepeated(flat, 'content-length');
  return undefined;
}

/** Keeps the first `name` entry and removes the others (all equal). */
function foldRepeated(flat: string[], name: string): void {
  let write = FIRST_HEADER;
  let seen = false;
  for (let read = FIRST_HEADER; read < flat.length; read += 2) {
    if (flat[read] === name) {
      if (seen) continue;
      seen = true;
    }
    flat[write] = flat[read]!;
    flat[write + 1] = flat[read + 1]!;
    write += 2;
  }
  flat.length = write;
}
