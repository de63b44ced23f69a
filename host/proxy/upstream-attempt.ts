// One try at the upstream: the undici dispatch handler (legacy API: raw header arrays, no
// parsing we do not need) and the request body stream that feeds it. A retry is a new attempt;
// callbacks from an abandoned attempt find it no longer current and are ignored.

import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Endpoint } from './clusters.js';

const NO_TRAILERS: readonly string[] = [];

/** Request body handed to undici; when undici reads, the paused client socket resumes. */
export class UploadStream extends Readable {
  constructor(private readonly onDemand: () => void) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    this.onDemand();
  }
}

/** What an attempt reports to its exchange. */
export interface AttemptOwner {
  attemptHeaders(attempt: UpstreamAttempt, statusCode: number, rawHeaders: Buffer[]): boolean;
  attemptData(attempt: UpstreamAttempt, chunk: Buffer): boolean;
  /** The response ended; `trailers` are its raw trailers (name, value, ...), empty when it had none. */
  attemptComplete(attempt: UpstreamAttempt, trailers: ReadonlyArray<Buffer | string>): void;
  attemptError(attempt: UpstreamAttempt, error: Error): void;
}

export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  private abortFn: ((reason?: Error) => void) | undefined;
  private resumeFn: (() => void) | undefined;
  /** Set when abandoned before undici connected: abort as soon as it does. */
  private abandoned: Error | undefined;
  private released = false;

  constructor(
    private readonly owner: AttemptOwner,
    readonly endpoint: Endpoint,
    readonly startMs: number,
    readonly upload: UploadStream | undefined,
  ) {
    endpoint.inFlight++;
  }

  /** Stops this attempt; its late callbacks are ignored by the owner. */
  abort(reason: Error): void {
    this.release();
    this.upload?.destroy();
    if (this.abortFn !== undefined) this.abortFn(reason);
    else this.abandoned = reason;
  }

  resume(): void {
    this.resumeFn?.();
  }

  /** The endpoint no longer counts this attempt as in flight (idempotent). */
  release(): void {
    if (!this.released) {
      this.released = true;
      this.endpoint.inFlight--;
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.abandoned !== undefined) abort(this.abandoned);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.resumeFn = resume;
    return this.owner.attemptHeaders(this, statusCode, rawHeaders);
  }

  onData(chunk: Buffer): boolean {
    return this.owner.attemptData(this, chunk);
  }

  /** undici types the trailers as strings; on this legacy handler they come raw (Buffers): trailerFlat takes both. */
  onComplete(trailers: string[] | null): void {
    this.release();
    this.owner.attemptComplete(this, trailers ?? NO_TRAILERS);
  }

  onError(error: Error): void {
    this.release();
    this.owner.attemptError(this, error);
  }
}
