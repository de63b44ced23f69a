// Garbage collection for the `minimal` runtime, which never collects by itself: the SDK runs a
// full collection once the outermost callback from the host returns, when no reference can live
// only on the wasm stack. It costs less than the incremental runtime's per-allocation steps and
// stack bookkeeping (bench/RESULTS.md).
//
// When: a collection's cost is mostly fixed (it marks everything live), so collecting rarely is
// cheap per request, but garbage piles up in between. Three triggers bound it:
//   - every COLLECT_EVERY callbacks (a request makes 3-6): a few hundred requests' garbage;
//   - after COLLECT_AFTER_BYTES of host data copied in (bodies, header maps, values), which with
//     what is decoded from it is most of what a filter allocates per request;
//   - whenever the memory grew during the callback: the allocator found no free block, so the
//     garbage is collected before it makes the memory grow again.

/** Callbacks between two collections: every few hundred requests. Every 128 cost the no-op filter ~30 ns per request. */
const COLLECT_EVERY: u32 = 1024;
/** Bytes handed over by the host between two collections. */
const COLLECT_AFTER_BYTES: usize = 256 << 10;

let depth: u32 = 0;
let callbacks: u32 = 0;
let copiedBytes: usize = 0;
let pagesAtCollection: i32 = 0;

/** A callback from the host starts (callbacks nest when a host call re-enters the guest). */
@inline
export function enterCallback(): void {
  depth++;
}

/** `bytes` the host handed over were copied into managed objects (memory.ts). */
@inline
export function countCopied(bytes: usize): void {
  copiedBytes += bytes;
}

/** A callback from the host returns; the outermost one collects when a trigger above fired. */
@inline
export function leaveCallback(): void {
  if (--depth == 0 && (++callbacks >= COLLECT_EVERY || copiedBytes >= COLLECT_AFTER_BYTES || memory.size() != pagesAtCollection)) {
    callbacks = 0;
    copiedBytes = 0;
    __collect();
    pagesAtCollection = memory.size();
  }
}
