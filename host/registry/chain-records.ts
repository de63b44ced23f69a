// The chain spec and its history in the store.
//
//   chain/current                  the spec; its store revision is the chain's revision
//   chain/history/<replaced>       one entry per revision, keyed by the revision it replaced
//   chain/manifest                 {"sha256": ...} of the manifest that last seeded or applied it
//
// A change writes both keys in one commit, conditional on chain/current still being at the
// revision the change was based on, so the two never disagree and of two racing changes (from
// two admins, or two proxies on etcd) exactly one wins. Both keys of the commit carry its
// revision, so a history entry's revision is its key's revision. Only one change can replace a
// given revision, which makes the history key unique.

import { decodeJson, encodeJson, type CommitResult, type Store, type StoreOperation } from '../store/store.js';
import type { ChainSpec } from './chain-spec.js';

export const CHAIN_KEY = 'chain/current';
/** The digest of the manifest that last seeded or applied the chain (manifest-digest.ts). */
const MANIFEST_KEY = 'chain/manifest';
const HISTORY_PREFIX = 'chain/history/';
/** History entries kept; older ones are dropped by the change that passes the limit. */
export const HISTORY_LIMIT = 100;

export type ChangeAction = 'seed' | 'apply' | 'rollback';

export interface HistoryEntry {
  revision: number;
  /** The revision this one replaced (0 for the first). */
  replaced: number;
  /** ISO time of the change. */
  at: string;
  /** The admin token's name, `manifest` for the seed, `anonymous` without admin auth. */
  by: string;
  action: ChangeAction;
  /** For a rollback: the revision whose spec it restored. */
  restored?: number;
  changes: string[];
  spec: ChainSpec;
}

type StoredHistory = Omit<HistoryEntry, 'revision'>;

export interface ChangeRecord {
  by: string;
  action: ChangeAction;
  restored?: number;
  changes: string[];
}

export class ChainRecords {
  constructor(private readonly store: Store) {}

  /** The chain spec and its revision; undefined before the first change. */
  async current(): Promise<{ revision: number; spec: ChainSpec } | undefined> {
    const entry = await this.store.get(CHAIN_KEY);
    return entry === undefined ? undefined : { revision: entry.revision, spec: decodeJson<ChainSpec>(entry.value) };
  }

  /**
   * Writes `spec` as the next revision, only if the chain is still at `basedOn` (0 = none yet).
   * A change that comes from the manifest records its digest in the same commit.
   */
  async commit(spec: ChainSpec, basedOn: number, record: ChangeRecord, manifestDigest?: string): Promise<CommitResult> {
    const stored: StoredHistory = { replaced: basedOn, at: new Date().toISOString(), ...record, spec };
    const operations: StoreOperation[] = [
      { type: 'put', key: CHAIN_KEY, value: encodeJson(spec) },
      { type: 'put', key: historyKey(basedOn), value: encodeJson(stored) },
    ];
    if (manifestDigest !== undefined) operations.push(manifestOperation(manifestDigest));
    const existing = await this.store.list(HISTORY_PREFIX);
    for (const old of existing.slice(0, Math.max(0, existing.length + 1 - HISTORY_LIMIT))) operations.push({ type: 'delete', key: old.key });
    return this.store.commit([{ key: CHAIN_KEY, revision: basedOn }], operations);
  }

  /** The digest of the manifest that last seeded or applied the chain; undefined when none is recorded (a store seeded before digests were kept). */
  async manifestDigest(): Promise<string | undefined> {
    const entry = await this.store.get(MANIFEST_KEY);
    return entry === undefined ? undefined : decodeJson<{ sha256: string }>(entry.value).sha256;
  }

  /** Records the manifest's digest without changing the chain. */
  async recordManifest(digest: string): Promise<void> {
    await this.store.commit([], [manifestOperation(digest)]);
  }

  /** Every kept entry, newest first. */
  async history(): Promise<HistoryEntry[]> {
    const entries = await this.store.list(HISTORY_PREFIX);
    return entries.map((entry) => ({ revision: entry.revision, ...decodeJson<StoredHistory>(entry.value) })).reverse();
  }

  async entry(revision: number): Promise<HistoryEntry | undefined> {
    return (await this.history()).find((item) => item.revision === revision);
  }

  /** Calls `onChange` with the revision whenever chain/current changes (by this proxy or another). */
  watch(onChange: (revision: number) => void): { close(): void } {
    return this.store.watch(CHAIN_KEY, (events) => {
      for (const event of events) if (event.key === CHAIN_KEY && event.type === 'put') onChange(event.revision);
    });
  }
}

function manifestOperation(digest: string): StoreOperation {
  return { type: 'put', key: MANIFEST_KEY, value: encodeJson({ sha256: digest }) };
}

function historyKey(replaced: number): string {
  // Zero-padded so the store's key order is the order of changes.
  return `${HISTORY_PREFIX}${String(replaced).padStart(15, '0')}`;
}
