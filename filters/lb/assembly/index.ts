// lb: picks the endpoint of the cluster the router chose (weft.upstream.cluster, else the
// configured default_cluster) by that cluster's policy, skipping endpoints that are unhealthy or
// ejected by the breaker, and sets weft.upstream.endpoint. No usable endpoint: 503
// `no healthy upstream`, flag UH. An endpoint an earlier filter pinned is kept (the pin
// contract, ../README.md). See ../README.md for the configuration.

export * from "../../../sdk/assembly/exports";

import {
  FilterHeadersStatus, Header, HttpContext, RootContext, getCurrentTimeNanoseconds, getProperty, getPropertyString, logError,
  logInfo, registerRootContext, sendLocalResponse, setProperty, setPropertyString,
} from "../../../sdk/assembly";
import { Random, getClusterEndpoints, getClusterNames } from "../../../sdk/assembly/cluster";
import { Balancer } from "./balancer";
import { LbConfig, parseLbConfig } from "./config";

const UPSTREAM_CLUSTER = ["weft", "upstream", "cluster"];
const UPSTREAM_ENDPOINT = ["weft", "upstream", "endpoint"];
const RESPONSE_FLAGS = ["weft", "response", "flags"];
const TEXT_PLAIN = [new Header("content-type", "text/plain")];

class LbRoot extends RootContext {
  config: LbConfig = new LbConfig();
  /** One balancer per cluster seen, created on its first request. Per VM, so per proxy worker. */
  private readonly balancers: Map<string, Balancer> = new Map<string, Balancer>();
  random: Random = new Random(0);

  onConfigure(configurationSize: u32): bool {
    const json = this.getPluginConfigurationJson();
    if (json === null) return false;
    const config = parseLbConfig(json, getClusterNames());
    if (config.error.length > 0) {
      logError("lb: " + config.error);
      return false;
    }
    this.config = config;
    this.balancers.clear();
    this.random = Random.fromClock(<u64>this.contextId);
    const count = config.clusters.size;
    logInfo("lb: " + count.toString() + (count == 1 ? " cluster" : " clusters") + " with their own policy");
    return true;
  }

  balancer(cluster: string): Balancer {
    if (this.balancers.has(cluster)) return this.balancers.get(cluster);
    const balancer = new Balancer(cluster, this.config.policyFor(cluster));
    this.balancers.set(cluster, balancer);
    return balancer;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Lb(contextId, this);
  }
}

class Lb extends HttpContext {
  private readonly lb: LbRoot;

  constructor(contextId: u32, root: LbRoot) {
    super(contextId, root);
    this.lb = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    // Pin contract: a filter before the lb that set weft.upstream.endpoint (the breaker's
    // half-open probe) decided; the lb must not replace it. The host checks the pin is in the cluster.
    if (getProperty(UPSTREAM_ENDPOINT) !== null) return FilterHeadersStatus.Continue;
    let cluster = getPropertyString(UPSTREAM_CLUSTER);
    if (cluster === null) cluster = this.lb.config.defaultCluster;
    // No cluster named, or one the host does not publish: the host decides (and answers 503 NC
    // for an unknown cluster, or UH for one without endpoints).
    if (cluster.length == 0) return FilterHeadersStatus.Continue;
    const endpoints = getClusterEndpoints(cluster);
    if (endpoints.length == 0) return FilterHeadersStatus.Continue;

    const now = <i64>getCurrentTimeNanoseconds();
    const address = this.lb.balancer(cluster).pick(endpoints, now, this.lb.random);
    if (address === null) {
      setPropertyString(RESPONSE_FLAGS, "UH");
      sendLocalResponse(503, "no healthy upstream\n", TEXT_PLAIN);
      return FilterHeadersStatus.StopIteration;
    }
    setProperty(UPSTREAM_ENDPOINT, address);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new LbRoot(contextId), "lb");
