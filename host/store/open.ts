// The store the manifest asks for: the embedded file store, or etcd shared by a fleet.

import type { StoreSpec } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

export async function openStore(spec: StoreSpec, logger?: Logger): Promise<Store> {
  switch (spec.kind) {
    case 'file':
      return MemoryStore.withSnapshot(spec.path);
    case 'etcd':
      // Loaded only when used: a proxy on the file store does not load gRPC.
      return (await import('./etcd-store.js')).EtcdStore.open(spec, logger);
  }
}
