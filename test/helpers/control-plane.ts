// A registry and chain control on an in-memory store, in the test process: what in-process
// tests of the admin API (AdminDeps.registry / .chains) and of the control plane need.

import { pino } from 'pino';
import { WasmResult } from '../../host/abi/enums.js';
import { ChainManager } from '../../host/chain/manager.js';
import type { ChainServices } from '../../host/chain/services.js';
import { InMemorySharedData, InMemorySharedQueues } from '../../host/chain/shared-state.js';
import { ChainControl } from '../../host/registry/chain-control.js';
import { ChainRecords } from '../../host/registry/chain-records.js';
import { FilterRegistry } from '../../host/registry/filter-registry.js';
import { MemoryStore } from '../../host/store/memory-store.js';
import { WeftMetrics } from '../../host/telemetry/metrics.js';

/** Services for filter VMs that need nothing from a proxy: no http_call, no host properties. */
export function standaloneServices(): ChainServices {
  const metrics = new WeftMetrics({ processMetrics: false });
  return {
    logLevel: 2,
    sharedData: new InMemorySharedData(),
    queues: new InMemorySharedQueues(),
    filterMetrics: metrics.filterMetrics,
    telemetry: metrics,
    foreignFunctions: new Map(),
    filterLog: () => undefined,
    hostProperty: () => undefined,
    httpCall: () => WasmResult.Unimplemented,
  };
}

export interface ControlPlane {
  readonly registry: FilterRegistry;
  readonly chains: ChainControl;
  readonly manager: ChainManager;
  /** Its own metrics (weft_chain_* and the rest). */
  readonly metrics: WeftMetrics;
  /** Stops watching and retires the chain (the store stays open: it may be shared). */
  stop(): void;
}

/** A started control plane with an empty chain (revision 1 of a fresh store) on `store`. */
export async function startControlPlane(store: MemoryStore = MemoryStore.inMemory()): Promise<ControlPlane> {
  const metrics = new WeftMetrics({ processMetrics: false });
  const manager = new ChainManager(standaloneServices());
  const registry = new FilterRegistry(store, { maxModuleBytes: 16 * 1024 * 1024, trustedKeys: [], checkServices: standaloneServices() });
  const chains = new ChainControl({ records: new ChainRecords(store), registry, manager, metrics: metrics.chain, logger: pino({ enabled: false }) });
  await chains.start({ filters: [], chains: {}, routes: [] });
  return {
    registry,
    chains,
    manager,
    metrics,
    stop() {
      chains.stop();
      manager.stop();
    },
  };
}
