// The streams running now, by context id: where proxy_set_effective_context finds a stream.
//
// Why not a Map: a set and a delete per request cost ~100 ns, because V8 reallocates a Map's
// table whenever deletes leave it less than half full, which a proxy between bursts does all
// the time. Stream ids are handed out in sequence, so a ring indexed by an id's low bits holds
// every stream that ends before RING_SIZE more have started, which is nearly all of them, and
// writing a slot allocates nothing. A stream still running when its slot comes round again
// (a long download, a gRPC stream) moves to a Map beside the ring, which is then its place.

/** Slots in the ring: a power of two, so an id's slot is `id & (RING_SIZE - 1)`. */
const RING_SIZE = 4096;

export class LiveStreams<S extends { readonly id: number }> {
  private readonly ring: Array<S | undefined>;
  private readonly mask: number;
  /** Streams whose ring slot a later stream took while they still ran. */
  private readonly overflow = new Map<number, S>();

  constructor(size = RING_SIZE) {
    if (size <= 0 || (size & (size - 1)) !== 0) throw new Error(`the ring size must be a power of two, not ${size}`);
    this.ring = new Array<S | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  add(stream: S): void {
    const slot = stream.id & this.mask;
    const running = this.ring[slot];
    if (running !== undefined) this.overflow.set(running.id, running);
    this.ring[slot] = stream;
  }

  get(id: number): S | undefined {
    const stream = this.ring[id & this.mask];
    if (stream !== undefined && stream.id === id) return stream;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  delete(stream: S): void {
    const slot = stream.id & this.mask;
    if (this.ring[slot] === stream) this.ring[slot] = undefined;
    else this.overflow.delete(stream.id);
  }

  /** How many streams are registered (for tests and diagnostics; counts the ring, so not for the hot path). */
  get size(): number {
    let count = this.overflow.size;
    for (const stream of this.ring) if (stream !== undefined) count++;
    return count;
  }
}
