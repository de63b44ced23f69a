// Clusters and their endpoints, each endpoint with one keep-alive pool of connections
// (h1-upstream.ts for HTTP/1.1, h2-upstream.ts for HTTP/2).
// Choosing among endpoints is the lb filter's job (it sets weft.upstream.endpoint); the smooth
// weighted round robin here is only the fallback when no filter chose.

import { maxHeaderSize } from 'node:http';
import { createSecureContext } from 'node:tls';
import { buildConnector } from 'undici';
import type { ClusterSpec, UpstreamProtocol, UpstreamTlsSpec } from '../config/schema.js';
import { watchFiles } from '../net/watch-files.js';
import type { ClusterGuard } from '../overload/cluster-guard.js';
import type { Logger } from '../telemetry/logger.js';
import { Http1Upstream } from './h1-upstream.js';
import { Http2Upstream } from './h2-upstream.js';
import { LocalCounter, localCounters, type InFlightCounter, type InFlightCounters } from './in-flight.js';
import { tlsConnector, upstreamTlsOptions, type UpstreamTlsError, type UpstreamTlsOptions } from './upstream-tls.js';

/** Told about every connection to an endpoint whose TLS handshake failed (metrics and log). */
export type UpstreamTlsFailed = (cluster: string, endpoint: string, error: UpstreamTlsError) => void;

/** Weight of the newest sample in the latency EWMA: about the last ten responses count. */
const EWMA_ALPHA = 0.2;
/** Gateway failures are counted per second over this many seconds (`recent_failures`). */
const FAILURE_WINDOW_S = 10;

/** An endpoint's connections: HTTP/1.1 (h1-upstream.ts), or node:http2 sessions for h2 and h2c (h2-upstream.ts). */
export type UpstreamPool = Http1Upstream | Http2Upstream;

export class Endpoint {
  readonly address: string;
  /** Smooth weighted round robin state (nginx's algorithm). */
  currentWeight = 0;
  /** False while a registry instance misses its heartbeats; static endpoints stay healthy. */
  healthy = true;
  latencyEwmaMs = 0;
  consecutiveFailures = 0;
  requestsTotal = 0;
  /** Gateway failures per second, a ring indexed by (second % window); stamps say which second a slot holds. */
  private readonly failureCounts = new Uint32Array(FAILURE_WINDOW_S);
  private readonly failureStamps = new Float64Array(FAILURE_WINDOW_S);

  constructor(
    readonly host: string,
    readonly port: number,
    public weight: number,
    /** Replaced when the cluster's TLS certificates reload; requests already sent finish on the old one. */
    public pool: UpstreamPool,
    /** Requests sent and not yet finished, by every worker thread (in-flight.ts). */
    private readonly inFlightCounter: InFlightCounter = new LocalCounter(),
  ) {
    this.address = `${host}:${port}`;
  }

  /** Requests sent and not yet finished: what least-request balancing reads. */
  get inFlight(): number {
    return this.inFlightCounter.value;
  }

  /** A request to this endpoint was sent (+1) or finished (-1). */
  countInFlight(delta: 1 | -1): void {
    this.inFlightCounter.add(delta);
  }

  /** An upstream answered (any status that is not a gateway failure) after `latencyMs`. */
  recordResponse(latencyMs: number): void {
    this.requestsTotal++;
    this.consecutiveFailures = 0;
    this.latencyEwmaMs = this.latencyEwmaMs === 0 ? latencyMs : this.latencyEwmaMs + EWMA_ALPHA * (latencyMs - this.latencyEwmaMs);
  }

  /** Connect failure, reset, timeout, or a 502/503/504 from the upstream itself. */
  recordGatewayFailure(nowMs: number): void {
    this.requestsTotal++;
    this.consecutiveFailures++;
    const second = Math.floor(nowMs / 1000);
    const slot = second % FAILURE_WINDOW_S;
    if (this.failureStamps[slot] !== second) {
      this.failureStamps[slot] = second;
      this.failureCounts[slot] = 0;
    }
    this.failureCounts[slot]!++;
  }

  recentFailures(nowMs: number): number {
    const oldest = Math.floor(nowMs / 1000) - FAILURE_WINDOW_S;
    let total = 0;
    for (let i = 0; i < FAILURE_WINDOW_S; i++) if (this.failureStamps[i]! > oldest) total += this.failureCounts[i]!;
    return total;
  }
}

/** An endpoint as a cluster is told about it: from the manifest, or from the service registry. */
export interface EndpointSpec {
  host: string;
  port: number;
  weight: number;
  /** Registry instances turn unhealthy when they miss their heartbeats; default true. */
  healthy?: boolean;
}

export class Cluster {
  readonly name: string;
  readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** Circuit breakers and adaptive concurrency (host/overload), set at start; undefined when the manifest asks for neither. */
  guard: ClusterGuard | undefined;
  private readonly connectionsPerEndpoint: number;
  private readonly protocol: UpstreamProtocol;
  private current: Endpoint[] = [];
  private readonly byAddress = new Map<string, Endpoint>();

  /** TLS options for every connection to this cluster (mutual TLS when it has a client certificate). */
  private tls: UpstreamTlsOptions | undefined;
  private readonly tlsSpec: UpstreamTlsSpec | undefined;

  constructor(
    spec: ClusterSpec,
    private readonly tlsFailed: UpstreamTlsFailed = () => {},
    private readonly inFlightCounters: InFlightCounters = localCounters,
  ) {
    this.name = spec.name;
    this.timeoutMs = spec.timeout_ms;
    this.connectTimeoutMs = spec.connect_timeout_ms;
    this.connectionsPerEndpoint = spec.circuit_breakers?.max_connections ?? 128;
    this.protocol = spec.protocol ?? 'http1';
    this.tlsSpec = spec.tls;
    this.tls = spec.tls === undefined ? undefined : upstreamTlsOptions(spec.tls);
    this.update(spec.endpoints);
  }

  /** TLS options of this cluster's connections (current after a reload); undefined = plaintext. */
  get tlsOptions(): UpstreamTlsOptions | undefined {
    return this.tls;
  }

  /** The certificate, key and CA files this cluster's TLS reads. */
  get tlsFiles(): string[] {
    const spec = this.tlsSpec;
    return spec === undefined ? [] : [spec.ca, spec.cert, spec.key].filter((file): file is string => file !== undefined);
  }

  /**
   * Re-reads the TLS files and gives every endpoint a new pool with them; requests already sent
   * finish on the old pool, which then closes. Throws, changing nothing, when the files do not
   * make a valid TLS context (a bad certificate, a key that does not match).
   */
  reloadTls(): void {
    const next = upstreamTlsOptions(this.tlsSpec!);
    createSecureContext(next);
    this.tls = next;
    for (const endpoint of this.current) {
      const old = endpoint.pool;
      endpoint.pool = this.newPool(endpoint.host, endpoint.port);
      void old.close();
    }
  }

  get endpoints(): readonly Endpoint[] {
    return this.current;
  }

  /**
   * Replaces the endpoint set (a registry-backed cluster follows its instances). Endpoints that
   * stay keep their pool, connections and statistics; removed ones close their pool once the
   * requests they serve have finished.
   */
  update(specs: readonly EndpointSpec[]): void {
    const next: Endpoint[] = [];
    const kept = new Set<Endpoint>();
    for (const spec of specs) {
      const address = `${spec.host}:${spec.port}`;
      let endpoint = this.byAddress.get(address);
      if (endpoint === undefined) {
        endpoint = new Endpoint(spec.host, spec.port, spec.weight, this.newPool(spec.host, spec.port), this.inFlightCounters(this.name, address));
        this.byAddress.set(address, endpoint);
      }
      endpoint.weight = spec.weight;
      endpoint.healthy = spec.healthy ?? true;
      kept.add(endpoint);
      next.push(endpoint);
    }
    for (const [address, endpoint] of this.byAddress) {
      if (kept.has(endpoint)) continue;
      this.byAddress.delete(address);
      void endpoint.pool.close(); // close() waits for the requests in flight
    }
    this.current = next;
  }

  private newPool(host: string, port: number): UpstreamPool {
    const tls = this.tls;
    const address = `${host}:${port}`;
    const keepAliveMs = 30_000;
    const connector =
      tls === undefined
        ? buildConnector({ timeout: this.connectTimeoutMs })
        : tlsConnector({ connectTimeoutMs: this.connectTimeoutMs, tls, allowH2: this.protocol === 'h2', onFailure: (error) => this.tlsFailed(this.name, address, error) });
    if (this.protocol !== 'http1') {
      return new Http2Upstream({ connector, host, port, tls: tls !== undefined, maxConnections: this.connectionsPerEndpoint, idleTimeoutMs: keepAliveMs });
    }
    return new Http1Upstream({
      connector,
      host,
      port,
      tls: tls !== undefined,
      maxConnections: this.connectionsPerEndpoint,
      idleTimeoutMs: keepAliveMs,
      // Proxied requests keep their own time (upstream-attempt.ts); these bound http_call's.
      headersTimeoutMs: this.timeoutMs,
      bodyTimeoutMs: this.timeoutMs,
      maxHeadBytes: maxHeaderSize,
    });
  }

  endpoint(address: string): Endpoint | undefined {
    return this.byAddress.get(address);
  }

  /**
   * Smooth weighted round robin over healthy endpoints: spreads a 1:3 split as b a b b rather
   * than a b b b. `avoid` (a retry's failed endpoint) is skipped unless it is the only one.
   */
  pick(avoid?: Endpoint): Endpoint | undefined {
    let best: Endpoint | undefined;
    let total = 0;
    for (const endpoint of this.current) {
      if (!endpoint.healthy || (endpoint === avoid && this.current.length > 1)) continue;
      total += endpoint.weight;
      endpoint.currentWeight += endpoint.weight;
      if (best === undefined || endpoint.currentWeight > best.currentWeight) best = endpoint;
    }
    if (best !== undefined) best.currentWeight -= total;
    return best;
  }

  async close(): Promise<void> {
    await Promise.all(this.current.map((e) => e.pool.close()));
  }
}

export class Clusters {
  private readonly byName = new Map<string, Cluster>();
  private readonly unwatch: Array<() => void> = [];

  /** `inFlight`: where endpoint in-flight counts live (shared across worker threads, or local). */
  constructor(specs: readonly ClusterSpec[], tlsFailed?: UpstreamTlsFailed, inFlight: InFlightCounters = localCounters) {
    for (const spec of specs) this.byName.set(spec.name, new Cluster(spec, tlsFailed, inFlight));
  }

  get(name: string): Cluster | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.byName.values();
  }

  /** Reloads a cluster's TLS when its files change; a bad new certificate is refused and logged. */
  watchCertificates(logger: Logger): void {
    for (const cluster of this.byName.values()) {
      const files = cluster.tlsFiles;
      if (files.length === 0) continue;
      this.unwatch.push(
        watchFiles(files, () => {
          try {
            cluster.reloadTls();
            logger.info({ cluster: cluster.name }, 'upstream tls certificate reloaded');
          } catch (error) {
            logger.error({ cluster: cluster.name, err: (error as Error).message }, 'upstream tls certificate refused; the previous one keeps serving');
          }
        }),
      );
    }
  }

  async close(): Promise<void> {
    for (const stop of this.unwatch.splice(0)) stop();
    await Promise.all([...this.byName.values()].map((c) => c.close()));
  }
}
