// The composition root: turns a checked manifest into a running proxy. Everything is wired here
// and nowhere else, so each module only sees the interfaces it needs.

import { pino } from 'pino';
import type { LogLevel } from './abi/enums.js';
import type { ChainInfo } from './admin/deps.js';
import { buildChain, ChainBuildError, type Chain } from './chain/chain.js';
import type { ChainServices } from './chain/services.js';
import { InMemorySharedData, InMemorySharedQueues } from './chain/shared-state.js';
import type { LogLevelName, Manifest } from './config/schema.js';
import { Clusters } from './proxy/clusters.js';
import { makeHttpCall } from './proxy/http-call.js';
import { ProxyListener } from './proxy/listener.js';
import type { FinishedRequest } from './proxy/proxy-context.js';
import { createAccessLog } from './telemetry/access-log.js';
import type { Logger } from './telemetry/logger.js';
import { WeftMetrics, type ClusterMetrics } from './telemetry/metrics.js';

export interface Weft {
  chainInfo(): ChainInfo;
  /** Stops accepting, lets in-flight requests finish (bounded by limits.drain_timeout_ms), releases everything. */
  stop(): Promise<void>;
}

export interface WeftDeps {
  logger: Logger;
  metrics: WeftMetrics;
}

/** proxy-wasm log levels as pino methods. */
const PINO_LEVEL = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** The manifest's log level as the proxy-wasm level filters are told (`silent` drops everything). */
const ABI_LEVEL: Record<LogLevelName, LogLevel> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5, silent: 5 };

function chainServices(clusters: Clusters, logLevel: LogLevelName, deps: WeftDeps): ChainServices {
  const filterLoggers = new Map<string, Logger>();
  return {
    logLevel: ABI_LEVEL[logLevel],
    sharedData: new InMemorySharedData(),
    queues: new InMemorySharedQueues(),
    filterMetrics: deps.metrics.filterMetrics,
    telemetry: deps.metrics,
    foreignFunctions: new Map(),
    filterLog(filter: string, level: LogLevel, message: string) {
      let logger = filterLoggers.get(filter);
      if (logger === undefined) filterLoggers.set(filter, (logger = deps.logger.child({ filter })));
      logger[PINO_LEVEL[level] ?? 'info'](message);
    },
    hostProperty: () => undefined,
    httpCall: makeHttpCall(clusters),
  };
}

export async function startWeft(manifest: Manifest, deps: WeftDeps): Promise<Weft> {
  const { logger, metrics } = deps;
  const clusters = new Clusters(manifest.clusters);
  const chain: Chain = await buildChain(1, manifest.filters, chainServices(clusters, manifest.log_level, deps));
  const accessLog = createAccessLog(manifest.access_log, logger);
  const clusterMetrics = new Map<string, ClusterMetrics>();

  const onFinished = (request: FinishedRequest): void => {
    const durationMs = Date.now() - request.startTimeMs;
    let cell = clusterMetrics.get(request.cluster);
    if (cell === undefined) clusterMetrics.set(request.cluster, (cell = metrics.cluster(request.cluster)));
    cell.observe(request.status, durationMs / 1000);
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
      });
    }
  };

  const listener = new ProxyListener({
    host: manifest.listen.host,
    port: manifest.listen.port,
    clusters,
    defaultCluster: manifest.default_cluster,
    limits: { maxBufferedBodyBytes: manifest.limits.max_buffered_body_bytes },
    currentChain: () => chain,
    onFinished,
  });
  try {
    await listener.listen();
  } catch (error) {
    chain.retire();
    await clusters.close();
    throw error;
  }
  logger.info({ host: manifest.listen.host, port: manifest.listen.port, filters: manifest.filters.map((f) => f.name) }, 'listening');

  return {
    chainInfo: () => ({
      revision: chain.revision,
      filters: chain.slots.map((slot) => ({
        name: slot.pluginName,
        sha256: slot.module.sha256,
        on_error: slot.spec.on_error,
        abi_version: slot.module.abiVersion,
      })),
    }),
    async stop() {
      const { unfinished } = await listener.drain(manifest.limits.drain_timeout_ms);
      if (unfinished > 0) logger.warn({ unfinished }, 'drain timed out; closed connections with requests in flight');
      chain.retire();
      await clusters.close();
    },
  };
}

/**
 * Builds every filter of the manifest once (compile, ABI check, start, configure) and tears it
 * down again: what `weft validate` and `weft run` check before anything listens.
 */
export async function checkFilters(manifest: Manifest): Promise<string[]> {
  const clusters = new Clusters(manifest.clusters);
  const quiet = new WeftMetrics({ processMetrics: false });
  const silent = { logger: pino({ enabled: false }), metrics: quiet };
  try {
    const chain = await buildChain(0, manifest.filters, chainServices(clusters, manifest.log_level, silent));
    chain.retire();
    return [];
  } catch (error) {
    if (error instanceof ChainBuildError) return error.problems;
    throw error;
  } finally {
    await clusters.close();
  }
}
