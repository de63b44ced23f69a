// The store a fleet of proxies shares: the Store interface on etcd v3 (`store: {kind: etcd}`).
//
// - Keys live under `<prefix>/` (`/weft/chain/current`); values larger than one etcd request
//   are kept in chunks beside them (etcd-values.ts).
// - Revisions are etcd's: a key's revision is its mod_revision, a commit's is the revision of its
//   Txn, so a chain revision read from one proxy is an If-Match for any other.
// - commit() is one etcd Txn: compare mod_revision == each condition's revision (0 = absent),
//   then the puts and deletes; when a compare fails, the else branch reads the conditions' keys
//   so the result can name the conflicts.
// - One etcd watch on the prefix (etcd-watch.ts) feeds every watch() of the process; it
//   reconnects and catches up by itself.
// - Leases (StoreLeases) are etcd's: a key put under a lease is deleted by etcd when nobody
//   keeps the lease alive, and every watcher sees the delete.
// - etcd unreachable: calls fail after `timeout_ms` with a StoreError that says so (the admin
//   API answers 503), unavailable() gives the reason (GET /ready: degraded), and what callers
//   built from earlier reads and events (the serving chain, the clusters' endpoints) stays.

import { GRPCDeadlineExceededError, type Etcd3, type IKeyValue, type IRequestOp, type ITxnRequest } from 'etcd3';
import type { EtcdStoreSpec } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import { etcdClient, isConnectionError } from './etcd-client.js';
import { ChunkedValues, INLINE_MAX_BYTES, prefixEnd, type PlannedValue } from './etcd-values.js';
import { leaseOf, PrefixWatch } from './etcd-watch.js';
import {
  StoreError,
  type CommitResult,
  type Store,
  type StoreCondition,
  type StoreEntry,
  type StoreEvent,
  type StoreLeases,
  type StoreOperation,
  type StoreWatch,
} from './store.js';

interface Subscriber {
  readonly prefix: string;
  /** Events at or below this revision happened before the subscriber asked (see watch()). */
  readonly after: number;
  readonly onEvents: (events: readonly StoreEvent[]) => void;
  closed: boolean;
}

export class EtcdStore implements Store {
  readonly description: string;
  readonly leases: StoreLeases;
  private readonly keyPrefix: string;
  private readonly values: ChunkedValues;
  private readonly subscribers = new Set<Subscriber>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private prefixWatch: PrefixWatch | undefined;
  /** The highest revision this process has seen (commits, reads, the watch). */
  private seen = 0;
  private watchProblem: string | undefined;
  /** The last call's connection failure, until a call (or the probe) gets an answer. */
  private callProblem: string | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    private readonly spec: EtcdStoreSpec,
    private readonly logger: Logger | undefined,
  ) {
    this.description = `etcd ${spec.endpoints.join(',')} ${spec.prefix}/`;
    this.keyPrefix = `${spec.prefix}/`;
    this.values = new ChunkedValues(client, spec.prefix);
    this.leases = {
      putWithLease: (key, value, ttlS) => this.call('put with a lease', () => this.putWithLease(key, value, ttlS)),
      keepAlive: (leaseId) => this.call('keep a lease alive', () => this.keepAlive(leaseId)),
      revoke: (leaseId) => this.call('revoke a lease', () => this.revoke(leaseId)),
    };
  }

  /** Connects, reads where the prefix stands and starts watching it. Fails when etcd cannot be reached. */
  static async open(spec: EtcdStoreSpec, logger?: Logger): Promise<EtcdStore> {
    const client = await etcdClient(spec);
    const store = new EtcdStore(client, spec, logger);
    try {
      await store.startWatching();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  unavailable(): string | undefined {
    if (this.closed) return undefined;
    return this.watchProblem ?? this.callProblem;
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    return this.call(`read ${key}`, async () => {
      const response = await this.client.kv.range({ key: this.etcdKey(key) });
      this.saw(response.header.revision);
      const kv = response.kvs[0];
      return kv === undefined ? undefined : this.entry(kv, response.header.revision);
    });
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    return this.call(`list ${prefix}`, async () => {
      const key = this.etcdKey(prefix);
      const response = await this.client.kv.range({ key, range_end: prefixEnd(key) });
      this.saw(response.header.revision);
      const entries: StoreEntry[] = [];
      for (const kv of response.kvs) entries.push(await this.entry(kv, response.header.revision));
      return entries;
    });
  }

  put(key: string, value: Uint8Array, options: { ifRevision?: number } = {}): Promise<CommitResult> {
    return this.commit(conditionFor(key, options.ifRevision), [{ type: 'put', key, value }]);
  }

  delete(key: string, options: { ifRevision?: number } = {}): Promise<CommitResult> {
    return this.commit(conditionFor(key, options.ifRevision), [{ type: 'delete', key }]);
  }

  commit(conditions: readonly StoreCondition[], operations: readonly StoreOperation[]): Promise<CommitResult> {
    // Copied now: the caller may reuse its buffers while the commit runs.
    const ops = lastPerKey(operations).map((op): StoreOperation => (op.type === 'put' ? { type: 'put', key: op.key, value: op.value.slice() } : op));
    return this.call('commit', () => this.transact(conditions, ops));
  }

  watch(prefix: string, onEvents: (events: readonly StoreEvent[]) => void): StoreWatch {
    this.assertOpen();
    const subscriber: Subscriber = { prefix, after: this.seen, onEvents, closed: false };
    this.subscribers.add(subscriber);
    return {
      close: () => {
        subscriber.closed = true;
        this.subscribers.delete(subscriber);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    await Promise.allSettled([...this.inFlight]);
    this.prefixWatch?.close();
    for (const subscriber of this.subscribers) subscriber.closed = true;
    this.subscribers.clear();
    this.client.close();
  }

  // ---- the parts -------------------------------------------------------------------------------

  private async startWatching(): Promise<void> {
    // Keys and revisions only: the watch needs them to tell what a reload changed.
    const key = Buffer.from(this.keyPrefix);
    let response;
    try {
      response = await this.client.kv.range({ key, range_end: prefixEnd(key), keys_only: true });
    } catch (error) {
      throw this.failure('connect', error);
    }
    const known = new Map<string, number>(response.kvs.map((kv) => [kv.key.toString('utf8').slice(this.keyPrefix.length), Number(kv.mod_revision)]));
    this.saw(response.header.revision);
    this.prefixWatch = new PrefixWatch({
      client: this.client,
      values: this.values,
      keyPrefix: this.keyPrefix,
      known,
      revision: this.seen,
      deliver: (events) => this.deliver(events),
      health: (problem) => this.watchHealth(problem),
    });
    this.prefixWatch.start();
  }

  private async transact(conditions: readonly StoreCondition[], operations: readonly StoreOperation[]): Promise<CommitResult> {
    const puts = operations.filter((op): op is Extract<StoreOperation, { type: 'put' }> => op.type === 'put');
    const planned = this.values.plan(puts.map((op) => op.value));
    const written = planned.flatMap((value) => (value.chunkId === undefined ? [] : [value.chunkId]));
    const storedBy = new Map<string, PlannedValue>(puts.map((op, index) => [op.key, planned[index]!]));
    let response;
    try {
      await this.values.write(planned);
      const request: ITxnRequest = {
        compare: conditions.map((condition) => ({ key: this.etcdKey(condition.key), target: 'Mod', result: 'Equal', mod_revision: condition.revision })),
        success: operations.map((op): IRequestOp =>
          op.type === 'put'
            ? { request_put: { key: this.etcdKey(op.key), value: storedBy.get(op.key)!.stored, prev_kv: true } }
            : { request_delete_range: { key: this.etcdKey(op.key), prev_kv: true } },
        ),
        failure: conditions.map((condition) => ({ request_range: { key: this.etcdKey(condition.key), keys_only: true } })),
      };
      response = await this.client.kv.txn(request);
    } catch (error) {
      await this.values.discard(written);
      throw error;
    }
    this.saw(response.header.revision);
    if (!response.succeeded) {
      await this.values.discard(written);
      // The else branch read the conditions' keys in the same transaction, as the compares saw them.
      const conflicts = conditions
        .filter((condition, index) => Number(response.responses[index]?.response_range.kvs[0]?.mod_revision ?? 0) !== condition.revision)
        .map((condition) => condition.key);
      return { ok: false, conflicts };
    }
    // The chunks of values this commit replaced or deleted are no longer referenced.
    const replaced: string[] = [];
    for (const result of response.responses) {
      const previous = [result.response_put?.prev_kv, ...(result.response_delete_range?.prev_kvs ?? [])];
      for (const kv of previous) {
        const id = kv === undefined || kv === null ? undefined : this.values.referenceId(kv.value);
        if (id !== undefined) replaced.push(id);
      }
    }
    await this.values.discard(replaced);
    return { ok: true, revision: Number(response.header.revision) };
  }

  private async putWithLease(key: string, value: Uint8Array, ttlS: number): Promise<{ revision: number; leaseId: string }> {
    // Leased keys are small records (instances); chunks would outlive their lease.
    if (value.length > INLINE_MAX_BYTES) throw new StoreError(`${key}: a value under a lease may have at most ${INLINE_MAX_BYTES} bytes, not ${value.length}`);
    const grant = await this.client.leaseClient.leaseGrant({ TTL: ttlS });
    try {
      const response = await this.client.kv.put({ key: this.etcdKey(key), value: Buffer.from(value), lease: grant.ID });
      this.saw(response.header.revision);
      return { revision: Number(response.header.revision), leaseId: grant.ID };
    } catch (error) {
      await this.client.leaseClient.leaseRevoke({ ID: grant.ID }).catch(() => undefined);
      throw error;
    }
  }

  private async keepAlive(leaseId: string): Promise<boolean> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    try {
      const reply = await new Promise<{ TTL: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new GRPCDeadlineExceededError(`no answer within ${this.spec.timeout_ms} ms`)), this.spec.timeout_ms);
        stream.on('data', (response) => {
          clearTimeout(timer);
          resolve(response);
        });
        stream.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        stream.write({ ID: leaseId });
      });
      // etcd answers TTL 0 for a lease it no longer has.
      return Number(reply.TTL) > 0;
    } finally {
      stream.cancel();
    }
  }

  private async revoke(leaseId: string): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: leaseId });
    } catch (error) {
      if (!/lease not found/.test((error as Error).message)) throw error;
    }
  }

  /** Runs one etcd call: refused when closed, tracked for close(), errors as StoreError. */
  private async call<T>(what: string, body: () => Promise<T>): Promise<T> {
    this.assertOpen();
    const running = body();
    this.inFlight.add(running);
    try {
      const result = await running;
      this.callHealth(undefined);
      return result;
    } catch (error) {
      throw this.failure(what, error);
    } finally {
      this.inFlight.delete(running);
    }
  }

  private failure(what: string, error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    if (isConnectionError(error)) {
      const problem = this.connectionProblem(error);
      this.callHealth(problem);
      return new StoreError(`store: cannot ${what}: ${problem}`, { cause: error });
    }
    return new StoreError(`store: cannot ${what} in etcd: ${(error as Error).message}`, { cause: error });
  }

  private connectionProblem(error: unknown): string {
    return `etcd (${this.spec.endpoints.join(', ')}) cannot be reached: ${(error as Error).message}`;
  }

  private async entry(kv: IKeyValue, revision: string): Promise<StoreEntry> {
    const value = await this.values.resolve(kv, revision);
    return { key: kv.key.toString('utf8').slice(this.keyPrefix.length), value, revision: Number(kv.mod_revision), ...leaseOf(kv.lease) };
  }

  /** One commit's events (from the watch) to every subscriber whose prefix they touch. */
  private deliver(events: readonly StoreEvent[]): void {
    if (this.closed) return;
    for (const event of events) this.saw(event.revision);
    for (const subscriber of this.subscribers) {
      const mine = events.filter((event) => event.revision > subscriber.after && event.key.startsWith(subscriber.prefix));
      if (mine.length === 0) continue;
      queueMicrotask(() => {
        if (!subscriber.closed) subscriber.onEvents(mine);
      });
    }
  }

  private watchHealth(problem: string | undefined): void {
    const before = this.unavailable();
    this.watchProblem = problem === undefined ? undefined : `etcd (${this.spec.endpoints.join(', ')}): ${problem}`;
    if (problem === undefined) this.callProblem = undefined;
    this.logHealth(before);
  }

  private callHealth(problem: string | undefined): void {
    const before = this.unavailable();
    this.callProblem = problem;
    this.logHealth(before);
    if (problem !== undefined) this.probeSoon();
  }

  /**
   * After a call could not reach etcd, asks etcd something cheap every second until it answers,
   * so the store is not reported unavailable for longer than it is (nobody may call for a while).
   */
  private probeSoon(): void {
    if (this.probeTimer !== undefined || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.client.kv.range({ key: this.etcdKey(''), limit: 1, keys_only: true }).then(
        () => this.callHealth(undefined),
        // Any answer from etcd, a refusal too, says it can be reached; no answer schedules the next probe.
        (error: unknown) => this.callHealth(isConnectionError(error) ? this.connectionProblem(error) : undefined),
      );
    }, 1000);
    this.probeTimer.unref();
  }

  private logHealth(before: string | undefined): void {
    const now = this.unavailable();
    if (before === undefined && now !== undefined) this.logger?.warn({ store: this.description, reason: now }, 'etcd unavailable: serving the last state seen; admin changes answer 503');
    else if (before !== undefined && now === undefined) this.logger?.info({ store: this.description, revision: this.seen }, 'etcd reachable again; catching up on missed changes');
  }

  private saw(revision: string | number): void {
    this.seen = Math.max(this.seen, Number(revision));
  }

  private etcdKey(key: string): Buffer {
    return Buffer.from(`${this.keyPrefix}${key}`);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`store (${this.description}) is closed`);
  }
}

function conditionFor(key: string, revision: number | undefined): StoreCondition[] {
  return revision === undefined ? [] : [{ key, revision }];
}

/** etcd refuses a Txn that touches a key twice; applied in order, only the last operation on a key counts. */
function lastPerKey(operations: readonly StoreOperation[]): StoreOperation[] {
  const last = new Map<string, StoreOperation>();
  for (const op of operations) {
    last.delete(op.key);
    last.set(op.key, op);
  }
  return [...last.values()];
}
