// Admin request bodies, bounded by the route's limit and refused with a JSON 413 that says
// why, like every other refusal (and only after the caller's token was checked).
//
// A declared Content-Length over the limit is refused before anything is read (node discards
// the unread body after the reply). A chunked body is counted as it arrives; once it passes the
// limit nothing more is kept, the rest is read and dropped, and the 413 goes out when the
// client has finished sending, so a client that writes its whole body first still reads it.

import type { IncomingMessage } from 'node:http';
import { AdminError } from './route.js';

function tooLarge(limit: number, declared?: number): AdminError {
  const length = declared === undefined ? '' : ` (Content-Length: ${declared})`;
  return new AdminError(413, `request body is over this route's limit of ${limit} bytes${length}`);
}

/** Throws the 413 when the request declares a body longer than `limit`. */
export function checkDeclaredLength(request: IncomingMessage, limit: number): void {
  const declared = Number(request.headers['content-length']);
  if (declared > limit) throw tooLarge(limit, declared);
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
