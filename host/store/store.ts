// Where the registry (and later discovery) keeps its state: a key-value store with revisions.
//
// The model is etcd's, reduced to what Weft uses, so that the embedded memory store (with its
// file snapshot, memory-store.ts) and an etcd store implement the same interface and pass the
// same test suite (test/store-suite.ts):
// - Keys are `/`-separated text without a leading slash (`chain/current`); a store may put its
//   own prefix in front (etcd: `/weft/`), invisible to callers. Values are bytes.
// - The store has one revision counter. Every commit that changes something advances it by one;
//   every key it writes carries that revision as its `revision` (etcd's mod_revision). So all
//   writes of one commit share one revision, and a revision is never reused, not even after a
//   restart.
// - Compare-and-set is by revision: a condition `{key, revision}` holds when the key was last
//   written at that revision; revision 0 means "the key does not exist".
// - A watch reports every later change under a prefix, in commit order, one batch per commit.

/** A key as the store holds it. Treat `value` as read-only: the store may hand out its own copy. */
export interface StoreEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** The revision of the commit that last wrote this key (etcd: mod_revision). */
  readonly revision: number;
  /** The lease the key lives under (stores with `leases` only; see StoreLeases). */
  readonly leaseId?: string;
}

/** Holds when `key` was last written at `revision`; `revision: 0` holds when the key is absent. */
export interface StoreCondition {
  readonly key: string;
  readonly revision: number;
}

export type StoreOperation =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly key: string };

export type CommitResult =
  /** Applied; `revision` is the commit's revision (the store's current one when nothing changed). */
  | { readonly ok: true; readonly revision: number }
  /** Not applied because these conditions' keys have moved on. */
  | { readonly ok: false; readonly conflicts: readonly string[] };

export interface StoreEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new value (put only). */
  readonly value?: Uint8Array;
  readonly revision: number;
  /** The lease the key was put under (put only, stores with `leases` only). */
  readonly leaseId?: string;
}

export interface StoreWatch {
  /** No events are delivered after this returns. */
  close(): void;
}

/**
 * Keys that expire unless kept alive: etcd's leases. A store shared by a fleet has them, so that
 * a key's life (a service instance's registration) can be extended through any proxy and ends
 * for every proxy at once. The memory store has none: one proxy keeps its own clocks.
 */
export interface StoreLeases {
  /**
   * Writes `key` under a new lease of `ttlS` whole seconds. Unless kept alive, the lease expires
   * and the store deletes the key: watchers see a delete event at the revision of its expiry.
   */
  putWithLease(key: string, value: Uint8Array, ttlS: number): Promise<{ revision: number; leaseId: string }>;
  /** Renews the lease for its whole TTL; false when it has already expired (its keys are gone). */
  keepAlive(leaseId: string): Promise<boolean>;
  /** Ends the lease now, deleting its keys; an expired or unknown lease is fine. */
  revoke(leaseId: string): Promise<void>;
}

export interface Store {
  /** Where the state lives, for logs: `file /var/lib/weft/state.json`, `memory`, `etcd ...`. */
  readonly description: string;

  /** Present on stores whose keys can expire (etcd); see StoreLeases. */
  readonly leases?: StoreLeases;

  /**
   * Why the store cannot be reached now (undefined while it can). Only stores that live
   * elsewhere (etcd) implement it; meanwhile the proxy serves what it last saw.
   */
  unavailable?(): string | undefined;

  get(key: string): Promise<StoreEntry | undefined>;

  /** Every key that starts with `prefix` (give the trailing `/`), sorted by key. */
  list(prefix: string): Promise<StoreEntry[]>;

  /** Writes one key; with `ifRevision`, only when the key is still at that revision (0 = absent). */
  put(key: string, value: Uint8Array, options?: { ifRevision?: number }): Promise<CommitResult>;

  /** Deletes one key (absent keys are fine); with `ifRevision`, only when it is still at that revision. */
  delete(key: string, options?: { ifRevision?: number }): Promise<CommitResult>;

  /**
   * All operations, atomically, when every condition holds; otherwise nothing. The
   * transaction etcd calls Txn(compare: mod_revision ==, then: put/delete).
   */
  commit(conditions: readonly StoreCondition[], operations: readonly StoreOperation[]): Promise<CommitResult>;

  /**
   * Calls `onEvents` for every later commit that changes a key under `prefix`, with that commit's
   * changes under the prefix, asynchronously and in commit order. The listener must not throw.
   */
  watch(prefix: string, onEvents: (events: readonly StoreEvent[]) => void): StoreWatch;

  /** Waits for commits in progress, then refuses every call (StoreError). */
  close(): Promise<void>;
}

/** The store cannot do what was asked (unreadable snapshot, failed write, closed, unreachable). */
export class StoreError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON values are what most keys hold; these keep the encoding in one place. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson<T>(value: Uint8Array): T {
  return JSON.parse(decoder.decode(value)) as T;
}
