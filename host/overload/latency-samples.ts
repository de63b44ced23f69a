// The latencies of one sampling window, and their percentile: what the gradient controller
// compares against its minRTT. A window may see far more requests than it keeps; past its
// capacity it keeps a uniform random subset (reservoir sampling), so memory is fixed and a
// busy window costs the same to summarise as a quiet one.

export class LatencySamples {
  private readonly kept: Float64Array;
  private length = 0;
  /** Samples offered since the last clear, kept or not. */
  seen = 0;

  constructor(
    capacity: number,
    private readonly random: () => number = Math.random,
  ) {
    this.kept = new Float64Array(capacity);
  }

  add(latencyMs: number): void {
    this.seen++;
    if (this.length < this.kept.length) {
      this.kept[this.length++] = latencyMs;
      return;
    }
    const slot = Math.floor(this.random() * this.seen);
    if (slot < this.kept.length) this.kept[slot] = latencyMs;
  }

  /** The `quantile` (0..1] of the kept samples, nearest rank; 0 when there are none. Reorders them. */
  quantile(quantile: number): number {
    if (this.length === 0) return 0;
    const sorted = this.kept.subarray(0, this.length).sort();
    const rank = Math.max(1, Math.ceil(quantile * this.length));
    return sorted[rank - 1]!;
  }

  clear(): void {
    this.length = 0;
    this.seen = 0;
  }
}
