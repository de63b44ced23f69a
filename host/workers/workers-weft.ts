// The composition root when several worker threads serve: the main thread keeps what a proxy
// holds once (store, filter registry, chain spec and its control, service registry, /stats,
// the process-wide shared data and queues) and the workers serve (worker-main.ts).

import { InMemorySharedQueues } from '../chain/shared-state.js';
import { createSharedDataBuffer, SharedDataTable, warnWhenFull } from './shared-data-table.js';
import { ServiceRegistry } from '../discovery/service-registry.js';
import type { Manifest } from '../config/schema.js';
import { assertAddressFree } from '../net/address.js';
import { Clusters } from '../proxy/clusters.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { logListening, registrationGuard, registryFeeds, requestStats, startChains, type Weft, type WeftDeps } from '../weft.js';
import { WorkerPool } from './worker-pool.js';

export async function startWorkers(manifest: Manifest, count: number, deps: WeftDeps): Promise<Weft> {
  const { logger, metrics } = deps;
  // The workers share the address with SO_REUSEPORT, which would also let them share it with another process.
  await assertAddressFree(manifest.listen.host, manifest.listen.port).catch((error: Error) => {
    throw new Error(`listen: cannot listen on ${manifest.listen.host}:${manifest.listen.port} (${error.message})`);
  });
  // Endpoint addresses only (for /stats' ejections): the workers send the requests.
  const clusters = new Clusters(manifest.clusters);
  const sharedDataBuffer = createSharedDataBuffer();
  const shared = { sharedData: new SharedDataTable(sharedDataBuffer, warnWhenFull(logger)), queues: new InMemorySharedQueues() };
  // /stats reads the breaker's ejections in the namespaces of the chain that serves (known once it does).
  let running: Awaited<ReturnType<typeof startChains>> | undefined;
  const stats = requestStats(manifest, clusters, shared.sharedData, () => running!.chains);
  const pool = new WorkerPool({ count, manifest, sharedData: sharedDataBuffer, queues: shared.queues, logger, finished: (cluster, status, durationMs) => stats.record(cluster, status, durationMs) });
  metrics.sources.push(() => pool.metrics());
  stats.settle = () => pool.flushFinished();
  let store: Store | undefined;
  let services: ServiceRegistry | undefined;
  try {
    store = deps.store ?? (await openStore(manifest.store, logger));
    const feeds = registryFeeds(manifest, (name) => ({
      update: (endpoints) => {
        clusters.get(name)?.update(endpoints);
        pool.updateEndpoints(name, endpoints);
      },
    }));
    services = await ServiceRegistry.start({ store, feeds, spec: manifest.discovery, logger, guard: registrationGuard(manifest) });
    running = await startChains(manifest, store, pool, deps);
    await pool.listen();
  } catch (error) {
    running?.chains.stop();
    services?.stop();
    await pool.drain(0);
    await store?.close();
    await clusters.close();
    throw error;
  }
  const { registry, chains } = running;
  logListening(manifest, chains, store, logger, { workers: count });
    // Narrowed for the closures below.
  const openedStore = store;
  const serviceRegistry = services;
  return {
    registry,
    chains,
    services: serviceRegistry,
    stats,
    store: openedStore.description,
    degraded: () => openedStore.unavailable?.(),
    halt: () => pool.halt(),
    async stop() {
      const { unfinished } = await pool.drain(manifest.limits.drain_timeout_ms);
      if (unfinished > 0) logger.warn({ unfinished }, 'drain timed out; closed connections with requests in flight');
      chains.stop();
      serviceRegistry.stop();
      await openedStore.close();
      await clusters.close();
    },
  };
}
