// A chain: the ordered filter slots one generation of requests runs through.
// Requests hold a reference for their whole life; a retired chain is torn down when its
// last request ends (a hot swap builds the next chain completely before retiring this one).
// Tearing down releases the chain's slots; a slot the next chain kept lives on there.

import type { FilterSlot } from './filter-slot.js';

/**
 * One request in this many has its filter callbacks timed (weft_filter_phase_duration_seconds):
 * at 16 the timing still cost ~12 ns per filter and request; at 64 a proxy at 10k requests/s
 * still observes ~150 requests a second.
 */
export const TIMING_SAMPLE_EVERY = 64;

export class ChainBuildError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ChainBuildError';
  }
}

export class Chain {
  /** True when some filter reads request bodies; otherwise request bodies stream past the chain untouched. */
  readonly inspectsRequestBody: boolean;
  private activeRequests = 0;
  private requestsSeen = 0;
  private retired = false;
  private destroyed = false;

  constructor(
    /** `default`, or the name of an extra chain routes attach. */
    readonly name: string,
    readonly slots: readonly FilterSlot[],
    private readonly onDestroyed?: () => void,
  ) {
    this.inspectsRequestBody = slots.some((s) => s.currentVm().has.requestBody);
    for (const slot of slots) slot.retain();
  }

  /**
   * Whether the next request's filter callbacks are timed for the phase histogram: the first
   * request, then one in TIMING_SAMPLE_EVERY. Two clock reads and an observation per filter and
   * phase cost about as much as a small filter's callback; a sample shows the latencies as well.
   */
  sampleTiming(): boolean {
    return this.requestsSeen++ % TIMING_SAMPLE_EVERY === 0;
  }

  acquire(): void {
    this.activeRequests++;
  }

  release(): void {
    if (--this.activeRequests === 0 && this.retired) this.destroy();
  }

  /** No new requests will take this chain; it is destroyed once the last one ends. */
  retire(): void {
    this.retired = true;
    if (this.activeRequests === 0) this.destroy();
  }

  private destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const slot of this.slots) slot.release();
    this.onDestroyed?.();
  }
}
