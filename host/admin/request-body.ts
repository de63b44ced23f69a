// Admin request bodies, bounded by the route's limit and refused with a JSON 413 that says
// why. hyper-express could enforce the limit itself, but it answers an empty 413 before any
// handler runs; here the server sees the request first, so an oversized body gets the same
// `{error}` reply as every other refusal (and only after the caller's token was checked).
//
// A declared Content-Length over the limit is refused before anything is read. A chunked
// body is counted as it arrives and refused the moment it passes the limit; what the client
// still sends is then drained without being kept (hyper-express does that once a reply
// starts), and the reply goes out when the client has finished sending.

import { Writable } from 'node:stream';
import type { Request } from 'hyper-express';
import { AdminError } from './route.js';

/** hyper-express's own bound, set out of reach: the checks below are the real one. */
export const UNBOUNDED_BODY_BYTES = Number.MAX_SAFE_INTEGER;

function tooLarge(limit: number, declared?: number): AdminError {
  const length = declared === undefined ? '' : ` (Content-Length: ${declared})`;
  return new AdminError(413, `request body is over this route's limit of ${limit} bytes${length}`);
}

/** Throws the 413 when the request declares a body longer than `limit`. */
export function checkDeclaredLength(request: Request, limit: number): void {
  const declared = Number(request.headers['content-length']);
  if (declared > limit) throw tooLarge(limit, declared);
}

/** The whole body, at most `limit` bytes (a declared length was checked by checkDeclaredLength). */
export function readBody(request: Request, limit: number): Promise<Buffer> {
  // The same test hyper-express uses to decide whether a body streams without a length.
  if (request.headers['transfer-encoding'] !== 'chunked') return request.buffer();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > limit) {
          chunks.length = 0;
          done(tooLarge(limit));
          return;
        }
        chunks.push(chunk);
        done();
      },
      final(done) {
        resolve(Buffer.concat(chunks, size));
        done();
      },
    });
    sink.on('error', reject);
    // pipe(), not on('data'): the `on` of hyper-express's Request is EventEmitter's, which does
    // not start the body flowing; pipe does.
    request.pipe(sink);
  });
}
