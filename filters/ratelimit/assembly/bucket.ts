// Token buckets kept in shared data, so every VM (and later every worker) draws from the same
// bucket. A bucket is 16 bytes, little-endian:
//   f64 tokens      tokens left at `updated`
//   i64 updated     host clock (ns since the epoch) of that count
// Refill is computed lazily from the time elapsed, so an idle bucket costs nothing.

import { SharedUpdate } from "../../../sdk/assembly/shared-update";
import { Rule } from "./config";

const BUCKET_BYTES = 16;
/** Absorbs float rounding in the refill (5 tokens/s for 200 ms is 0.9999999999 or 1.0000000001). */
const EPSILON: f64 = 1e-9;

/** The tokens a bucket holds at `now`: its stored count plus the refill since, capped at the burst. */
function tokensAt(rule: Rule, current: ArrayBuffer | null, now: i64): f64 {
  const burst = <f64>rule.burst;
  if (current === null || current.byteLength != BUCKET_BYTES) return burst; // new bucket: full
  const base = changetype<usize>(current);
  const stored = load<f64>(base);
  const updated = load<i64>(base, 8);
  // A wall clock can step back: then nothing refills, and the bucket goes on from `now`.
  const elapsed = now > updated ? now - updated : 0;
  return min(burst, stored + <f64>elapsed * rule.tokensPerNs);
}

function encode(tokens: f64, now: i64): ArrayBuffer {
  const bytes = new ArrayBuffer(BUCKET_BYTES);
  store<f64>(changetype<usize>(bytes), tokens);
  store<i64>(changetype<usize>(bytes), now, 8);
  return bytes;
}

/** Takes one token if there is one; `allowed` and `tokens` (left afterwards) describe the last attempt. */
export class TakeToken extends SharedUpdate {
  allowed: bool = false;
  tokens: f64 = 0;

  constructor(readonly rule: Rule, readonly now: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const tokens = tokensAt(this.rule, current, this.now);
    this.allowed = tokens + EPSILON >= 1;
    this.tokens = this.allowed ? max(0, tokens - 1) : tokens;
    // A refused request changes nothing worth storing: the refill is recomputed next time.
    return this.allowed ? encode(this.tokens, this.now) : null;
  }
}

/** Gives back a token taken for a request that another rule then refused. */
export class ReturnToken extends SharedUpdate {
  constructor(readonly rule: Rule, readonly now: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    return encode(min(<f64>this.rule.burst, tokensAt(this.rule, current, this.now) + 1), this.now);
  }
}

/** What the RateLimit-* headers say about one rule's bucket after a request. */
export class Quota {
  constructor(
    /** RateLimit-Limit: the bucket size (burst). */
    readonly limit: i64,
    /** RateLimit-Remaining: whole tokens left. */
    readonly remaining: i64,
    /** RateLimit-Reset: seconds until the bucket is full again. */
    readonly resetSeconds: i64,
    /** Retry-After: seconds until the next token (at least 1). */
    readonly retryAfterSeconds: i64,
  ) {}

  static of(rule: Rule, tokens: f64): Quota {
    const perSecond = rule.tokensPerSecond;
    const remaining = <i64>Math.floor(tokens + EPSILON);
    const reset = <i64>Math.ceil((<f64>rule.burst - tokens) / perSecond - EPSILON);
    const retryAfter = <i64>Math.ceil((1 - tokens) / perSecond - EPSILON);
    return new Quota(rule.burst, remaining, max<i64>(0, reset), max<i64>(1, retryAfter));
  }

  /** The quota closer to running out: fewer tokens left, or (equal) the longer wait to refill. */
  tighterThan(other: Quota): bool {
    return this.remaining < other.remaining || (this.remaining == other.remaining && this.resetSeconds > other.resetSeconds);
  }
}
