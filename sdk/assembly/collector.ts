// Garbage collection for the `minimal` runtime, which never collects by itself: the SDK runs a
// full collection after every COLLECT_EVERY callbacks from the host, once the outermost one
// returns, when no reference can live only on the wasm stack. It costs less than the
// incremental runtime's per-allocation steps and stack bookkeeping (bench/RESULTS.md).

/** Callbacks between two collections: a request makes 3-6, so this is every few dozen requests. */
const COLLECT_EVERY: u32 = 128;

let depth: u32 = 0;
let callbacks: u32 = 0;

/** A callback from the host starts (callbacks nest when a host call re-enters the guest). */
@inline
export function enterCallback(): void {
  depth++;
}

/** A callback from the host returns; after every COLLECT_EVERY-th outermost one, collect. */
@inline
export function leaveCallback(): void {
  if (--depth == 0 && ++callbacks >= COLLECT_EVERY) {
    callbacks = 0;
    __collect();
  }
}
