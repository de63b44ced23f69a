// The composition root: turns a checked manifest into a running proxy. Everything is wired here
// and nowhere else, so each module only sees the interfaces it needs.

import { RegistrationGuard } from './discovery/registration-guard.js';
import { pino } from 'pino';
import { WasmResult, type LogLevel } from './abi/enums.js';
import { ChainBuildError } from './chain/chain.js';
import { ChainManager } from './chain/manager.js';
import type { ChainServices } from './chain/services.js';
import type { ClusterFeed, EndpointSink } from './discovery/cluster-feed.js';
import { ServiceRegistry } from './discovery/service-registry.js';
import { vmIdOf } from './chain/filter-slot.js';
import type { ChainSpec } from './registry/chain-spec.js';
import { InMemorySharedData, InMemorySharedQueues } from './chain/shared-state.js';
import type { SharedData, SharedQueues } from './abi/host-api.js';
import { weftForeignFunctions } from './extensions/index.js';
import type { LogLevelName, Manifest } from './config/schema.js';
import { ChainControl, type GenerationHost } from './registry/chain-control.js';
import { ChainRecords } from './registry/chain-records.js';
import { FilterRegistry } from './registry/filter-registry.js';
import { parsePublicKey } from './registry/signature.js';
import { MemoryStore } from './store/memory-store.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';
import { clusterProperties } from './proxy/cluster-properties.js';
import { Clusters, type UpstreamTlsFailed } from './proxy/clusters.js';
import { makeGrpcCall } from './proxy/grpc-call.js';
import { makeHttpCall } from './proxy/http-call.js';
import { ProxyListener, type ListenerOptions } from './proxy/listener.js';
import { OverloadProtection } from './overload/protection.js';
import type { FinishedRequest } from './proxy/proxy-context.js';
import { createAccessLog, type AccessLog } from './telemetry/access-log.js';
import type { Logger } from './telemetry/logger.js';
import { WeftMetrics, type ClusterMetrics } from './telemetry/metrics.js';
import { breakerEjections, RequestStats } from './telemetry/stats.js';

export interface Weft {
  /** Filter modules and versions (POST/GET/DELETE /filters). */
  readonly registry: FilterRegistry;
  /** The chain spec: what serves, changes, rollback, history (/chain). */
  readonly chains: ChainControl;
  /** Service instances and the registry-backed clusters they feed (/services). */
  readonly services: ServiceRegistry;
  /** Per cluster and service: rates, success, latency, ejections (/stats). */
  readonly stats: RequestStats;
  /** Where the state is kept, e.g. `file weft-state.json` or `etcd 127.0.0.1:2379 /weft` (GET /server). */
  readonly store: string;
  /** Why the proxy serves its last state instead of following the store (etcd unreachable); undefined when it follows. */
  degraded(): string | undefined;
  /** Stops accepting, lets in-flight requests finish (bounded by limits.drain_timeout_ms), releases everything. */
  stop(): Promise<void>;
  /** Closes every connection at once, before the process exits without draining (absent: nothing to do first). */
  halt?(): Promise<void>;
}

export interface WeftDeps {
  logger: Logger;
  metrics: WeftMetrics;
  /** A store to use instead of the manifest's (`weft dev` runs on one in memory). */
  store?: Store;
}

/** proxy-wasm log levels as pino methods. */
const PINO_LEVEL = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** The manifest's log level as the proxy-wasm level filters are told (`silent` drops everything). */
const ABI_LEVEL: Record<LogLevelName, LogLevel> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5, silent: 5 };

/** Filter log lines as pino lines with the filter's name. */
function filterLog(base: Logger): ChainServices['filterLog'] {
  const filterLoggers = new Map<string, Logger>();
  return (filter: string, level: LogLevel, message: string) => {
    let logger = filterLoggers.get(filter);
    if (logger === undefined) filterLoggers.set(filter, (logger = base.child({ filter })));
    logger[PINO_LEVEL[level] ?? 'info'](message);
  };
}

/** Shared data and queues: in this thread, or the process-wide ones a worker reaches (host/workers/). */
export interface SharedState {
  sharedData: SharedData;
  queues: SharedQueues;
}

/** What every chain's filters share; one set for the proxy's life, so shared data survives swaps. */
export function chainServices(
  clusters: Clusters,
  manifest: Pick<Manifest, 'log_level' | 'limits'>,
  deps: WeftDeps,
  shared: SharedState = { sharedData: new InMemorySharedData(), queues: new InMemorySharedQueues() },
  overload?: OverloadProtection,
): ChainServices {
  const clusterProperty = clusterProperties(clusters);
  return {
    logLevel: ABI_LEVEL[manifest.log_level],
    sharedData: shared.sharedData,
    queues: shared.queues,
    filterMetrics: deps.metrics.filterMetrics,
    telemetry: deps.metrics,
    foreignFunctions: weftForeignFunctions,
    filterLog: filterLog(deps.logger),
    hostProperty: overload?.configured ? (key) => clusterProperty(key) ?? overload.property(key) : clusterProperty,
    httpCall: makeHttpCall(clusters),
    grpcCall: makeGrpcCall(clusters),
    quotaDefaults: { http_call_response_bytes: manifest.limits.max_http_call_response_bytes },
  };
}

/**
 * The sandbox an uploaded module's check VM runs in: its own shared data, queues and metrics,
 * no host properties and no http_call, so a module that is in no chain cannot affect the proxy.
 */
function sandboxServices(logLevel: LogLevelName, logger: Logger): ChainServices {
  const sandboxMetrics = new WeftMetrics({ processMetrics: false });
  return {
    logLevel: ABI_LEVEL[logLevel],
    sharedData: new InMemorySharedData(),
    queues: new InMemorySharedQueues(),
    filterMetrics: sandboxMetrics.filterMetrics,
    telemetry: sandboxMetrics,
    foreignFunctions: new Map(),
    filterLog: filterLog(logger.child({ upload_check: true })),
    hostProperty: () => undefined,
    httpCall: () => WasmResult.Unimplemented,
  };
}

/** The shared-data namespaces of the filters of every chain that serves. */
function servingVmIds(spec: ChainSpec): Set<string> {
  const vmIds = new Set<string>();
  for (const entries of [spec.filters, ...Object.values(spec.chains ?? {})]) for (const entry of entries) vmIds.add(vmIdOf(entry));
  return vmIds;
}

/** Every failed upstream handshake is counted; logged once a second per cluster and side at most (a bad certificate fails every connection). */
export function upstreamTlsFailed(metrics: WeftMetrics, logger: Logger): UpstreamTlsFailed {
  const lastLogged = new Map<string, { atMs: number; suppressed: number }>();
  return (cluster, endpoint, error) => {
    metrics.upstreamTlsFailure(cluster, error.side);
    const key = `${cluster} ${error.side}`;
    const now = Date.now();
    const last = lastLogged.get(key);
    if (last !== undefined && now - last.atMs < 1000) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    lastLogged.set(key, { atMs: now, suppressed: 0 });
    logger.warn({ cluster, endpoint, side: error.side, detail: error.detail, ...(suppressed > 0 ? { suppressed } : {}) }, 'upstream tls handshake failed');
  };
}

/** What the service registry refuses to register: the proxy's own addresses, and addresses outside discovery.allowed_networks. */
export function registrationGuard(manifest: Manifest): RegistrationGuard {
  return new RegistrationGuard({ ownAddresses: [manifest.listen, manifest.admin], allowedNetworks: manifest.discovery.allowed_networks });
}

/** The clusters the service registry feeds (`discovery: registry`), each with its subset of a service. */
export function registryFeeds(manifest: Manifest, sinkFor: (cluster: string) => EndpointSink): ClusterFeed[] {
  return manifest.clusters.flatMap((spec) => (spec.discovery === undefined ? [] : [{ name: spec.name, subset: spec.discovery, cluster: sinkFor(spec.name) }]));
}

/** Where a chain's generations run: a ChainManager here, or the worker threads. */
export type GenerationRunner = GenerationHost & { stop(): void };

interface ChainsRunning {
  registry: FilterRegistry;
  chains: ChainControl;
  manager: GenerationRunner;
}

/** A ChainManager on this thread whose generations and VMs alive are metrics. */
export function localManager(services: ChainServices, metrics: WeftMetrics): ChainManager {
  return new ChainManager(services, { changed: (generations, vms) => metrics.chain.alive(generations, vms) });
}

/**
 * Registry, chain control and manager on `store`, serving the store's chain (or the manifest's,
 * seeding it). `manager` is where generations run; the registry's upload checks always run here.
 */
export async function startChains(manifest: Manifest, store: Store, manager: GenerationRunner, deps: WeftDeps): Promise<ChainsRunning> {
  const { logger, metrics } = deps;
  const registry = new FilterRegistry(store, {
    maxModuleBytes: manifest.registry.max_module_bytes,
    trustedKeys: manifest.registry.trusted_keys.map(parsePublicKey),
    checkServices: sandboxServices(manifest.log_level, logger),
  });
  const chains = new ChainControl({ records: new ChainRecords(store), registry, manager, metrics: metrics.chain, logger });
  try {
    await chains.start(manifest);
  } catch (error) {
    manager.stop();
    throw error;
  }
  return { registry, chains, manager };
}

export async function startWeft(manifest: Manifest, deps: WeftDeps): Promise<Weft> {
  const { logger, metrics } = deps;
  // The OpenTelemetry SDK is loaded only when tracing is on: off costs nothing, not even the import.
  // First, as it holds nothing to release until spans exist.
  const tracing = manifest.tracing.exporter === 'off' ? undefined : (await import('./telemetry/tracing.js')).createTracing(manifest.tracing, logger);
  const clusters = new Clusters(manifest.clusters, upstreamTlsFailed(metrics, logger));
  clusters.watchCertificates(logger);
  // Guards go on the clusters before anything can send to them; the listener comes later.
  const overload = new OverloadProtection(manifest, clusters, metrics.registry, logger, { refuseConnections: (refuse) => listener.refuseConnections(refuse) });
  // Held here too so /stats can read the breaker's ejections.
  const shared: SharedState = { sharedData: new InMemorySharedData(), queues: new InMemorySharedQueues() };
  let store: Store;
  let running: ChainsRunning;
  let services: ServiceRegistry | undefined;
  try {
    store = deps.store ?? (await openStore(manifest.store, logger));
  } catch (error) {
    await clusters.close();
    throw error;
  }
  const manager = localManager(chainServices(clusters, manifest, deps, shared, overload), metrics);
  try {
    services = await ServiceRegistry.start({ store, feeds: registryFeeds(manifest, (name) => clusters.get(name)!), spec: manifest.discovery, logger, guard: registrationGuard(manifest) });
    running = await startChains(manifest, store, manager, deps);
  } catch (error) {
    services?.stop();
    await store.close();
    await clusters.close();
    throw error;
  }
  const { registry, chains } = running;
  const stats = requestStats(manifest, clusters, shared.sharedData, () => chains);
  if (overload.configured) stats.overload = () => overload.report();

  const release = async () => {
    overload.stop();
    chains.stop();
    manager.stop();
    services.stop();
    await tracing?.shutdown();
    await store.close();
    await clusters.close();
  };
  let listener: ProxyListener;
  try {
    listener = new ProxyListener(
      listenerOptions(manifest, {
        logger,
        clusters,
        overload,
        tracer: tracing?.tracer,
        chainFor: (authority, path) => manager.chainFor(authority, path),
        onFinished: finishedRequests(createAccessLog(manifest.access_log, logger), metrics, (cluster, status, durationMs) => stats.record(cluster, status, durationMs)),
      }),
    );
    await listener.listen();
  } catch (error) {
    await release();
    throw error;
  }
  overload.start();
  logListening(manifest, chains, store, logger);

  return {
    registry,
    chains,
    services,
    stats,
    store: store.description,
    degraded: () => store.unavailable?.(),
    async stop() {
      const { unfinished } = await listener.drain(manifest.limits.drain_timeout_ms);
      if (unfinished > 0) logger.warn({ unfinished }, 'drain timed out; closed connections with requests in flight');
      await release();
    },
  };
}

/** The `listening` line tests and operators wait for. */
export function logListening(manifest: Manifest, chains: ChainControl, store: Store, logger: Logger, extra: Record<string, unknown> = {}): void {
  const serving = chains.current();
  logger.info(
    {
      host: manifest.listen.host,
      port: manifest.listen.port,
      revision: serving.revision,
      filters: serving.spec.filters.map((f) => f.name),
      store: store.description,
      ...extra,
    },
    'listening',
  );
}

/** /stats per cluster, with the breaker's ejections read from shared data. */
export function requestStats(manifest: Manifest, clusters: Clusters, sharedData: SharedData, chains: () => ChainControl): RequestStats {
  return new RequestStats(
    manifest.clusters.map((spec) => ({ name: spec.name, service: spec.discovery?.service })),
    (name, nowMs) => breakerEjections(sharedData, servingVmIds(chains().current().spec), name, clusters.get(name)?.endpoints.map((endpoint) => endpoint.address) ?? [], nowMs),
  );
}

/** The listener of the manifest; `reusePort` when several worker threads listen on one address. */
export function listenerOptions(
  manifest: Manifest,
  parts: Pick<ListenerOptions, 'logger' | 'clusters' | 'chainFor' | 'onFinished'> & { overload: OverloadProtection; tracer: ListenerOptions['tracer'] | undefined; reusePort?: boolean; quiet?: boolean },
): ListenerOptions {
  const { overload, tracer, reusePort, quiet, ...rest } = parts;
  return {
    ...(tracer === undefined ? {} : { tracer }),
    ...(reusePort === undefined ? {} : { reusePort }),
    ...(quiet === undefined ? {} : { quiet }),
    host: manifest.listen.host,
    port: manifest.listen.port,
    ...(manifest.listen.tls === undefined ? {} : { tls: manifest.listen.tls }),
    ...(manifest.listen.engine === undefined ? {} : { engine: manifest.listen.engine }),
    ...(manifest.listen.protocols === undefined ? {} : { protocols: manifest.listen.protocols }),
    defaultCluster: manifest.default_cluster,
    limits: { maxBufferedBodyBytes: manifest.limits.max_buffered_body_bytes, maxRequestHeaderBytes: manifest.limits.max_request_headers_kb * 1024 },
    http: manifest.http,
    overload: overload.manager,
    ...rest,
  };
}

/** What happens once per finished request: metrics, /stats (`record`), the access log line. */
export function finishedRequests(accessLog: AccessLog, metrics: WeftMetrics, record: (cluster: string, status: number, durationMs: number) => void): (request: FinishedRequest) => void {
  const clusterMetrics = new Map<string, ClusterMetrics>();
  return (request) => {
    const durationMs = Date.now() - request.startTimeMs;
    let cell = clusterMetrics.get(request.cluster);
    if (cell === undefined) clusterMetrics.set(request.cluster, (cell = metrics.cluster(request.cluster)));
    cell.observe(request.status, durationMs / 1000);
    if (request.grpcStatus !== undefined) cell.observeGrpc(request.grpcStatus);
    record(request.cluster, request.status, durationMs);
    if (accessLog.enabled) {
      accessLog.write({
        method: request.method,
        path: request.path,
        status: request.status,
        duration_ms: durationMs,
        upstream: request.upstream === '-' ? null : request.upstream,
        flags: request.flags === '-' ? '' : request.flags,
        bytes_sent: request.bytesSent,
        bytes_received: request.bytesReceived,
        request_id: request.requestId ?? '',
        route: request.route ?? null,
        reason: request.reason ?? null,
        details: request.details ?? null,
        grpc_status: request.grpcStatus ?? null,
      });
    }
  };
}

/**
 * Builds every chain of the manifest once (compile, ABI check, start, configure) the way
 * `weft run` seeds an empty store, on a store in memory, and tears it down again: what
 * `weft validate` and `weft run` check before anything listens.
 */
export async function checkFilters(manifest: Manifest): Promise<string[]> {
  const clusters = new Clusters(manifest.clusters);
  const silent = { logger: pino({ enabled: false }), metrics: new WeftMetrics({ processMetrics: false }) };
  const store = MemoryStore.inMemory();
  try {
    const { chains, manager } = await startChains(manifest, store, localManager(chainServices(clusters, manifest, silent), silent.metrics), silent);
    chains.stop();
    manager.stop();
    return [];
  } catch (error) {
    if (error instanceof ChainBuildError) return error.problems;
    throw error;
  } finally {
    await store.close();
    await clusters.close();
  }
}
