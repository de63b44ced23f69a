// What node's HTTP parser (llhttp) refuses before a request reaches Weft, answered the way the
// request intake (request-framing.ts) answers the same request on the uWS engine: the same
// status and reason text, so a client or an operator sees one behaviour on both engines. Node
// would otherwise write a bare 400 with no body, or nothing at all.

import type { Duplex } from 'node:stream';

interface ParseError extends Error {
  code?: string;
  /** The bytes node had read when it gave up, and how far it got into them. */
  rawPacket?: Buffer;
  bytesParsed?: number;
}

/** Answers a request node's parser refused, then closes the connection. */
export function answerParseError(error: ParseError, socket: Duplex): void {
  // A connection that reset or timed out has nobody to answer.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const { status, reason } = refusal(error);
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function refusal(error: ParseError): { status: string; reason: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: '431 Request Header Fields Too Large', reason: 'request headers too large' };
    case 'HPE_UNEXPECTED_CONTENT_LENGTH': // llhttp refuses any repeated Content-Length, equal or not
      return { status: '400 Bad Request', reason: 'conflicting Content-Length headers' };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return { status: '400 Bad Request', reason: 'both Content-Length and Transfer-Encoding' };
    case 'HPE_INVALID_HEADER_TOKEN': {
      const name = headerAt(error);
      return { status: '400 Bad Request', reason: name === undefined ? 'invalid header name' : `invalid character in header ${name}` };
    }
    case 'HPE_INVALID_METHOD':
      return { status: '400 Bad Request', reason: 'invalid request method' };
    default:
      return { status: '400 Bad Request', reason: 'malformed request' };
  }
}

/** The name of the header whose value the parser stopped in; undefined when it stopped in a name. */
function headerAt(error: ParseError): string | undefined {
  const raw = error.rawPacket;
  const at = error.bytesParsed;
  if (raw === undefined || at === undefined) return undefined;
  const lineStart = raw.lastIndexOf(0x0a, at - 1) + 1;
  const colon = raw.indexOf(0x3a, lineStart);
  if (colon <= lineStart || colon >= at) return undefined;
  return raw.toString('latin1', lineStart, colon).trim().toLowerCase();
}
