// A worker thread: one listener (sharing the address with the other workers), its own chains
// and VMs, clusters and upstream pools, metrics. What a proxy holds once (store, registry,
// chain spec, service registry, admin API, shared data) stays on the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { ChainBuildError } from '../chain/chain.js';
import type { ChainPlan, Generation } from '../chain/manager.js';
import { FilterModule } from '../abi/vm.js';
import { shareConnectionIds } from '../net/connection-facts.js';
import { OverloadProtection } from '../overload/protection.js';
import { Clusters } from '../proxy/clusters.js';
import { ProxyListener } from '../proxy/listener.js';
import { createAccessLog } from '../telemetry/access-log.js';
import { createLogger } from '../telemetry/logger.js';
import { WeftMetrics } from '../telemetry/metrics.js';
import { chainServices, finishedRequests, listenerOptions, localManager, upstreamTlsFailed } from '../weft.js';
import { sharedCounters } from '../proxy/in-flight.js';
import type { Command, Report, WorkerStart } from './messages.js';
import { SharedDataTable, warnWhenFull } from './shared-data-table.js';
import { remoteSharedQueues } from './shared-state-channel.js';

/** How often finished requests go to the main thread's /stats. */
const FINISHED_REPORT_MS = 200;

const start = workerData as WorkerStart;
const port = parentPort!;
const { manifest } = start;
shareConnectionIds(start.connectionIds);
const logger = createLogger(manifest.log_level).child({ worker: start.index });
const metrics = new WeftMetrics({ processMetrics: false });
const tracing = manifest.tracing.exporter === 'off' ? undefined : (await import('../telemetry/tracing.js')).createTracing(manifest.tracing, logger);
const clusters = new Clusters(manifest.clusters, upstreamTlsFailed(metrics, logger), sharedCounters(start.inFlight));
clusters.watchCertificates(logger);
for (const [name, endpoints] of start.endpoints) clusters.get(name)?.update(endpoints);
const overload = new OverloadProtection(manifest, clusters, metrics.registry, logger, { refuseConnections: (refuse) => listener.refuseConnections(refuse) });
const shared = { sharedData: new SharedDataTable(start.sharedData, warnWhenFull(logger)), queues: remoteSharedQueues(start.shared) };
const manager = localManager(chainServices(clusters, manifest, { logger, metrics }, shared, overload), metrics);
const generations = new Map<number, Generation>();

let finished: Array<string | number> = [];
function reportFinished(): void {
  if (finished.length === 0) return;
  send({ op: 'finished', requests: finished });
  finished = [];
}
const reporting = setInterval(reportFinished, FINISHED_REPORT_MS);

const listener = new ProxyListener(
  listenerOptions(manifest, {
    logger,
    clusters,
    overload,
    tracer: tracing?.tracer,
    reusePort: true,
    // Every worker runs the same engine: the first says which.
    quiet: start.index !== 1,
    chainFor: (authority, path) => manager.chainFor(authority, path),
    onFinished: finishedRequests(createAccessLog(manifest.access_log, logger, start.index), metrics, (cluster, status, durationMs) => finished.push(cluster, status, durationMs)),
  }),
);

function send(report: Report): void {
  port.postMessage(report);
}

/** The plan as posted: its modules arrive as plain objects holding the compiled module. */
function revive(plan: ChainPlan): ChainPlan {
  const chains = new Map([...plan.chains].map(([name, filters]) => [name, filters.map((filter) => ({ ...filter, module: FilterModule.fromClone(filter.module) }))]));
  return { chains, routes: plan.routes };
}

async function listen(): Promise<void> {
  await listener.listen();
  overload.start();
}

async function drain(timeoutMs: number): Promise<number> {
  const { unfinished } = await listener.drain(timeoutMs);
  overload.stop();
  manager.stop();
  clearInterval(reporting);
  reportFinished();
  await tracing?.shutdown();
  await clusters.close();
  return unfinished;
}

async function perform(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'build':
      generations.set(command.generation, manager.build(revive(command.plan)));
      return undefined;
    case 'activate': {
      const generation = generations.get(command.generation);
      if (generation === undefined) throw new Error(`no generation ${command.generation} was built here`);
      generations.delete(command.generation);
      manager.activate(generation, command.revision);
      return undefined;
    }
    case 'discard': {
      const generation = generations.get(command.generation);
      generations.delete(command.generation);
      if (generation !== undefined) manager.discard(generation);
      return undefined;
    }
    case 'listen':
      return listen();
    case 'metrics':
      return metrics.registry.getMetricsAsJSON();
    case 'flush':
      // Posted before the reply, so the main thread has counted them when the reply arrives.
      reportFinished();
      return undefined;
    case 'drain':
      return drain(command.timeoutMs);
    case 'halt':
      listener.closeNow();
      return undefined;
    case 'endpoints':
      clusters.get(command.cluster)?.update(command.endpoints);
      return undefined;
    case 'queue-ready':
      shared.queues.ready(command.queueId);
      return undefined;
  }
}

port.on('message', (command: Command) => {
  perform(command).then(
    (value) => {
      if ('id' in command) send({ op: 'reply', id: command.id, ok: true, value });
    },
    (error: unknown) => {
      if (!('id' in command)) {
        logger.error({ err: error, op: command.op }, 'worker: command failed');
        return;
      }
      const problems = error instanceof ChainBuildError ? { problems: error.problems } : {};
      send({ op: 'reply', id: command.id, ok: false, error: error instanceof Error ? error.message : String(error), ...problems });
    },
  );
});

// A bug that escapes to here ends this worker, not the process: its connections close (their
// requests fail), and the main thread starts a replacement. The sockets must be closed before the
// thread ends: uWS 20.30 leaves its poll handle behind otherwise, and Node aborts the whole
// process when a worker's event loop closes with a handle open.
const crashed = (error: unknown): void => {
  logger.fatal({ err: error }, 'worker crashed; closing its connections');
  listener.closeNow();
  logger.flush();
  process.exit(1);
};
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);

// A replacement for a worker that died serves what the others serve, at once.
if (start.serving !== undefined) {
  manager.activate(manager.build(revive(start.serving.plan)), start.serving.revision);
  await listen();
  send({ op: 'serving' });
}
