// One try at the upstream: the dispatch handler the endpoint's pool calls (undici's Dispatcher
// handler API, legacy form: raw header arrays; h1-upstream.ts and h2-upstream.ts speak it), the
// request body stream that feeds it, and its timeouts. A retry is a new attempt; callbacks from
// an abandoned attempt find it no longer current and are ignored.
//
// Timeouts are the attempt's own timers, started when the request is all sent (as Envoy's),
// so the pools run none for proxied requests.

import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Endpoint } from './clusters.js';

const NO_TRAILERS: readonly string[] = [];

/** Request body handed to the pool; when the pool reads, the paused client socket resumes. */
export class UploadStream extends Readable {
  constructor(private readonly onDemand: () => void) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    this.onDemand();
  }
}

/** The error a timed-out attempt ends with (classifyUpstreamError maps its code to 504 UT). */
export class UpstreamTimeoutError extends Error {
  readonly code = 'WEFT_UPSTREAM_TIMEOUT';

  constructor(
    /**
     * True when only this try ran out of its per-try time before any answer (a retry may
     * follow); false when the request's own deadline passed, or a body stalled after its head.
     */
    readonly retriable: boolean,
  ) {
    super(retriable ? 'upstream per-try timeout' : 'upstream request timeout');
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
  /** Set when abandoned before the pool gave it a connection: abort as soon as it does. */
  private abandoned: Error | undefined;
  private released = false;
  /** Waiting for the response head, then for each next body chunk; undefined when no timeout runs. */
  private timer: NodeJS.Timeout | undefined;
  /** Allowed time between body chunks once the head is in (0 = no limit). */
  private idleTimeoutMs = 0;
  private headersIn = false;

  constructor(
    private readonly owner: AttemptOwner,
    readonly endpoint: Endpoint,
    /** performance.now() when the attempt was sent: the endpoint's latency is measured from it. */
    readonly startMs: number,
    readonly upload: UploadStream | undefined,
  ) {
    endpoint.countInFlight(1);
  }

  /**
   * Starts the clock once the request is sent in full: the response head must come within
   * `headersMs` (else an UpstreamTimeoutError, `retriable` as given), then each body chunk within
   * `idleMs` of the previous one (else a final one). 0 means no limit. While the client is slow
   * and the attempt paused, the body clock stops (as undici's bodyTimeout does).
   */
  startTimer(headersMs: number, retriable: boolean, idleMs: number): void {
    this.stopTimer();
    this.idleTimeoutMs = idleMs;
    if (headersMs > 0 && !this.headersIn && !this.released) this.timer = setTimeout(() => this.timedOut(retriable), headersMs);
  }

  private startIdleTimer(): void {
    if (this.idleTimeoutMs > 0) this.timer = setTimeout(() => this.timedOut(false), this.idleTimeoutMs);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private timedOut(retriable: boolean): void {
    this.timer = undefined;
    const error = new UpstreamTimeoutError(retriable);
    const reported = this.abortFn !== undefined; // the pool then calls onError, synchronously
    this.abort(error);
    // Not yet on a connection (queued or connecting): the pool says nothing until it has one.
    if (!reported) this.owner.attemptError(this, error);
  }

  /** Stops this attempt; its late callbacks are ignored by the owner. */
  abort(reason: Error): void {
    this.stopTimer();
    this.release();
    this.upload?.destroy();
    if (this.abortFn !== undefined) this.abortFn(reason);
    else this.abandoned = reason;
  }

  resume(): void {
    if (this.headersIn && this.timer === undefined && !this.released) this.startIdleTimer();
    this.resumeFn?.();
  }

  /** The endpoint no longer counts this attempt as in flight (idempotent). */
  release(): void {
    if (!this.released) {
      this.released = true;
      this.endpoint.countInFlight(-1);
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.abandoned !== undefined) abort(this.abandoned);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.resumeFn = resume;
    this.headersIn = true;
    this.stopTimer();
    this.startIdleTimer();
    return this.pausedUnlessMore(this.owner.attemptHeaders(this, statusCode, rawHeaders));
  }

  onData(chunk: Buffer): boolean {
    this.timer?.refresh();
    return this.pausedUnlessMore(this.owner.attemptData(this, chunk));
  }

  /** `more` false pauses the pool's reading until resume(); the idle clock waits with it. */
  private pausedUnlessMore(more: boolean): boolean {
    if (!more) this.stopTimer();
    return more;
  }

  /** Typed as strings by undici's handler API; they come raw (Buffers or latin1 strings): trailerFlat takes both. */
  onComplete(trailers: string[] | null): void {
    this.stopTimer();
    this.release();
    this.owner.attemptComplete(this, trailers ?? NO_TRAILERS);
  }

  onError(error: Error): void {
    this.stopTimer();
    this.release();
    this.owner.attemptError(this, error);
  }
}
