// What the breaker remembers about one endpoint, in shared data under
// `breaker.state.<cluster>.<host:port>` (24 bytes, little-endian):
//   u32 consecutive_5xx              5xx answers in a row
//   u32 consecutive_gateway_failure  502/503/504 answers in a row
//   u32 times_ejected                ejections so far (the ejection time multiplier)
//   u32 flags                        bit 0: ejected or on probation (in the cluster's ledger)
//   i64 healthy_since                when a probe last brought it back (ns since the epoch; 0 never)
// An endpoint that never failed has no key at all, so a healthy request costs one lookup.

import { SharedUpdate } from "../../../sdk/assembly/shared-update";
import { Settings } from "./config";

const STATE_BYTES = 24;
export const IN_LEDGER: u32 = 1;

export function stateKey(cluster: string, address: string): string {
  return "breaker.state." + cluster + "." + address;
}

export class EndpointState {
  consecutive5xx: u32 = 0;
  consecutiveGateway: u32 = 0;
  timesEjected: u32 = 0;
  flags: u32 = 0;
  healthySince: i64 = 0;

  static decode(bytes: ArrayBuffer | null): EndpointState {
    const state = new EndpointState();
    if (bytes === null || bytes.byteLength != STATE_BYTES) return state;
    const base = changetype<usize>(bytes);
    state.consecutive5xx = load<u32>(base);
    state.consecutiveGateway = load<u32>(base, 4);
    state.timesEjected = load<u32>(base, 8);
    state.flags = load<u32>(base, 12);
    state.healthySince = load<i64>(base, 16);
    return state;
  }

  encode(): ArrayBuffer {
    const bytes = new ArrayBuffer(STATE_BYTES);
    const base = changetype<usize>(bytes);
    store<u32>(base, this.consecutive5xx);
    store<u32>(base, this.consecutiveGateway, 4);
    store<u32>(base, this.timesEjected, 8);
    store<u32>(base, this.flags, 12);
    store<i64>(base, this.healthySince, 16);
    return bytes;
  }

  get inLedger(): bool {
    return (this.flags & IN_LEDGER) != 0;
  }

  /**
   * The ejection multiplier now: each base ejection time spent healthy since the last probe
   * forgives one earlier ejection, so an endpoint that failed once long ago starts afresh.
   */
  timesEjectedAt(now: i64, baseEjectionTimeNs: i64): i64 {
    if (this.healthySince == 0 || now <= this.healthySince) return this.timesEjected;
    const forgiven = (now - this.healthySince) / baseEjectionTimeNs;
    return max<i64>(0, <i64>this.timesEjected - forgiven);
  }
}

/** What an answer was, for outlier detection. */
export class Answer {
  constructor(readonly status: i64) {}

  get is5xx(): bool {
    return this.status >= 500 && this.status <= 599;
  }

  get isGatewayFailure(): bool {
    return this.status == 502 || this.status == 503 || this.status == 504;
  }

  /** Whether the answer counts against the endpoint under these settings. */
  isFailure(settings: Settings): bool {
    return (settings.consecutive5xx > 0 && this.is5xx) || (settings.consecutiveGatewayFailure > 0 && this.isGatewayFailure);
  }
}

/**
 * Counts an answer as Envoy's outlier detection does: a 5xx adds to the 5xx run, and to the
 * gateway run if it is a 502/503/504 (another 5xx ends that run); anything else ends both.
 * `tripped` says which threshold the answer reached ("" when none).
 */
export class RecordAnswer extends SharedUpdate {
  state: EndpointState = new EndpointState();
  tripped: string = "";

  constructor(readonly answer: Answer, readonly settings: Settings) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const state = (this.state = EndpointState.decode(current));
    this.tripped = "";
    const answer = this.answer;
    if (!answer.is5xx) {
      if (state.consecutive5xx == 0 && state.consecutiveGateway == 0) return null;
      state.consecutive5xx = 0;
      state.consecutiveGateway = 0;
      return state.encode();
    }
    state.consecutive5xx++;
    state.consecutiveGateway = answer.isGatewayFailure ? state.consecutiveGateway + 1 : 0;
    const settings = this.settings;
    if (settings.consecutiveGatewayFailure > 0 && <i64>state.consecutiveGateway >= settings.consecutiveGatewayFailure) {
      this.tripped = state.consecutiveGateway.toString() + " consecutive gateway failures";
    } else if (settings.consecutive5xx > 0 && <i64>state.consecutive5xx >= settings.consecutive5xx) {
      this.tripped = state.consecutive5xx.toString() + " consecutive 5xx";
    }
    return state.encode();
  }
}

/** The endpoint was ejected for the `times`-th time: its runs start again from zero. */
export class MarkEjected extends SharedUpdate {
  constructor(readonly times: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const state = EndpointState.decode(current);
    state.consecutive5xx = 0;
    state.consecutiveGateway = 0;
    state.timesEjected = <u32>this.times;
    state.flags |= IN_LEDGER;
    return state.encode();
  }
}

/** A probe succeeded: the endpoint is healthy again from `now`. */
export class MarkHealthy extends SharedUpdate {
  constructor(readonly now: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const state = EndpointState.decode(current);
    state.consecutive5xx = 0;
    state.consecutiveGateway = 0;
    state.flags &= ~IN_LEDGER;
    state.healthySince = this.now;
    return state.encode();
  }
}
