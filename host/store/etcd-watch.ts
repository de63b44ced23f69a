// One etcd watch on the store's prefix, shared by every Store.watch of the process, that never
// misses a change:
// - it starts at the revision the store opened at, and after a lost connection it starts again
//   right after the last revision it delivered, so etcd replays everything missed meanwhile;
// - reconnects back off (0.2 s doubling to 4 s, with jitter) while etcd cannot be reached;
// - when etcd has compacted the revisions it would need to replay, it lists the prefix instead
//   and delivers the differences from what it knows (keys and their revisions) as one batch.
//
// Batches are delivered in revision order, one per etcd revision (one per commit), after the
// values of chunked keys have been read (etcd-values.ts).

import type { Etcd3, IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import type { StoreEvent } from './store.js';
import { prefixEnd, type ChunkedValues } from './etcd-values.js';

const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 4000;

export interface PrefixWatchOptions {
  client: Etcd3;
  values: ChunkedValues;
  /** `<prefix>/`: keys are delivered without it. */
  keyPrefix: string;
  /** Every key under the prefix and its revision, as of `revision`; kept up to date from here on. */
  known: Map<string, number>;
  revision: number;
  /** One commit's changes (or a reload's differences), in order. */
  deliver(events: StoreEvent[]): void;
  /** The watch is lost (with why) or back (undefined). */
  health(problem: string | undefined): void;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export class PrefixWatch {
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;
  /** The last revision delivered: a new stream starts after it. */
  private revision: number;
  private stream: WatchStream | undefined;
  /** Tells the current stream's callbacks from those of streams already given up. */
  private generation = 0;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Responses are handled one after another (reading chunked values is asynchronous). */
  private work: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: PrefixWatchOptions) {
    this.key = Buffer.from(options.keyPrefix);
    this.rangeEnd = prefixEnd(this.key);
    this.revision = options.revision;
  }

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.drop();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const generation = ++this.generation;
    let stream: WatchStream;
    try {
      stream = await this.options.client.watchClient.watch();
    } catch (error) {
      this.lost(generation, error);
      return;
    }
    if (generation !== this.generation) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (response) => {
      this.work = this.work.then(() => this.handle(generation, response)).catch((error: unknown) => this.lost(generation, error));
    });
    stream.on('error', (error) => this.lost(generation, error));
    stream.on('end', () => this.lost(generation, new Error('etcd ended the watch stream')));
    stream.write({ create_request: { key: this.key, range_end: this.rangeEnd, start_revision: this.revision + 1, progress_notify: true } });
  }

  private async handle(generation: number, response: IWatchResponse): Promise<void> {
    if (generation !== this.generation) return;
    if (response.canceled) {
      if (Number(response.compact_revision) > 0) {
        // etcd no longer has the revisions after the last one delivered: start from a listing.
        await this.reload();
        this.drop();
        void this.connect();
      } else {
        this.lost(generation, new Error(`etcd canceled the watch: ${response.cancel_reason || 'no reason given'}`));
      }
      return;
    }
    if (response.created) {
      this.attempt = 0;
      this.options.health(undefined);
      return;
    }
    if (response.events.length === 0) {
      // A progress notification: every change up to the header's revision has been sent.
      this.revision = Math.max(this.revision, Number(response.header.revision));
      return;
    }
    let start = 0;
    while (start < response.events.length) {
      const revision = response.events[start]!.kv.mod_revision;
      let end = start;
      while (end < response.events.length && response.events[end]!.kv.mod_revision === revision) end++;
      await this.deliverCommit(response.events.slice(start, end), revision);
      if (generation !== this.generation) return;
      start = end;
    }
  }

  private async deliverCommit(events: readonly IEvent[], revision: string): Promise<void> {
    const changes: StoreEvent[] = [];
    for (const { type, kv } of events) {
      const key = kv.key.toString('utf8').slice(this.options.keyPrefix.length);
      if (type === 'Delete') {
        changes.push({ type: 'delete', key, revision: Number(revision) });
      } else {
        const value = await this.options.values.resolve(kv, revision);
        changes.push({ type: 'put', key, value, revision: Number(revision), ...leaseOf(kv.lease) });
      }
    }
    for (const change of changes) {
      if (change.type === 'put') this.options.known.set(change.key, change.revision);
      else this.options.known.delete(change.key);
    }
    this.revision = Number(revision);
    this.options.deliver(changes);
  }

  /** Lists the prefix and delivers how it differs from the known keys. */
  private async reload(): Promise<void> {
    const response = await this.options.client.kv.range({ key: this.key, range_end: this.rangeEnd });
    const revision = Number(response.header.revision);
    const changes: StoreEvent[] = [];
    const present = new Set<string>();
    for (const kv of response.kvs) {
      const key = kv.key.toString('utf8').slice(this.options.keyPrefix.length);
      present.add(key);
      const keyRevision = Number(kv.mod_revision);
      if (this.options.known.get(key) === keyRevision) continue;
      const value = await this.options.values.resolve(kv, response.header.revision);
      changes.push({ type: 'put', key, value, revision: keyRevision, ...leaseOf(kv.lease) });
    }
    for (const key of this.options.known.keys()) if (!present.has(key)) changes.push({ type: 'delete', key, revision });
    changes.sort((a, b) => a.revision - b.revision);
    for (const change of changes) {
      if (change.type === 'put') this.options.known.set(change.key, change.revision);
      else this.options.known.delete(change.key);
    }
    this.revision = revision;
    if (changes.length > 0) this.options.deliver(changes);
  }

  /** The stream failed (or ended): report it and try again after a backoff. */
  private lost(generation: number, error: unknown): void {
    if (this.closed || generation !== this.generation) return;
    this.drop();
    this.options.health(`the watch on ${this.options.keyPrefix} is lost (${(error as Error).message}); reconnecting`);
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 10);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  /** Forgets the current stream; its late callbacks are ignored. */
  private drop(): void {
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }
}

/** etcd says lease "0" for a key without one. */
export function leaseOf(lease: string): { leaseId?: string } {
  return lease === '0' || lease === '' ? {} : { leaseId: lease };
}
