// Token buckets kept in shared data, so every VM (and every worker) draws from the same bucket.
// A rule's buckets form a bounded table keyed by a 64-bit hash of the request's key (an
// address, a header value): the key itself is never stored, so neither its length nor the number
// of distinct keys grows memory. The table has `sets` shared-data entries of BUCKET_WAYS
// buckets each; a key's set is hash % sets, and a key not in its set takes a free bucket of that
// set (full), else the least recently used one with the tokens it holds now: an idle bucket has
// refilled and costs the newcomer nothing, while a flood of fresh keys inherits the flood's own
// empty buckets and cannot escape the limit. One entry is BUCKET_WAYS × 24 bytes, little-endian:
//   u64 owner       hash of the key this bucket counts for (0 = free)
//   f64 tokens      tokens left at `updated`
//   i64 updated     host clock (ns since the epoch) of that count
// Refill is computed lazily from the time elapsed, so an idle bucket costs nothing.

import { SharedUpdate } from "../../../sdk/assembly/shared-update";
import { BUCKET_WAYS, Rule } from "./config";

const BUCKET_BYTES = 24;
const SET_BYTES = BUCKET_WAYS * BUCKET_BYTES;
/** Absorbs float rounding in the refill (5 tokens/s for 200 ms is 0.9999999999 or 1.0000000001). */
const EPSILON: f64 = 1e-9;

/** The tokens a bucket holds at `now`: its stored count plus the refill since, capped at the burst. */
function tokensAt(rule: Rule, stored: f64, updated: i64, now: i64): f64 {
  // A wall clock can step back: then nothing refills, and the bucket goes on from `now`.
  const elapsed = now > updated ? now - updated : 0;
  return min(<f64>rule.burst, stored + <f64>elapsed * rule.tokensPerNs);
}

/** The set to write: a copy of `current` (or an empty set), so a retried update starts from what it read. */
function copyOf(current: ArrayBuffer | null): ArrayBuffer {
  const set = new ArrayBuffer(SET_BYTES);
  if (current !== null && current.byteLength == SET_BYTES) memory.copy(changetype<usize>(set), changetype<usize>(current), SET_BYTES);
  return set;
}

/** The address of `owner`'s bucket in `set`, or 0 when the set has none. */
function find(set: ArrayBuffer, owner: u64): usize {
  const base = changetype<usize>(set);
  for (let i = 0; i < BUCKET_WAYS; i++) {
    const at = base + <usize>(i * BUCKET_BYTES);
    if (load<u64>(at) == owner) return at;
  }
  return 0;
}

/** The bucket a new key takes: a free one, else the least recently updated. */
function victim(set: ArrayBuffer): usize {
  const base = changetype<usize>(set);
  let oldest = base;
  for (let i = 0; i < BUCKET_WAYS; i++) {
    const at = base + <usize>(i * BUCKET_BYTES);
    if (load<u64>(at) == 0) return at;
    if (load<i64>(at, 16) < load<i64>(oldest, 16)) oldest = at;
  }
  return oldest;
}

/** A key's hash as a bucket owner: never 0, which marks a free bucket. */
export function ownerOf(hash: u64): u64 {
  return hash == 0 ? 1 : hash;
}

/** Takes one token if there is one; `allowed` and `tokens` (left afterwards) describe the last attempt. */
export class TakeToken extends SharedUpdate {
  allowed: bool = false;
  tokens: f64 = 0;

  constructor(readonly rule: Rule, readonly owner: u64, readonly now: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const set = copyOf(current);
    let at = find(set, this.owner);
    let tokens: f64;
    if (at == 0) {
      at = victim(set);
      const taken = load<u64>(at) != 0;
      tokens = taken ? tokensAt(this.rule, load<f64>(at, 8), load<i64>(at, 16), this.now) : <f64>this.rule.burst;
      store<u64>(at, this.owner);
    } else {
      tokens = tokensAt(this.rule, load<f64>(at, 8), load<i64>(at, 16), this.now);
    }
    this.allowed = tokens + EPSILON >= 1;
    this.tokens = this.allowed ? max(0, tokens - 1) : tokens;
    // A refused request changes nothing worth storing: the refill is recomputed next time.
    if (!this.allowed) return null;
    store<f64>(at, this.tokens, 8);
    store<i64>(at, this.now, 16);
    return set;
  }
}

/** Gives back a token taken for a request that another rule then refused. */
export class ReturnToken extends SharedUpdate {
  constructor(readonly rule: Rule, readonly owner: u64, readonly now: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const set = copyOf(current);
    const at = find(set, this.owner);
    if (at == 0) return null; // taken over by another key meanwhile: nothing to give back to
    store<f64>(at, min(<f64>this.rule.burst, tokensAt(this.rule, load<f64>(at, 8), load<i64>(at, 16), this.now) + 1), 8);
    store<i64>(at, this.now, 16);
    return set;
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
