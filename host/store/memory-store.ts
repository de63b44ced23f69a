// The embedded store: the state in memory, written to a snapshot file on every change (when
// given one), so a restart comes back with the same filters and chain. Nothing to install.
//
// Commits run one at a time. A commit builds the next state beside the current one, writes it
// to the file, and only then makes it current and tells the watchers: a commit that could not
// be saved changes nothing, and what a caller was told is committed is on disk.
//
// One process owns a snapshot file; two proxies sharing one file would overwrite each other's
// changes (share state through etcd instead).
//
// It has no leases (Store.leases is absent): its one proxy keeps the service registry's clocks
// itself (TTL, grace period) instead of the store expiring keys.

import { SnapshotFile } from './snapshot.js';
import {
  StoreError,
  type CommitResult,
  type Store,
  type StoreCondition,
  type StoreEntry,
  type StoreEvent,
  type StoreOperation,
  type StoreWatch,
} from './store.js';

interface Watcher {
  readonly prefix: string;
  readonly onEvents: (events: readonly StoreEvent[]) => void;
  closed: boolean;
}

export class MemoryStore implements Store {
  readonly description: string;
  private entries: Map<string, StoreEntry>;
  private revision: number;
  private readonly watchers = new Set<Watcher>();
  /** The tail of the commit queue: each commit starts when the previous one has finished. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly snapshot: SnapshotFile | undefined,
    state: { revision: number; entries: Map<string, StoreEntry> },
  ) {
    this.description = snapshot === undefined ? 'memory' : `file ${snapshot.file}`;
    this.entries = state.entries;
    this.revision = state.revision;
  }

  /** A store that lives only as long as the process (tests, `weft validate`). */
  static inMemory(): MemoryStore {
    return new MemoryStore(undefined, { revision: 0, entries: new Map() });
  }

  /** The state saved in `file` (empty when the file does not exist yet); every commit rewrites it. */
  static async withSnapshot(file: string): Promise<MemoryStore> {
    const { snapshot, state } = await SnapshotFile.open(file);
    return new MemoryStore(snapshot, state);
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.assertOpen();
    return this.entries.get(key);
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    this.assertOpen();
    const found: StoreEntry[] = [];
    for (const entry of this.entries.values()) if (entry.key.startsWith(prefix)) found.push(entry);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  put(key: string, value: Uint8Array, options: { ifRevision?: number } = {}): Promise<CommitResult> {
    return this.commit(conditionFor(key, options.ifRevision), [{ type: 'put', key, value }]);
  }

  delete(key: string, options: { ifRevision?: number } = {}): Promise<CommitResult> {
    return this.commit(conditionFor(key, options.ifRevision), [{ type: 'delete', key }]);
  }

  commit(conditions: readonly StoreCondition[], operations: readonly StoreOperation[]): Promise<CommitResult> {
    if (this.closed) return Promise.reject(this.closedError());
    // Copied now: the caller may reuse its buffers while the commit waits its turn.
    const ops = operations.map((op): StoreOperation => (op.type === 'put' ? { type: 'put', key: op.key, value: op.value.slice() } : op));
    const result = this.queue.then(() => this.apply(conditions, ops));
    this.queue = result.catch(() => undefined);
    return result;
  }

  watch(prefix: string, onEvents: (events: readonly StoreEvent[]) => void): StoreWatch {
    this.assertOpen();
    const watcher: Watcher = { prefix, onEvents, closed: false };
    this.watchers.add(watcher);
    return {
      close: () => {
        watcher.closed = true;
        this.watchers.delete(watcher);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    for (const watcher of this.watchers) watcher.closed = true;
    this.watchers.clear();
  }

  /** Runs in queue order; commits asked for before close() still run. */
  private async apply(conditions: readonly StoreCondition[], operations: readonly StoreOperation[]): Promise<CommitResult> {
    const conflicts = conditions.filter((condition) => (this.entries.get(condition.key)?.revision ?? 0) !== condition.revision).map((c) => c.key);
    if (conflicts.length > 0) return { ok: false, conflicts };

    const revision = this.revision + 1;
    const next = new Map(this.entries);
    const events: StoreEvent[] = [];
    for (const op of operations) {
      if (op.type === 'put') {
        next.set(op.key, { key: op.key, value: op.value, revision });
        events.push({ type: 'put', key: op.key, value: op.value, revision });
      } else if (next.delete(op.key)) {
        events.push({ type: 'delete', key: op.key, revision });
      }
    }
    if (events.length === 0) return { ok: true, revision: this.revision };

    await this.snapshot?.write({ revision, entries: next });
    this.entries = next;
    this.revision = revision;
    this.notify(events);
    return { ok: true, revision };
  }

  private notify(events: readonly StoreEvent[]): void {
    for (const watcher of this.watchers) {
      const mine = events.filter((event) => event.key.startsWith(watcher.prefix));
      if (mine.length === 0) continue;
      queueMicrotask(() => {
        if (!watcher.closed) watcher.onEvents(mine);
      });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): StoreError {
    return new StoreError(`store (${this.description}) is closed`);
  }
}

function conditionFor(key: string, revision: number | undefined): StoreCondition[] {
  return revision === undefined ? [] : [{ key, revision }];
}
