// Admin request bodies, bounded by the route's limit and refused with a JSON 413 that says
// why, like every other refusal (and only after the caller's token was checked).
//
// A declared Content-Length over the limit is refused without keeping anything, but the body is
// read and dropped first when it is not huge (dropBody): a client that writes its whole body
// before it reads (node's http client, most scripts) would otherwise find the connection closed
// under it (EPIPE) and never see the 413. Beyond LINGER_MAX_BYTES the 413 goes out at once. A
// request refused before its body was read for any other reason (its token) is answered the
// same way. A chunked
// body is counted as it arrives; once it passes the limit nothing more is kept, the rest is read
// and dropped, and the 413 goes out when the client has finished sending, so a client that
// writes its whole body first still reads it.

import type { IncomingMessage } from 'node:http';
import { AdminError } from './route.js';

function tooLarge(limit: number, declared?: number): AdminError {
  const length = declared === undefined ? '' : ` (Content-Length: ${declared})`;
  return new AdminError(413, `request body is over this route's limit of ${limit} bytes${length}`);
}

/** A declared body up to this size is read and dropped before its 413 (nginx's lingering close, bounded). */
const LINGER_MAX_BYTES = 16 * 1024 * 1024;

/** Throws the 413 when the request declares a body longer than `limit`, once its bytes are off the wire. */
export async function checkDeclaredLength(request: IncomingMessage, limit: number): Promise<void> {
  const declared = Number(request.headers['content-length']);
  if (!(declared > limit)) return;
  await dropBody(request);
  throw tooLarge(limit, declared);
}

/**
 * Reads and drops what is left of the request's body, so that the answer to a refused request
 * reaches a client still writing it: at most LINGER_MAX_BYTES, declared or counted as it comes.
 */
export function dropBody(request: IncomingMessage): Promise<void> {
  if (request.complete || Number(request.headers['content-length']) > LINGER_MAX_BYTES) return Promise.resolve();
  return new Promise<void>((done) => {
    let dropped = 0;
    request.once('end', done).once('close', done);
    request.on('data', (chunk: Buffer) => {
      if ((dropped += chunk.length) > LINGER_MAX_BYTES) done();
    });
  });
}

/** The whole body, at most `limit` bytes (a declared length was checked by checkDeclaredLength). */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => (over ? reject(tooLarge(limit)) : resolve(Buffer.concat(chunks, size))));
    request.once('close', () => {
      if (!request.complete) reject(new AdminError(400, 'the client closed the connection before the body was complete'));
    });
  });
}
