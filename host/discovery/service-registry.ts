// The service registry: instances register, heartbeat and deregister through the admin API; the
// registry keeps them in the store and feeds registry-backed clusters their endpoints.
//
// Health is a clock per instance, kept in memory: an instance whose last heartbeat is older than
// its TTL turns unhealthy at once (its cluster endpoint stops getting traffic and is flagged
// unhealthy in `weft.cluster.<name>.endpoints`); a heartbeat brings it back; after a further
// grace period without one it is deleted from the store. One timer serves every instance: it is
// set for the earliest deadline, so an expiry is seen when it happens, not at the next tick.
//
// The store is the source of truth for which instances exist. Changes arrive through its watch
// (also those made by another proxy sharing the store), and this proxy's own changes are applied
// as soon as their commit returns, so an admin call sees its effect. Both paths go through
// apply(), which keeps a change only when it is newer (by store revision) than what is known of
// its key, so the two paths may arrive in any order.
//
// On a store with leases (etcd, shared by a fleet) the clock is the store's: a registration is
// put under a lease of the instance's TTL, a heartbeat through any proxy keeps the lease alive,
// and when heartbeats stop the store deletes the record, which every proxy's watch removes at
// once. There is then no unhealthy period and no grace: an instance is listed while its lease
// lives, and this proxy keeps no timers.

import type { RegistrationGuard } from './registration-guard.js';
import { randomBytes } from 'node:crypto';
import type { DiscoverySpec } from '../config/schema.js';
import type { CommitResult, Store, StoreLeases, StoreWatch } from '../store/store.js';
import type { Logger } from '../telemetry/logger.js';
import { subsetEndpoints, type ClusterFeed } from './cluster-feed.js';
import type { InstanceRecord, Registration } from './instance.js';
import { InstanceRecords, instanceKey, type InstanceChange } from './instance-records.js';

/** A removal the store refused is tried again after this long. */
const REMOVAL_RETRY_MS = 1000;
/** setTimeout's longest delay; a later deadline is looked at again then (a longer one would fire at once). */
const MAX_TIMER_MS = 2_147_483_647;

export type InstanceHealth = 'healthy' | 'unhealthy';

/**
 * An instance as GET /services shows it. On a store with leases, `last_heartbeat` is the last
 * one this proxy received (heartbeats through other proxies renew the lease without telling it),
 * and `removal_at` is `expires_at`.
 */
export interface InstanceView extends Omit<InstanceRecord, 'service'> {
  health: InstanceHealth;
  last_heartbeat: string;
  /** When it turns unhealthy unless a heartbeat comes first (in the past when it already has). */
  expires_at: string;
  /** When it is removed unless a heartbeat comes first. */
  removal_at: string;
}

export interface ServiceView {
  service: string;
  /** How many of its instances get traffic. */
  healthy: number;
  instances: InstanceView[];
  /** Registry-backed clusters that send to (a subset of) this service. */
  clusters: string[];
}

export type Lookup<T> = { found: true; value: T } | { found: false; reason: string };

interface LiveInstance {
  record: InstanceRecord;
  /** Store revision of the record. */
  revision: number;
  /** Epoch ms of the last heartbeat, or of the registration / restore / arrival from the store. */
  lastHeartbeatMs: number;
  healthy: boolean;
  /** Its deletion is being committed (grace period over). */
  removing: boolean;
  /** After a failed removal: not before this time. */
  retryRemovalAtMs: number;
  /** The store lease that keeps it registered (stores with leases). */
  leaseId?: string;
}

export interface ServiceRegistryOptions {
  store: Store;
  /** The registry-backed clusters of the manifest. */
  feeds: readonly ClusterFeed[];
  spec: DiscoverySpec;
  logger: Logger;
  /** Where instances may be registered; absent: anywhere (tests of the registry alone). */
  guard?: RegistrationGuard;
}

export class ServiceRegistry {
  /** TTL of a registration that does not give one. */
  readonly defaultTtlS: number;
  private readonly graceMs: number;
  private readonly maxInstances: number;
  private readonly guard: RegistrationGuard | undefined;
  private readonly records: InstanceRecords;
  /** The store's leases: set when the store, not this proxy, expires instances. */
  private readonly leases: StoreLeases | undefined;
  private readonly feeds: readonly ClusterFeed[];
  private readonly logger: Logger;
  private readonly live = new Map<string, LiveInstance>();
  /** Deleted keys and the revision of their deletion, so an older put that arrives late is ignored. */
  private readonly deleted = new Map<string, number>();
  /** The highest revision the watch has delivered: local applies at or below it are already in. */
  private watchedRevision = 0;
  /** Keys this proxy is committing a change to (their watch events are this proxy's own, logged by the operation). */
  private readonly ownChanges = new Map<string, number>();
  private loaded = false;
  private stopped = false;
  private watching: StoreWatch | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(options: ServiceRegistryOptions) {
    this.defaultTtlS = options.spec.default_ttl_s;
    this.graceMs = options.spec.grace_s * 1000;
    this.maxInstances = options.spec.max_instances_per_service;
    this.guard = options.guard;
    this.feeds = options.feeds;
    this.logger = options.logger.child({ component: 'discovery' });
    this.records = new InstanceRecords(options.store, (key, reason) => this.logger.error({ key, reason }, 'unreadable instance record in the store; ignored'));
    this.leases = this.records.leases;
  }

  /** The registry with the instances the store holds (each restored instance's TTL clock starts now). */
  static async start(options: ServiceRegistryOptions): Promise<ServiceRegistry> {
    const registry = new ServiceRegistry(options);
    await registry.restore();
    return registry;
  }

  private async restore(): Promise<void> {
    // Watch first, then list: a change committed in between arrives through the watch, and
    // apply() keeps whichever of the two is newer.
    this.watching = this.records.watch((change) => this.fromStore(change));
    try {
      for (const change of await this.records.list()) this.apply(change, 'store');
    } catch (error) {
      this.stop();
      throw error;
    }
    this.loaded = true;
    this.forgetDeletions();
    for (const feed of this.feeds) this.feed(feed);
    this.schedule();
    if (this.live.size > 0) {
      const clocks = this.leases === undefined ? 'their TTL clocks start now' : 'their leases keep their TTLs';
      this.logger.info({ instances: this.live.size, services: this.serviceNames().length }, `instances restored from the store; ${clocks}`);
    }
  }

  /** Registers an instance; a registration for an address:port the service already has replaces it (same id). */
  async register(service: string, registration: Registration, by: string): Promise<{ id: string; created: boolean }> {
    const existing = [...this.live.values()].find(
      ({ record }) => record.service === service && record.address === registration.address && record.port === registration.port,
    );
    const id = existing?.record.id ?? randomBytes(8).toString('hex');
    const record: InstanceRecord = { id, service, ...registration, registered_at: new Date().toISOString() };
    const key = instanceKey(service, id);
    const { revision, leaseId } = await this.own(key, () => this.write(record));
    this.apply({ type: 'put', key, revision, record, ...(leaseId === undefined ? {} : { leaseId }) }, 'local');
    // The registration this one replaces had a lease of its own, which nothing needs any more.
    if (existing?.leaseId !== undefined && existing.leaseId !== leaseId) this.release(existing.leaseId);
    this.logger.info(
      { service, id, address: `${record.address}:${record.port}`, version: record.version, weight: record.weight, ttl_s: record.ttl_s, by },
      existing === undefined ? 'instance registered' : 'instance re-registered (same address; replaces the registration)',
    );
    return { id, created: existing === undefined };
  }

  /** Restarts the instance's TTL clock (keeps its lease alive); an unhealthy instance gets traffic again. */
  async heartbeat(service: string, id: string): Promise<Lookup<InstanceView>> {
    const item = this.live.get(instanceKey(service, id));
    if (item === undefined) return this.notFound(service, id);
    if (this.leases !== undefined && item.leaseId !== undefined && !(await this.leases.keepAlive(item.leaseId))) {
      // Expired in the store a moment ago; the watch removes it here too.
      return { found: false, reason: `instance "${id}" of service "${service}" expired (no heartbeat within ${item.record.ttl_s} s); register it again` };
    }
    item.lastHeartbeatMs = Date.now();
    if (!item.healthy) {
      item.healthy = true;
      this.logger.info({ service, id, address: `${item.record.address}:${item.record.port}` }, 'instance heartbeat resumed; it gets traffic again');
      this.refresh(service);
    }
    return { found: true, value: this.view(item) };
  }

  async deregister(service: string, id: string, by: string): Promise<Lookup<undefined>> {
    const key = instanceKey(service, id);
    const item = this.live.get(key);
    if (item === undefined) return this.notFound(service, id);
    const revision = committed(key, await this.own(key, () => this.records.delete(service, id)));
    this.apply({ type: 'delete', key, revision }, 'local');
    if (item.leaseId !== undefined) this.release(item.leaseId);
    this.logger.info({ service, id, address: `${item.record.address}:${item.record.port}`, by }, 'instance deregistered');
    return { found: true, value: undefined };
  }

  /**
   * Why `registration` may not be added to `service`, or undefined when it may: an address the
   * guard refuses (registration-guard.ts), or a service already at max_instances_per_service
   * (re-registering an instance it has is always fine).
   */
  async registrationProblem(service: string, registration: Registration): Promise<{ status: number; reason: string } | undefined> {
    const addressProblem = await this.guard?.problem(registration.address, registration.port);
    if (addressProblem !== undefined) return { status: 403, reason: addressProblem };
    let count = 0;
    for (const { record } of this.live.values()) {
      if (record.service !== service) continue;
      if (record.address === registration.address && record.port === registration.port) return undefined;
      count++;
    }
    if (count >= this.maxInstances) return { status: 409, reason: `service "${service}" already has ${count} instances (discovery.max_instances_per_service)` };
    return undefined;
  }

  /** Every service with instances or a cluster, by name. */
  services(): ServiceView[] {
    return this.serviceNames().map((name) => this.serviceView(name));
  }

  /** Undefined for a name that has neither instances nor a cluster. */
  service(name: string): ServiceView | undefined {
    return this.serviceNames().includes(name) ? this.serviceView(name) : undefined;
  }

  /** Stops the timer and the watch; the store stays as it is. */
  stop(): void {
    this.stopped = true;
    this.watching?.close();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fromStore(change: InstanceChange): void {
    const applied = this.apply(change, 'store');
    this.watchedRevision = Math.max(this.watchedRevision, change.revision);
    if (this.loaded) this.forgetDeletions();
    if (!applied || this.ownChanges.has(change.key)) return;
    if (change.type === 'put') {
      const { service, id, address, port } = change.record;
      this.logger.info({ service, id, address: `${address}:${port}`, revision: change.revision }, 'instance registered through the store (another proxy)');
    } else {
      const how = this.leases === undefined ? 'another proxy' : 'another proxy, or its lease expired';
      this.logger.info({ key: change.key, revision: change.revision }, `instance removed through the store (${how})`);
    }
  }

  /** Applies a change unless something newer of its key is known; true when it changed the view. */
  private apply(change: InstanceChange, from: 'local' | 'store'): boolean {
    if (this.stopped || (from === 'local' && change.revision <= this.watchedRevision)) return false;
    const current = this.live.get(change.key);
    if (change.revision <= (current?.revision ?? this.deleted.get(change.key) ?? 0)) return false;
    if (change.type === 'put') {
      this.deleted.delete(change.key);
      // A registration (new, or replaced) counts as a sign of life.
      this.live.set(change.key, {
        record: change.record,
        revision: change.revision,
        lastHeartbeatMs: Date.now(),
        healthy: true,
        removing: false,
        retryRemovalAtMs: 0,
        ...(change.leaseId === undefined ? {} : { leaseId: change.leaseId }),
      });
      this.refresh(change.record.service);
    } else {
      this.deleted.set(change.key, change.revision);
      if (current === undefined) return false;
      this.live.delete(change.key);
      this.refresh(current.record.service);
    }
    this.schedule();
    return true;
  }

  /** Deletions older than what the watch delivered can no longer be overtaken by a late put. */
  private forgetDeletions(): void {
    for (const [key, revision] of this.deleted) if (revision <= this.watchedRevision) this.deleted.delete(key);
  }

  /** A registration written to the store: under a lease of its TTL when the store has leases. */
  private async write(record: InstanceRecord): Promise<{ revision: number; leaseId?: string }> {
    if (this.leases !== undefined) return this.records.putWithLease(record);
    return { revision: committed(instanceKey(record.service, record.id), await this.records.put(record)) };
  }

  /** Ends a lease nothing needs any more; should that fail, it expires by itself. */
  private release(leaseId: string): void {
    this.leases?.revoke(leaseId).catch((error: unknown) => this.logger.warn({ lease: leaseId, err: error }, 'cannot revoke an unused lease; it expires by itself'));
  }

  /** Runs a write of this proxy's own (its watch event is then not logged as another proxy's). */
  private async own<T>(key: string, write: () => Promise<T>): Promise<T> {
    this.ownChanges.set(key, (this.ownChanges.get(key) ?? 0) + 1);
    try {
      return await write();
    } finally {
      const left = this.ownChanges.get(key)! - 1;
      if (left === 0) this.ownChanges.delete(key);
      else this.ownChanges.set(key, left);
    }
  }

  /** Gives the clusters that follow `service` its instances as they are now. */
  private refresh(service: string): void {
    if (!this.loaded) return;
    for (const feed of this.feeds) if (feed.subset.service === service) this.feed(feed);
  }

  private feed(feed: ClusterFeed): void {
    feed.cluster.update(subsetEndpoints(feed.subset, this.live.values()));
  }

  private expiresAtMs(item: LiveInstance): number {
    return item.lastHeartbeatMs + item.record.ttl_s * 1000;
  }

  private removalAtMs(item: LiveInstance): number {
    if (this.leases !== undefined) return this.expiresAtMs(item);
    return Math.max(this.expiresAtMs(item) + this.graceMs, item.retryRemovalAtMs);
  }

  /** Sets the one timer for the earliest expiry or removal (none when the store's leases expire instances). */
  private schedule(): void {
    if (!this.loaded || this.stopped || this.leases !== undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const item of this.live.values()) {
      if (item.removing) continue;
      next = Math.min(next, item.healthy ? this.expiresAtMs(item) : this.removalAtMs(item));
    }
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.sweep(), Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now())));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    const now = Date.now();
    const expired = new Set<string>();
    for (const [key, item] of this.live) {
      const { service, id, address, port, ttl_s } = item.record;
      if (item.healthy && now >= this.expiresAtMs(item)) {
        item.healthy = false;
        expired.add(service);
        this.logger.warn(
          { service, id, address: `${address}:${port}`, ttl_s, last_heartbeat: new Date(item.lastHeartbeatMs).toISOString() },
          'instance missed its heartbeat; no traffic until the next one',
        );
      }
      if (!item.healthy && !item.removing && now >= this.removalAtMs(item)) void this.remove(key, item);
    }
    for (const service of expired) this.refresh(service);
    this.schedule();
  }

  /** Deletes an instance whose grace period is over. */
  private async remove(key: string, item: LiveInstance): Promise<void> {
    const { service, id, address, port } = item.record;
    item.removing = true;
    try {
      const revision = committed(key, await this.own(key, () => this.records.delete(service, id)));
      this.apply({ type: 'delete', key, revision }, 'local');
      this.logger.warn(
        { service, id, address: `${address}:${port}`, grace_s: this.graceMs / 1000, last_heartbeat: new Date(item.lastHeartbeatMs).toISOString() },
        'instance removed: no heartbeat within its TTL and grace period',
      );
    } catch (error) {
      if (this.stopped) return;
      item.removing = false;
      item.retryRemovalAtMs = Date.now() + REMOVAL_RETRY_MS;
      this.logger.error({ service, id, err: error }, 'cannot remove an expired instance from the store; trying again');
      this.schedule();
    }
  }

  private notFound(service: string, id: string): Lookup<never> {
    if (!this.serviceNames().includes(service)) return { found: false, reason: `no service named "${service}"` };
    return { found: false, reason: `service "${service}" has no instance "${id}"` };
  }

  private serviceNames(): string[] {
    const names = new Set<string>();
    for (const { record } of this.live.values()) names.add(record.service);
    for (const feed of this.feeds) names.add(feed.subset.service);
    return [...names].sort();
  }

  private serviceView(service: string): ServiceView {
    const instances = [...this.live.values()].filter(({ record }) => record.service === service);
    instances.sort((a, b) => (a.record.registered_at < b.record.registered_at ? -1 : a.record.registered_at > b.record.registered_at ? 1 : 0));
    return {
      service,
      healthy: instances.filter((item) => item.healthy).length,
      instances: instances.map((item) => this.view(item)),
      clusters: this.feeds.filter((feed) => feed.subset.service === service).map((feed) => feed.name),
    };
  }

  private view(item: LiveInstance): InstanceView {
    const { service: _service, ...record } = item.record;
    return {
      ...record,
      health: item.healthy ? 'healthy' : 'unhealthy',
      last_heartbeat: new Date(item.lastHeartbeatMs).toISOString(),
      expires_at: new Date(this.expiresAtMs(item)).toISOString(),
      removal_at: new Date(this.removalAtMs(item)).toISOString(),
    };
  }
}

/** The revision of an unconditional commit (which cannot conflict). */
function committed(key: string, result: CommitResult): number {
  if (!result.ok) throw new Error(`store refused an unconditional write to ${key}: ${result.conflicts.join(', ')}`);
  return result.revision;
}
