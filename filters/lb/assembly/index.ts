// lb: picks the endpoint of the cluster the router chose (weft.upstream.cluster, else the
// configured default_cluster) by that cluster's policy, skipping endpoints that are unhealthy or
// ejected by the breaker, and sets weft.upstream.endpoint. No usable endpoint: 503
// `no healthy upstream`, flag UH. An endpoint an earlier filter pinned is kept (the pin
// contract, ../README.md). See ../README.md for the configuration.

export * from "../../../sdk/assembly/exports";

import {
  FilterHeadersStatus, Header, HttpContext, Phases, PropertyPath, RootContext, logError, logInfo,
  registerRootContext, sendLocalResponse,
} from "../../../sdk/assembly";
import { Random, getClusterNames } from "../../../sdk/assembly/cluster";
import { Balancer } from "./balancer";
import { LbConfig, parseLbConfig } from "./config";

const UPSTREAM_CLUSTER = new PropertyPath(["weft", "upstream", "cluster"]);
const UPSTREAM_ENDPOINT = new PropertyPath(["weft", "upstream", "endpoint"]);
const RESPONSE_FLAGS = new PropertyPath(["weft", "response", "flags"]);
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

  phases(): u32 {
    return Phases.RequestHeaders;
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
    if (UPSTREAM_ENDPOINT.get() !== null) return FilterHeadersStatus.Continue;
    let cluster = UPSTREAM_CLUSTER.getString();
    if (cluster === null) cluster = this.lb.config.defaultCluster;
    // No cluster named, or one the host does not publish: the host decides (and answers 503 NC
    // for an unknown cluster, or UH for one without endpoints).
    if (cluster.length == 0) return FilterHeadersStatus.Continue;
    const balancer = this.lb.balancer(cluster);
    const endpoints = balancer.endpoints.read();
    if (endpoints.length == 0) return FilterHeadersStatus.Continue;

    const address = balancer.pick(endpoints, this.lb.random);
    if (address === null) {
      RESPONSE_FLAGS.setString("UH");
      sendLocalResponse(503, "no healthy upstream\n", TEXT_PLAIN);
      return FilterHeadersStatus.StopIteration;
    }
    UPSTREAM_ENDPOINT.set(address);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new LbRoot(contextId), "lb");
