// An HTTP/1.1 response parser for the upstream side (RFC 9112): fed the bytes of one
// connection, it reports each response's head, body chunks and end. Incremental, no copies of
// body bytes (chunks are views of what the socket delivered), and strict where leniency would
// let a response be read two ways: a bad status line, a header line without a colon, obs-fold,
// a Content-Length that is not one number, a bad chunk size are errors, never guesses.

import { isToken, isValidFieldValue } from '../net/http-syntax.js';

/** Why a response could not be parsed; the connection it came on is unusable after it. */
export class ResponseParseError extends Error {
  readonly code = 'WEFT_UPSTREAM_BAD_RESPONSE';

  constructor(message: string) {
    super(`invalid HTTP/1.1 response from upstream: ${message}`);
    this.name = 'ResponseParseError';
  }
}

/** Raw header or trailer fields: [name, value, ...]; see parseFields for when a value is bytes. */
export type RawFields = Array<string | Buffer>;

/** What the parser reports, in order: head, body chunks, complete (per response). */
export interface ResponseEvents {
  /** A final (non-1xx) response head. Names and values as the upstream sent them (latin1), in order. */
  onHead(status: number, rawHeaders: RawFields): void;
  /** A piece of the body; false pauses the parser until resume(). */
  onBody(chunk: Buffer): boolean;
  /** The response ended; `trailers` raw (name, value, ...), empty without any. */
  onComplete(trailers: RawFields): void;
}

/** How the body of the response being read is delimited. */
const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const CRLF = 0x0a0d; // "\r\n" read as a little-endian u16
const HEAD_END = Buffer.from('\r\n\r\n');
/** The CRLF that ended the last chunk-size line, put before the trailer section so that it ends as a head does. */
const TRAILERS_START = Buffer.from('\r\n');
/** Chunk-size digits at most: 2^60 bytes is beyond any body, and the size stays exact in a double. */
const MAX_CHUNK_SIZE_DIGITS = 15;
/** A chunk-size line (with extensions) longer than this is refused, as llhttp and nginx bound it. */
const MAX_CHUNK_LINE_BYTES = 4096;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: [^\r\n]*)?$/;

export class ResponseParser {
  private state = State.Head;
  /** Bytes of a head, chunk-size line or trailer section that arrived split over reads. */
  private partial: Buffer | undefined;
  /** Body bytes left: of the Content-Length, or of the current chunk. */
  private remaining = 0;
  /** The request was HEAD: the response has no body whatever its headers say. */
  private headRequest = false;
  /** Whether the connection may carry another request after this response. */
  keepAlive = true;
  /** The upstream's Keep-Alive timeout hint in ms, 0 without one. */
  keepAliveHintMs = 0;
  /** Bytes not yet parsed because the listener paused; fed again by resume(). */
  private held: Buffer | undefined;
  private paused = false;
  /** The body ended while its listener paused: complete once it resumes. */
  private endOnResume = false;
  /** The connection closed (a body until close ends with it). */
  private closed = false;

  constructor(
    private readonly events: ResponseEvents,
    private readonly maxHeadBytes: number,
  ) {}

  /** Readies the parser for the response to the next request (HEAD responses have no body). */
  expect(method: string): void {
    this.state = State.Head;
    this.partial = undefined;
    this.headRequest = method === 'HEAD';
    this.keepAlive = true;
    this.keepAliveHintMs = 0;
    this.held = undefined;
    this.paused = false;
    this.endOnResume = false;
    this.closed = false;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Parses `data`; throws ResponseParseError. Bytes past a complete response are an error (nothing was asked). */
  execute(data: Buffer): void {
    if (this.paused) {
      this.held = this.held === undefined ? data : Buffer.concat([this.held, data]);
      return;
    }
    let at = 0;
    while (at < data.length && !this.paused) {
      switch (this.state) {
        case State.Head:
          at = this.readHead(data, at);
          break;
        case State.Length:
        case State.ChunkData: {
          const take = Math.min(this.remaining, data.length - at);
          this.remaining -= take;
          const more = this.events.onBody(data.subarray(at, at + take));
          at += take;
          if (this.remaining === 0 && this.state === State.Length) this.endBody(more);
          else {
            if (this.remaining === 0) this.state = State.ChunkDataEnd;
            if (!more) this.paused = true;
          }
          break;
        }
        case State.UntilClose:
          if (!this.events.onBody(at === 0 ? data : data.subarray(at))) this.paused = true;
          at = data.length;
          break;
        case State.ChunkSize:
          at = this.readChunkSize(data, at);
          break;
        case State.ChunkDataEnd:
          at = this.readChunkEnd(data, at);
          break;
        case State.Trailers:
          at = this.readTrailers(data, at);
          break;
        case State.Done:
          throw new ResponseParseError('bytes after the end of the response');
      }
    }
    if (at < data.length) this.held = data.subarray(at);
  }

  /** Continues after a pause: the end the pause held back, then the bytes. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.endOnResume) {
      this.endOnResume = false;
      this.complete([]);
    }
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) this.execute(held);
    if (this.closed && !this.paused && this.state === State.UntilClose) this.complete([]);
  }

  /**
   * The connection closed. A body that runs until close is complete then (at once, or on
   * resume() when paused); false when the response was cut short.
   */
  close(): boolean {
    this.closed = true;
    if (this.state === State.UntilClose) {
      if (!this.paused) this.complete([]);
      return true;
    }
    return this.state === State.Done || this.endOnResume;
  }

  /** The body's last byte went to a listener that may have paused: the end waits for its resume(). */
  private endBody(more: boolean): void {
    if (more) this.complete([]);
    else {
      this.paused = true;
      this.endOnResume = true;
    }
  }

  /** Joins a split line or head with what came before; undefined while the part is not complete. */
  private gather(data: Buffer, at: number, end: Buffer | string, limit: number, what: string): { bytes: Buffer; consumed: number } | undefined {
    const before = this.partial;
    const bytes = before === undefined ? (at === 0 ? data : data.subarray(at)) : Buffer.concat([before, data.subarray(at)]);
    // Search only where the end could start: the end marker may straddle the previous read.
    const from = before === undefined ? 0 : Math.max(0, before.length - (end.length - 1));
    const found = bytes.indexOf(end, from);
    if (found < 0) {
      if (bytes.length > limit) throw new ResponseParseError(`${what} over ${limit} bytes`);
      this.partial = bytes;
      return undefined;
    }
    if (found > limit) throw new ResponseParseError(`${what} over ${limit} bytes`);
    this.partial = undefined;
    const length = found + end.length;
    return { bytes: bytes.subarray(0, length), consumed: length - (before?.length ?? 0) };
  }

  private readHead(data: Buffer, at: number): number {
    const part = this.gather(data, at, HEAD_END, this.maxHeadBytes, 'response head');
    if (part === undefined) return data.length;
    const text = part.bytes.toString('latin1', 0, part.bytes.length - 4);
    const lineEnd = text.indexOf('\r\n');
    const statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
    const match = STATUS_LINE.exec(statusLine);
    if (match === null) throw new ResponseParseError(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const status = Number(match[1]);
    const raw = lineEnd < 0 ? [] : parseFields(text, lineEnd + 2, part.bytes);
    at += part.consumed;
    // 1xx (100 Continue, 103 Early Hints): informational, the final response follows.
    if (status < 200) {
      if (status === 101) throw new ResponseParseError('101 Switching Protocols to a request that asked for no upgrade');
      return at;
    }
    const hasBody = this.frame(status, raw, statusLine.charCodeAt(7) === 0x30 /* HTTP/1.0 */);
    this.events.onHead(status, raw);
    if (!hasBody) this.complete([]);
    return at;
  }

  /**
   * Sets how the body is delimited (RFC 9112 §6.3), and reads what the connection headers say of
   * reuse; false when the response has no body.
   */
  private frame(status: number, raw: RawFields, http10: boolean): boolean {
    let keepAliveAsked = false;
    let length: string | undefined;
    let chunked = false;
    let encoded = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        const value = raw[i + 1]!.toString('latin1');
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== value)) throw new ResponseParseError(`bad content-length ${JSON.stringify(value)}`);
        length = value;
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        encoded = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(raw[i + 1]!.toString('latin1'));
      } else if (name.length === 10 && name.toLowerCase() === 'connection') {
        const value = raw[i + 1]!.toString('latin1').toLowerCase();
        // HTTP/1.0 closes unless it says keep-alive; HTTP/1.1 keeps unless it says close.
        if (value.includes('close')) this.keepAlive = false;
        else if (value.includes('keep-alive')) keepAliveAsked = true;
      } else if (name.length === 10 && name.toLowerCase() === 'keep-alive') {
        const timeout = /(?:^|[,;\s])timeout=(\d+)/i.exec(raw[i + 1]!.toString('latin1'));
        if (timeout !== null) this.keepAliveHintMs = Number(timeout[1]) * 1000;
      }
    }
    if (http10 && !keepAliveAsked) this.keepAlive = false;
    if (this.headRequest || status === 204 || status === 304) return false;
    if (encoded) {
      // A message with both is a smuggling attempt or a broken server: read it by its
      // Transfer-Encoding (RFC 9112 §6.3), and never reuse the connection.
      if (length !== undefined) this.keepAlive = false;
      if (chunked) {
        this.state = State.ChunkSize;
        return true;
      }
      this.keepAlive = false;
      this.state = State.UntilClose;
      return true;
    }
    if (length !== undefined) {
      this.remaining = Number(length);
      if (this.remaining === 0) return false;
      this.state = State.Length;
      return true;
    }
    this.keepAlive = false;
    this.state = State.UntilClose;
    return true;
  }

  private readChunkSize(data: Buffer, at: number): number {
    const part = this.gather(data, at, '\r\n', MAX_CHUNK_LINE_BYTES, 'chunk-size line');
    if (part === undefined) return data.length;
    const line = part.bytes.toString('latin1', 0, part.bytes.length - 2);
    const semicolon = line.indexOf(';');
    const digits = (semicolon < 0 ? line : line.slice(0, semicolon)).trimEnd();
    if (!/^[0-9a-fA-F]+$/.test(digits) || digits.replace(/^0+(?=.)/, '').length > MAX_CHUNK_SIZE_DIGITS) {
      throw new ResponseParseError(`bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
    }
    this.remaining = parseInt(digits, 16);
    if (this.remaining === 0) {
      this.state = State.Trailers;
      this.partial = TRAILERS_START;
    } else this.state = State.ChunkData;
    return at + part.consumed;
  }

  private readChunkEnd(data: Buffer, at: number): number {
    // The CRLF after a chunk's data; it may arrive split over two reads (partial holds the CR).
    const split = this.partial !== undefined;
    if (!split && data.length - at < 2) {
      this.partial = data.subarray(at);
      return data.length;
    }
    const ok = split ? this.partial![0] === 0x0d && data[at] === 0x0a : data.readUInt16LE(at) === CRLF;
    if (!ok) throw new ResponseParseError('chunk data not followed by CRLF');
    this.partial = undefined;
    this.state = State.ChunkSize;
    return at + (split ? 1 : 2);
  }

  private readTrailers(data: Buffer, at: number): number {
    // The section starts after the last chunk's CRLF (TRAILERS_START stands in for it), so an
    // empty one is that CRLF and one more, the same end a head has.
    const part = this.gather(data, at, HEAD_END, this.maxHeadBytes, 'trailer section');
    if (part === undefined) return data.length;
    const text = part.bytes.toString('latin1', 0, part.bytes.length - 4);
    this.complete(parseFields(text, 2, part.bytes));
    return at + part.consumed;
  }

  private complete(trailers: RawFields): void {
    this.state = State.Done;
    this.events.onComplete(trailers);
  }
}

const NON_ASCII = /[\x80-\xff]/;

/**
 * The `name: value` lines of a head or trailer section (`text`: `bytes` read as latin1, one
 * character per byte), from the character `from` on, as a raw [name, value, ...] array, values
 * without the whitespace around them. Values are strings, except in a section with bytes over
 * 0x7f, whose values stay bytes (views of `bytes`): what those mean is the reader's to say (the
 * proxy forwards them as they are, an http_call reads UTF-8), as with undici's raw headers.
 */
function parseFields(text: string, from: number, bytes: Buffer): RawFields {
  const raw: RawFields = [];
  const asBytes = NON_ASCII.test(text);
  let start = from;
  while (start < text.length) {
    let end = text.indexOf('\r\n', start);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', start);
    if (colon <= start || colon > end) {
      const first = text.charCodeAt(start);
      throw new ResponseParseError(first === 0x20 || first === 0x09 ? 'obsolete line folding' : `header line without a name ${JSON.stringify(text.slice(start, Math.min(end, start + 80)))}`);
    }
    const name = text.slice(start, colon);
    if (!isToken(name)) throw new ResponseParseError(`bad header name ${JSON.stringify(name.slice(0, 80))}`);
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && isWhitespace(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isWhitespace(text.charCodeAt(valueEnd - 1))) valueEnd--;
    const value = text.slice(valueStart, valueEnd);
    if (!isValidFieldValue(value)) throw new ResponseParseError(`bad value of header ${name}`);
    raw.push(name, asBytes ? bytes.subarray(valueStart, valueEnd) : value);
    start = end + 2;
  }
  return raw;
}

/** RFC 9110's OWS: a space or a tab (String.trim would take more, such as U+00A0). */
function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
