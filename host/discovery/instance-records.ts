// Service instances in the store, one JSON key each:
//
//   services/<service>/instances/<id>     an InstanceRecord
//
// Only registrations are stored, not heartbeats: with the file store every commit rewrites the
// whole snapshot (filter modules included), so a write per heartbeat would cost far more than
// the heartbeat is worth. A restart therefore restarts every instance's TTL clock. On a store
// with leases (etcd) a registration is put under a lease of the instance's TTL and a heartbeat
// keeps the lease alive: no write either, and the store removes the record when it lapses.

import { decodeJson, encodeJson, type CommitResult, type Store, type StoreEntry, type StoreLeases, type StoreWatch } from '../store/store.js';
import type { InstanceRecord } from './instance.js';

const PREFIX = 'services/';
const KEY = /^services\/([^/]+)\/instances\/([^/]+)$/;

export type InstanceChange =
  | { type: 'put'; key: string; revision: number; record: InstanceRecord; leaseId?: string }
  | { type: 'delete'; key: string; revision: number };

export function instanceKey(service: string, id: string): string {
  return `${PREFIX}${service}/instances/${id}`;
}

export class InstanceRecords {
  constructor(
    private readonly store: Store,
    /** Told about keys under services/ that are not instance records, so nothing is skipped silently. */
    private readonly onUnreadable: (key: string, reason: string) => void,
  ) {}

  async list(): Promise<Array<Extract<InstanceChange, { type: 'put' }>>> {
    const found = [];
    for (const entry of await this.store.list(PREFIX)) {
      const change = this.read(entry);
      if (change !== undefined) found.push(change);
    }
    return found;
  }

  put(record: InstanceRecord): Promise<CommitResult> {
    return this.store.put(instanceKey(record.service, record.id), encodeJson(record));
  }

  /** The store's leases, when it has them (then registrations expire in the store). */
  get leases(): StoreLeases | undefined {
    return this.store.leases;
  }

  /** Puts the record under a new lease of its TTL (a store with leases only). */
  putWithLease(record: InstanceRecord): Promise<{ revision: number; leaseId: string }> {
    return this.store.leases!.putWithLease(instanceKey(record.service, record.id), encodeJson(record), record.ttl_s);
  }

  delete(service: string, id: string): Promise<CommitResult> {
    return this.store.delete(instanceKey(service, id));
  }

  /** Every later change to an instance key, whoever made it (this proxy, or another sharing the store). */
  watch(onChange: (change: InstanceChange) => void): StoreWatch {
    return this.store.watch(PREFIX, (events) => {
      for (const event of events) {
        if (!KEY.test(event.key)) continue;
        if (event.type === 'delete') onChange({ type: 'delete', key: event.key, revision: event.revision });
        else if (event.value !== undefined) {
          const change = this.read({ key: event.key, value: event.value, revision: event.revision, ...(event.leaseId === undefined ? {} : { leaseId: event.leaseId }) });
          if (change !== undefined) onChange(change);
        }
      }
    });
  }

  private read(entry: StoreEntry): Extract<InstanceChange, { type: 'put' }> | undefined {
    const match = KEY.exec(entry.key);
    if (match === null) return undefined;
    let record: InstanceRecord;
    try {
      record = decodeJson<InstanceRecord>(entry.value);
    } catch (error) {
      this.onUnreadable(entry.key, (error as Error).message);
      return undefined;
    }
    if (record.service !== match[1] || record.id !== match[2] || typeof record.address !== 'string' || !Number.isInteger(record.port)) {
      this.onUnreadable(entry.key, 'not an instance record for this key');
      return undefined;
    }
    return { type: 'put', key: entry.key, revision: entry.revision, record, ...(entry.leaseId === undefined ? {} : { leaseId: entry.leaseId }) };
  }
}
