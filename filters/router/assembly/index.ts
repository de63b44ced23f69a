// router: picks the route of each request (first match wins) and applies it: the cluster (or a
// weighted pick among clusters), path and host rewrites, the route's timeout and retry policy as
// weft.route.* properties, or a direct response. No route: 404 `no route for GET /x`, flag NR.
// See ../README.md for the configuration.

export * from "../../../sdk/assembly/exports";

import {
  FilterHeadersStatus, Header, HttpContext, Phases, RootContext, logError, logInfo, registerRootContext,
  requestHeaders, sendLocalResponse, setProperty, setPropertyString,
} from "../../../sdk/assembly";
import { Random, getClusterNames } from "../../../sdk/assembly/cluster";
import { parseRouterConfig } from "./config";
import { RequestFacts, Route } from "./routes";

const ROUTE_NAME = ["weft", "route", "name"];
const UPSTREAM_CLUSTER = ["weft", "upstream", "cluster"];
const RESPONSE_FLAGS = ["weft", "response", "flags"];
const NO_ROUTE_HEADERS = [new Header("content-type", "text/plain")];

class RouterRoot extends RootContext {
  routes: Array<Route> = [];
  /** For weighted clusters without a sticky key. Per VM, so per proxy worker. */
  random: Random = new Random(0);

  onConfigure(configurationSize: u32): bool {
    const json = this.getPluginConfigurationJson();
    if (json === null) return false;
    const config = parseRouterConfig(json, getClusterNames());
    if (config.error.length > 0) {
      logError("router: " + config.error);
      return false;
    }
    this.routes = config.routes;
    this.random = Random.fromClock(<u64>this.contextId);
    const count = this.routes.length;
    logInfo("router: " + count.toString() + (count == 1 ? " route" : " routes"));
    return true;
  }

  phases(): u32 {
    return Phases.RequestHeaders;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Router(contextId, this);
  }
}

class Router extends HttpContext {
  private readonly router: RouterRoot;

  constructor(contextId: u32, root: RouterRoot) {
    super(contextId, root);
    this.router = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const facts = new RequestFacts(
      orEmpty(requestHeaders.get(":method")),
      orEmpty(requestHeaders.get(":path")),
      orEmpty(requestHeaders.get(":authority")),
    );
    const routes = this.router.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i];
      if (route.matches(facts)) return this.apply(route, facts);
    }
    setPropertyString(RESPONSE_FLAGS, "NR");
    sendLocalResponse(404, "no route for " + facts.method + " " + facts.path.substring(0, facts.pathEnd) + "\n", NO_ROUTE_HEADERS);
    return FilterHeadersStatus.StopIteration;
  }

  private apply(route: Route, facts: RequestFacts): FilterHeadersStatus {
    setProperty(ROUTE_NAME, route.nameBytes);
    if (route.directStatus != 0) {
      sendLocalResponse(route.directStatus, route.directBody, route.directHeaders);
      return FilterHeadersStatus.StopIteration;
    }
    const weighted = route.weighted;
    setProperty(UPSTREAM_CLUSTER, weighted === null ? route.cluster! : weighted.pick(this.router.random).nameBytes);
    const settings = route.settings;
    for (let i = 0; i < settings.length; i++) setProperty(settings[i].path, settings[i].value);
    if (route.prefixRewrite !== null) requestHeaders.replace(":path", route.rewritePath(facts));
    if (route.hostRewrite !== null) requestHeaders.replace(":authority", route.hostRewrite!);
    return FilterHeadersStatus.Continue;
  }
}

function orEmpty(value: string | null): string {
  return value === null ? "" : value;
}

registerRootContext((contextId: u32): RootContext => new RouterRoot(contextId), "router");
