// ratelimit: token buckets per client address, header value, route or globally, kept in shared
// data. A request over a bucket's limit gets 429 with Retry-After and RateLimit-* headers, and
// the access-log flag RL. Configuration and behaviour: ../README.md.

export * from "../../../sdk/assembly/exports";

import {
  Counter, FilterHeadersStatus, Header, HttpContext, Phases, RootContext, getCurrentTimeNanoseconds, logError, logInfo,
  logWarn, registerRootContext, requestHeaders, responseHeaders, sendLocalResponse, setPropertyString,
} from "../../../sdk/assembly";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { UpdateOutcome, updateSharedData } from "../../../sdk/assembly/shared-update";
import { hash64 } from "../../../sdk/assembly/cluster";
import { Quota, ReturnToken, TakeToken, ownerOf } from "./bucket";
import { RateLimitConfig, Rule, parseConfig } from "./config";

class RateLimitRoot extends RootContext {
  config: RateLimitConfig = new RateLimitConfig();
  /** Per rule, in config order: requests allowed and refused. */
  allowedCounters: Array<Counter> = new Array<Counter>();
  limitedCounters: Array<Counter> = new Array<Counter>();

  onConfigure(configurationSize: u32): bool {
    const json = this.getPluginConfigurationJson();
    if (json === null) return false;
    const reader = new ConfigReader();
    const config = parseConfig(json, reader);
    if (config === null) {
      logError("ratelimit: invalid configuration: " + reader.message());
      return false;
    }
    this.config = config;
    this.allowedCounters = new Array<Counter>();
    this.limitedCounters = new Array<Counter>();
    for (let i = 0; i < config.rules.length; i++) {
      const rule = config.rules[i];
      this.allowedCounters.push(new Counter("ratelimit_requests_total{rule=\"" + rule.name + "\",outcome=\"allowed\"}"));
      this.limitedCounters.push(new Counter("ratelimit_requests_total{rule=\"" + rule.name + "\",outcome=\"limited\"}"));
      logInfo("ratelimit: rule " + rule.name + ": " + rule.rate.toString() + " per " + rule.per + ", burst " + rule.burst.toString());
    }
    return true;
  }

  phases(): u32 {
    // The response headers phase only writes the ratelimit-* headers: not called when they are off.
    return this.config.responseHeaders ? Phases.RequestHeaders | Phases.ResponseHeaders : Phases.RequestHeaders;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new RateLimit(contextId, this);
  }
}

/** A bucket a request took a token from, kept to give it back if a later rule refuses. */
class Taken {
  constructor(readonly rule: Rule, readonly keyHash: u64) {}
}

class RateLimit extends HttpContext {
  /** The tightest quota among the rules that let this request through (for response headers). */
  private quota: Quota | null = null;

  constructor(contextId: u32, readonly limiter: RateLimitRoot) {
    super(contextId, limiter);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const rules = this.limiter.config.rules;
    // The request line is read only when some rule looks at it.
    let method: string | null = null;
    let path: string | null = null;
    let readRequestLine = false;
    const now = <i64>getCurrentTimeNanoseconds();
    const taken = new Array<Taken>();
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (rule.hasMatch) {
        if (!readRequestLine) {
          method = requestHeaders.get(":method");
          path = requestHeaders.get(":path");
          readRequestLine = true;
        }
        if (!rule.matches(method === null ? "" : method, path === null ? "" : path)) continue;
      }
      const key = rule.keyOfRequest();
      if (key === null) continue; // no such header / no route: this rule does not apply
      const hash = hash64(key);
      const owner = ownerOf(hash);
      const take = new TakeToken(rule, owner, now);
      const set = rule.setKey(hash);
      const outcome = updateSharedData(set, take);
      if (outcome == UpdateOutcome.Contended) {
        // Failing open beats refusing traffic because the store is busy.
        logWarn("ratelimit: buckets " + set + " stayed contended; request let through");
        continue;
      }
      const quota = Quota.of(rule, take.tokens);
      if (!take.allowed) {
        this.limiter.limitedCounters[i].increment();
        giveBack(taken, now);
        this.refuse(rule, quota);
        return FilterHeadersStatus.StopIteration;
      }
      this.limiter.allowedCounters[i].increment();
      taken.push(new Taken(rule, hash));
      const tightest = this.quota;
      if (tightest === null || quota.tighterThan(tightest)) this.quota = quota;
    }
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const quota = this.quota;
    if (quota !== null && this.limiter.config.responseHeaders) {
      responseHeaders.replace("ratelimit-limit", quota.limit.toString());
      responseHeaders.replace("ratelimit-remaining", quota.remaining.toString());
      responseHeaders.replace("ratelimit-reset", quota.resetSeconds.toString());
    }
    return FilterHeadersStatus.Continue;
  }

  private refuse(rule: Rule, quota: Quota): void {
    setPropertyString(["weft", "response", "flags"], "RL");
    sendLocalResponse(429, "rate limit exceeded (" + rule.name + ")\n", [
      new Header("retry-after", quota.retryAfterSeconds.toString()),
      new Header("ratelimit-limit", quota.limit.toString()),
      new Header("ratelimit-remaining", quota.remaining.toString()),
      new Header("ratelimit-reset", quota.resetSeconds.toString()),
    ]);
  }
}

/** Returns the tokens a refused request took from the rules before the one that refused it. */
function giveBack(taken: Array<Taken>, now: i64): void {
  for (let i = 0; i < taken.length; i++) {
    const rule = taken[i].rule;
    const hash = taken[i].keyHash;
    updateSharedData(rule.setKey(hash), new ReturnToken(rule, ownerOf(hash), now));
  }
}

registerRootContext((contextId: u32): RootContext => new RateLimitRoot(contextId), "ratelimit");
