// The store the manifest asks for. The etcd kind joins here (issue 8).

import type { StoreSpec } from '../config/schema.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

export function openStore(spec: StoreSpec): Promise<Store> {
  switch (spec.kind) {
    case 'file':
      return MemoryStore.withSnapshot(spec.path);
  }
}
