// What HTTP/1.1 allows in a method, a header name and a header value (RFC 9110 §5.6.2, §5.5).
// One place, because the request boundary (host/proxy/request-framing.ts), the header calls
// filters make (host/abi/hostcalls.ts) and the upstream HTTP/1.1 client (h1-upstream.ts, which
// refuses to send a bad name or value, and h1-response-parser.ts, which refuses to read one)
// must agree on it.

/** A token: a method or a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Outside field-vchar / SP / HTAB (what node's parser and undici accept in a value). */
const INVALID_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Characters that end a header line or a C string: with one, a value could split a message. */
const LINE_BREAKING = /[\r\n\0]/;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** A value a client may send: visible characters, obs-text, spaces and tabs. */
export function isValidFieldValue(value: string): boolean {
  return !INVALID_FIELD_VALUE.test(value);
}

/** Whether a value carries CR, LF or NUL: never written to the wire. */
export function breaksHeaderLine(value: string): boolean {
  return LINE_BREAKING.test(value);
}

/** A header name a filter may set: a token, or a pseudo-header (`:path`, `:status`, ...). */
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name.charCodeAt(0) === 58 /* ':' */ ? name.slice(1) : name);
}
