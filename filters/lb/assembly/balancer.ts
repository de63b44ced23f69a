// One cluster's balancer: its policy and the state the policy keeps between requests
// (round-robin position, smooth weighted round-robin weights, the hash ring). State lives in the
// VM, so each proxy worker balances on its own; statistics that must be shared (in-flight
// requests, latency, health) come from the host with every request.

import {
  ClusterEndpoint, Random, cookieValue, ejectionDeadline, ejectionKey, hash64,
} from "../../../sdk/assembly/cluster";
import { getSourceIp, requestHeaders } from "../../../sdk/assembly";
import { MAX_RING_ENDPOINTS, Ring } from "./ring";

export const POLICY_ROUND_ROBIN: i32 = 0;
export const POLICY_WEIGHTED_ROUND_ROBIN: i32 = 1;
export const POLICY_RANDOM: i32 = 2;
export const POLICY_LEAST_REQUEST: i32 = 3;
export const POLICY_EWMA: i32 = 4;
export const POLICY_CONSISTENT_HASH: i32 = 5;
export const POLICY_NAMES = ["round_robin", "weighted_round_robin", "random", "least_request", "ewma", "consistent_hash"];

export const HASH_ON_HEADER: i32 = 0;
export const HASH_ON_COOKIE: i32 = 1;
export const HASH_ON_SOURCE_ADDRESS: i32 = 2;

/** How one cluster is balanced (from the config, or the defaults). */
export class ClusterPolicy {
  policy: i32 = POLICY_ROUND_ROBIN;
  hashOn: i32 = HASH_ON_HEADER;
  /** Header (lower case) or cookie name the hash key comes from. */
  hashName: string = "";
  virtualNodes: u32 = 160;
}

export class Balancer {
  readonly cluster: string;
  readonly config: ClusterPolicy;

  // The endpoint list last seen, and what is derived from it. Rebuilt when the list changes.
  private addresses: Array<string> = [];
  private weights: Array<u32> = [];
  private addressBytes: Array<ArrayBuffer> = [];
  private ejectionKeys: Array<string> = [];
  /** Smooth weighted round robin: each endpoint's current weight. */
  private currentWeights: Array<i64> = [];
  private ring: Ring | null = null;
  private roundRobin: u64 = 0;

  // Per request: which endpoints may take it (and their indices).
  private usable: StaticArray<bool> = new StaticArray<bool>(0);
  private usableIndices: StaticArray<i32> = new StaticArray<i32>(0);
  private usableCount: i32 = 0;
  /** The two candidates of a power-of-two-choices pick. */
  private readonly pair: StaticArray<i32> = new StaticArray<i32>(2);

  constructor(cluster: string, config: ClusterPolicy) {
    this.cluster = cluster;
    this.config = config;
  }

  /**
   * Picks an endpoint of `endpoints` for the current request; null when none is usable
   * (every one unhealthy, ejected by the breaker, or of weight 0).
   */
  pick(endpoints: Array<ClusterEndpoint>, nowNs: i64, random: Random): ArrayBuffer | null {
    this.sync(endpoints);
    this.markUsable(endpoints, nowNs);
    if (this.usableCount == 0) return null;
    const policy = this.config.policy;
    let index: i32;
    if (this.usableCount == 1) index = unchecked(this.usableIndices[0]);
    else if (policy == POLICY_ROUND_ROBIN) index = this.pickRoundRobin();
    else if (policy == POLICY_WEIGHTED_ROUND_ROBIN) index = this.pickSmoothWeighted();
    else if (policy == POLICY_LEAST_REQUEST) index = this.pickLeastRequest(endpoints, random);
    else if (policy == POLICY_EWMA) index = this.pickPeakEwma(endpoints, random);
    else if (policy == POLICY_CONSISTENT_HASH) index = this.pickConsistentHash(random);
    else index = this.pickRandom(random);
    return this.addressBytes[index];
  }

  /** Rebuilds what depends on the endpoint list when its addresses or weights changed. */
  private sync(endpoints: Array<ClusterEndpoint>): void {
    const count = endpoints.length;
    let same = count == this.addresses.length;
    for (let i = 0; same && i < count; i++) {
      same = endpoints[i].address == this.addresses[i] && endpoints[i].weight == this.weights[i];
    }
    if (same) return;
    const addresses = new Array<string>(count);
    const weights = new Array<u32>(count);
    const bytes = new Array<ArrayBuffer>(count);
    const keys = new Array<string>(count);
    const current = new Array<i64>(count);
    for (let i = 0; i < count; i++) {
      const address = endpoints[i].address;
      addresses[i] = address;
      weights[i] = endpoints[i].weight;
      bytes[i] = String.UTF8.encode(address);
      keys[i] = ejectionKey(this.cluster, address);
      // An endpoint that stays keeps its smooth-round-robin position.
      const previous = this.addresses.indexOf(address);
      current[i] = previous >= 0 ? this.currentWeights[previous] : 0;
    }
    this.addresses = addresses;
    this.weights = weights;
    this.addressBytes = bytes;
    this.ejectionKeys = keys;
    this.currentWeights = current;
    this.usable = new StaticArray<bool>(count);
    this.usableIndices = new StaticArray<i32>(count);
    this.ring = null;
    if (this.config.policy == POLICY_CONSISTENT_HASH) {
      // Endpoints past what the ring can index are left out of it (they still serve other policies).
      const ringCount = min(count, MAX_RING_ENDPOINTS);
      this.ring = new Ring(addresses.slice(0, ringCount), weights.slice(0, ringCount), this.config.virtualNodes);
    }
  }

  /** Healthy, not ejected (now before its deadline in shared data) and of weight > 0. */
  private markUsable(endpoints: Array<ClusterEndpoint>, nowNs: i64): void {
    let count = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const endpoint = endpoints[i];
      const ok = endpoint.healthy && endpoint.weight > 0 && nowNs >= ejectionDeadline(this.ejectionKeys[i]);
      unchecked((this.usable[i] = ok));
      if (ok) unchecked((this.usableIndices[count++] = i));
    }
    this.usableCount = count;
  }

  private pickRoundRobin(): i32 {
    const position = this.roundRobin++ % <u64>this.usableCount;
    return unchecked(this.usableIndices[<i32>position]);
  }

  /** nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c. */
  private pickSmoothWeighted(): i32 {
    let total: i64 = 0;
    let best = -1;
    for (let k = 0; k < this.usableCount; k++) {
      const i = unchecked(this.usableIndices[k]);
      const weight = <i64>this.weights[i];
      const current = this.currentWeights[i] + weight;
      this.currentWeights[i] = current;
      total += weight;
      if (best < 0 || current > this.currentWeights[best]) best = i;
    }
    this.currentWeights[best] -= total;
    return best;
  }

  /** Weighted random: each usable endpoint in proportion to its weight. */
  private pickRandom(random: Random): i32 {
    let total: u64 = 0;
    for (let k = 0; k < this.usableCount; k++) total += <u64>this.weights[unchecked(this.usableIndices[k])];
    let point = random.below(total);
    for (let k = 0; k < this.usableCount; k++) {
      const i = unchecked(this.usableIndices[k]);
      const weight = <u64>this.weights[i];
      if (point < weight) return i;
      point -= weight;
    }
    return unchecked(this.usableIndices[this.usableCount - 1]);
  }

  /** Two distinct usable endpoints chosen at random (power of two choices); usableCount >= 2. */
  private twoChoices(random: Random): StaticArray<i32> {
    const count = <u64>this.usableCount;
    const first = <i32>random.below(count);
    let second = <i32>random.below(count - 1);
    if (second >= first) second++;
    const pair = this.pair;
    unchecked((pair[0] = this.usableIndices[first]));
    unchecked((pair[1] = this.usableIndices[second]));
    return pair;
  }

  /** Power of two choices on in-flight requests per unit of weight: (in_flight + 1) / weight. */
  private pickLeastRequest(endpoints: Array<ClusterEndpoint>, random: Random): i32 {
    const pair = this.twoChoices(random);
    const a = unchecked(pair[0]);
    const b = unchecked(pair[1]);
    // (in_a + 1) / w_a <= (in_b + 1) / w_b, in integers.
    const costA = (<u64>endpoints[a].inFlight + 1) * <u64>endpoints[b].weight;
    const costB = (<u64>endpoints[b].inFlight + 1) * <u64>endpoints[a].weight;
    return costA <= costB ? a : b;
  }

  /**
   * Peak EWMA (as in Finagle and Linkerd): power of two choices on latency × (in_flight + 1), so a
   * slow endpoint and one with a queue both look expensive. An endpoint with no latency yet costs 0
   * and is tried first; equal costs go to the one with fewer requests in flight.
   */
  private pickPeakEwma(endpoints: Array<ClusterEndpoint>, random: Random): i32 {
    const pair = this.twoChoices(random);
    const a = endpoints[unchecked(pair[0])];
    const b = endpoints[unchecked(pair[1])];
    const costA = a.latencyEwmaMs * (<f64>a.inFlight + 1);
    const costB = b.latencyEwmaMs * (<f64>b.inFlight + 1);
    if (costA == costB) return a.inFlight <= b.inFlight ? unchecked(pair[0]) : unchecked(pair[1]);
    return costA < costB ? unchecked(pair[0]) : unchecked(pair[1]);
  }

  /** The ring's choice for the request's key; weighted random when the request has no key. */
  private pickConsistentHash(random: Random): i32 {
    const key = this.hashKey();
    if (key === null) return this.pickRandom(random);
    const index = this.ring!.lookup(hash64(key), this.usable);
    // Only endpoints past the ring's capacity are usable: balance among them instead.
    return index >= 0 ? index : this.pickRandom(random);
  }

  private hashKey(): string | null {
    const config = this.config;
    if (config.hashOn == HASH_ON_SOURCE_ADDRESS) return getSourceIp();
    if (config.hashOn == HASH_ON_HEADER) return requestHeaders.get(config.hashName);
    const cookies = requestHeaders.get("cookie");
    return cookies === null ? null : cookieValue(cookies, config.hashName);
  }
}
