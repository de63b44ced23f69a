// breaker: outlier detection per endpoint and a circuit per cluster, with all state in shared
// data (so it survives a hot swap of any filter, this one included).
//
// - Outlier detection: in on_log, every answer from an endpoint (response.code, upstream.address,
//   also for the host's own 502/503/504 when it could not connect or timed out) is counted; N
//   5xx (or N gateway failures) in a row eject the endpoint for base × times ejected, capped,
//   never more than max_ejection_percent of the cluster at once. The deadline goes to
//   `breaker.ejected.<cluster>.<host:port>`, which the lb filter skips.
// - Half-open: once the deadline has passed, the next request to the cluster is pinned to the
//   endpoint (weft.upstream.endpoint) as its one probe; success brings it back, failure ejects
//   it again for longer.
// - Circuit: requests in flight per cluster, over max_requests -> 503 `upstream overflow`, UO.
// Configuration and the shared-data layout: ../README.md.

export * from "../../../sdk/assembly/exports";

import {
  Counter, FilterHeadersStatus, HttpContext, Phases, PropertyPath, RootContext, getCurrentTimeNanoseconds, getPropertyString,
  getSharedData, logDebug, logError, logInfo, logWarn, registerRootContext, sendLocalResponse,
  setPropertyString,
} from "../../../sdk/assembly";
import { ejectionKey, getClusterEndpoints, setEjectionDeadline } from "../../../sdk/assembly/cluster";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { UpdateOutcome, createSharedData, updateSharedData } from "../../../sdk/assembly/shared-update";
import { Acquire, Release, encodeCount } from "./circuit";
import { ClusterKeys } from "./cluster-keys";
import { BreakerConfig, Settings, parseConfig } from "./config";
import { Answer, EndpointState, MarkEjected, MarkHealthy, RecordAnswer } from "./endpoint-state";
import { ClaimProbe, Eject, LedgerEntry, OPEN, RemoveEntry, SetEntry, decodeLedger, encodeLedger, findEntry } from "./ledger";

const UPSTREAM_CLUSTER = new PropertyPath(["weft", "upstream", "cluster"]);
const UPSTREAM_ENDPOINT = new PropertyPath(["weft", "upstream", "endpoint"]);
const UPSTREAM_ADDRESS = new PropertyPath(["upstream", "address"]);
const RESPONSE_CODE = new PropertyPath(["response", "code"]);
const GRPC_STATUS = new PropertyPath(["response", "grpc_status"]);

const NS_PER_MS: i64 = 1_000_000;

class BreakerRoot extends RootContext {
  config: BreakerConfig = new BreakerConfig();
  private readonly ejectionCounters: Map<string, Counter> = new Map<string, Counter>();
  private readonly overflowCounters: Map<string, Counter> = new Map<string, Counter>();
  /** Warned that a probe was not sent where the breaker pinned it (once per VM). */
  warnedUnpinnedProbe: bool = false;
  /** Clusters warned about that max_ejection_percent lets none of their endpoints be ejected. */
  readonly warnedNoBudget: Set<string> = new Set<string>();
  private readonly clusterKeys: Map<string, ClusterKeys> = new Map<string, ClusterKeys>();

  onConfigure(configurationSize: u32): bool {
    const reader = new ConfigReader();
    let config: BreakerConfig | null = new BreakerConfig(); // no configuration: every default
    if (this.getPluginConfiguration().trim().length > 0) {
      const json = this.getPluginConfigurationJson();
      if (json === null) return false;
      config = parseConfig(json, reader);
    }
    if (config === null) {
      logError("breaker: invalid configuration: " + reader.message());
      return false;
    }
    this.config = config;
    this.clusterKeys.clear();
    // Each cluster's in-flight count and ledger exist before any request updates them: created
    // here, while no worker serves this chain yet, two workers' first requests cannot both
    // create one (and lose a count).
    const clusters = getPropertyString(["weft", "clusters"]);
    if (clusters !== null) {
      const names = clusters.split(",");
      for (let i = 0; i < names.length; i++) {
        if (names[i].length == 0) continue;
        const keys = this.keysOf(names[i]);
        createSharedData(keys.inFlight, encodeCount(0));
        createSharedData(keys.ledger, encodeLedger(new Array<LedgerEntry>()));
      }
    }
    const d = config.defaults;
    logInfo(
      "breaker: eject after " + d.consecutive5xx.toString() + " consecutive 5xx / " + d.consecutiveGatewayFailure.toString() +
        " gateway failures (0 = off) for " + (d.baseEjectionTimeNs / NS_PER_MS).toString() + " ms x times ejected (max " +
        (d.maxEjectionTimeNs / NS_PER_MS).toString() + " ms), at most " + d.maxEjectionPercent.toString() + "% of a cluster; max_requests " +
        d.maxRequests.toString() + (config.overrides.size > 0 ? "; overrides for " + config.overrides.keys().join(", ") : ""),
    );
    return true;
  }

  phases(): u32 {
    return Phases.RequestHeaders | Phases.Log;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Breaker(contextId, this);
  }

  /** The cluster of the current request: the router's choice, else default_cluster, else the only cluster. */
  clusterOfRequest(): string {
    const routed = UPSTREAM_CLUSTER.getString();
    if (routed !== null && routed.length > 0) return routed;
    if (this.config.defaultCluster.length > 0) return this.config.defaultCluster;
    const clusters = getPropertyString(["weft", "clusters"]);
    return clusters !== null && clusters.length > 0 && !clusters.includes(",") ? clusters : "";
  }

  keysOf(cluster: string): ClusterKeys {
    const known = this.clusterKeys;
    if (known.has(cluster)) return known.get(cluster);
    const keys = new ClusterKeys(cluster);
    known.set(cluster, keys);
    return keys;
  }

  countEjection(cluster: string): void {
    counterFor(this.ejectionCounters, "breaker_ejections_total", cluster).increment();
  }

  countOverflow(cluster: string): void {
    counterFor(this.overflowCounters, "breaker_overflows_total", cluster).increment();
  }
}

function counterFor(counters: Map<string, Counter>, family: string, cluster: string): Counter {
  if (!counters.has(cluster)) counters.set(cluster, new Counter(family + "{cluster=\"" + cluster + "\"}"));
  return counters.get(cluster);
}

class Breaker extends HttpContext {
  /** "" until the request headers named one (or when no cluster could be told). */
  private cluster: string = "";
  /** The cluster's shared-data keys (set with `cluster`). */
  private keys: ClusterKeys | null = null;
  private settings: Settings = new Settings();
  /** This request holds a slot of its cluster's circuit (given back in on_log). */
  private holdsSlot: bool = false;
  /** The endpoint this request was pinned to as a half-open probe, or "". */
  private probe: string = "";

  constructor(contextId: u32, readonly breaker: BreakerRoot) {
    super(contextId, breaker);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const cluster = this.breaker.clusterOfRequest();
    if (cluster.length == 0) return FilterHeadersStatus.Continue;
    this.cluster = cluster;
    this.keys = this.breaker.keysOf(cluster);
    const settings = (this.settings = this.breaker.config.settingsFor(cluster));
    if (settings.maxRequests > 0 && !this.takeSlot()) {
      this.breaker.countOverflow(cluster);
      setPropertyString(["weft", "response", "flags"], "UO");
      sendLocalResponse(503, "upstream overflow\n");
      return FilterHeadersStatus.StopIteration;
    }
    if (settings.detectsOutliers) this.claimProbe();
    return FilterHeadersStatus.Continue;
  }

  onLog(): void {
    if (this.holdsSlot) updateSharedData(this.keys!.inFlight, new Release());
    if (this.cluster.length == 0 || !this.settings.detectsOutliers) return;
    const address = UPSTREAM_ADDRESS.getString();
    // 0: the client left before any answer, which says nothing about the endpoint.
    let status = RESPONSE_CODE.getInt(0);
    // A gRPC call answers 200 whatever became of it: its grpc-status says, counted as the HTTP
    // status Envoy's outlier detection maps it to (UNAVAILABLE is a 503).
    if (status == 200) {
      const grpcStatus = GRPC_STATUS.getInt(-1);
      if (grpcStatus >= 0) status = grpcToHttpStatus(grpcStatus);
    }
    const answered = address !== null && status > 0;
    if (this.probe.length > 0 && (!answered || address! != this.probe)) {
      this.releaseProbe(answered ? address! : "", <i64>getCurrentTimeNanoseconds());
    }
    if (answered) this.judge(address!, new Answer(status));
  }

  /** A slot in the circuit; false when the cluster already has max_requests in flight. */
  private takeSlot(): bool {
    const acquire = new Acquire(this.settings.maxRequests);
    const outcome = updateSharedData(this.keys!.inFlight, acquire);
    if (outcome == UpdateOutcome.Contended) {
      logWarn("breaker: in-flight count of cluster " + this.cluster + " stayed contended; request let through uncounted");
      return true;
    }
    this.holdsSlot = acquire.admitted;
    return acquire.admitted;
  }

  /** Pins this request to an endpoint whose ejection is over, as its half-open probe. */
  private claimProbe(): void {
    // Most clusters have nothing ejected: one lookup, and done (the clock is read only past it).
    // An empty ledger is its 4-byte count alone.
    const ledger = getSharedData(this.keys!.ledger);
    if (ledger === null || ledger.bytes.byteLength <= 4) return;
    // Someone already chose the endpoint: do not override them.
    if (UPSTREAM_ENDPOINT.get() !== null) return;
    const now = <i64>getCurrentTimeNanoseconds();
    const claim = new ClaimProbe(now, now + this.settings.probeTimeoutNs);
    if (updateSharedData(this.keys!.ledger, claim) != UpdateOutcome.Written || claim.address.length == 0) return;
    this.probe = claim.address;
    setEjectionDeadline(ejectionKey(this.cluster, claim.address), claim.probeUntil);
    UPSTREAM_ENDPOINT.setString(claim.address);
    logInfo("breaker: probing " + claim.address + " of cluster " + this.cluster);
  }

  /**
   * The probe did not get an answer from its endpoint. Without an answer (client gone, answered
   * by another filter) the next request probes instead. Answered by another endpoint (`reached`:
   * the lb did not keep the pin, or the host retried elsewhere), the endpoint is let back in,
   * and its next answer decides.
   */
  private releaseProbe(reached: string, now: i64): void {
    const probe = this.probe;
    if (reached.length == 0) {
      updateSharedData(this.keys!.ledger, new SetEntry(probe, now, 0));
      setEjectionDeadline(ejectionKey(this.cluster, probe), now);
      return;
    }
    updateSharedData(this.keys!.ledger, new SetEntry(probe, now, OPEN));
    setEjectionDeadline(ejectionKey(this.cluster, probe), 0);
    if (!this.breaker.warnedUnpinnedProbe) {
      this.breaker.warnedUnpinnedProbe = true;
      logWarn("breaker: the probe pinned to " + probe + " went to " + reached +
        " (a filter after the breaker replaced weft.upstream.endpoint, or the host retried it elsewhere); its next answer decides instead");
    }
  }

  /** Counts an endpoint's answer: toward ejection, or as the verdict of its probe. */
  private judge(address: string, answer: Answer): void {
    const settings = this.settings;
    const key = this.keys!.state(address);
    const stored = getSharedData(key);
    // Fast path: an endpoint that never failed has no state, and a success changes nothing.
    if (stored === null && !answer.is5xx) return;
    const now = <i64>getCurrentTimeNanoseconds();
    const state = EndpointState.decode(stored === null ? null : stored.bytes);
    if (state.inLedger) {
      const ledger = decodeLedger(bytesOf(this.keys!.ledger));
      const index = findEntry(ledger, address);
      if (index >= 0) {
        // While ejected, stray answers (requests sent before the ejection, or by a host without the
        // lb) do not count; only the probe's answer, or any answer once the probe is OPEN, decides.
        if (address != this.probe && (ledger[index].flags & OPEN) == 0) return;
        if (answer.isFailure(settings)) this.eject(address, <i64>state.timesEjected + 1, "its probe failed", now);
        else this.readmit(address, now);
        return;
      }
      // Dropped from the ledger (it had left the cluster): count it afresh.
      updateSharedData(key, new MarkHealthy(now));
    }
    const record = new RecordAnswer(answer, settings);
    updateSharedData(key, record);
    if (record.tripped.length > 0) {
      this.eject(address, record.state.timesEjectedAt(now, settings.baseEjectionTimeNs) + 1, record.tripped, now);
    }
  }

  /** Ejects (or ejects again) an endpoint for its `times`-th ejection, within the cluster's budget. */
  private eject(address: string, times: i64, reason: string, now: i64): void {
    const settings = this.settings;
    const endpoints = getClusterEndpoints(this.cluster);
    const live = new Array<string>(endpoints.length);
    for (let i = 0; i < endpoints.length; i++) live[i] = endpoints[i].address;
    const duration = settings.ejectionTimeNs(times);
    const eject = new Eject(address, now + duration, settings.maxEjected(live.length), live);
    updateSharedData(this.keys!.ledger, eject);
    if (!eject.ejected) {
      this.refused(address, reason, eject.alreadyEjected, live.length);
      return;
    }
    updateSharedData(this.keys!.state(address), new MarkEjected(times));
    setEjectionDeadline(ejectionKey(this.cluster, address), now + duration);
    this.breaker.countEjection(this.cluster);
    logInfo("breaker: ejected " + address + " of cluster " + this.cluster + " for " + (duration / NS_PER_MS).toString() +
      " ms (" + reason + "; ejection " + times.toString() + ")");
  }

  /** An ejection the budget refused; the run goes on, so the next failure asks again. */
  private refused(address: string, reason: string, ejected: i32, endpoints: i32): void {
    const percent = this.settings.maxEjectionPercent.toString();
    if (this.settings.maxEjected(endpoints) == 0) {
      if (this.breaker.warnedNoBudget.has(this.cluster)) return;
      this.breaker.warnedNoBudget.add(this.cluster);
      logWarn(endpoints == 0
        ? "breaker: the host publishes no endpoints for cluster " + this.cluster + " (weft.cluster." + this.cluster +
          ".endpoints), so no endpoint of it can be ejected; " + address + " has " + reason
        : "breaker: max_ejection_percent " + percent + " of cluster " + this.cluster + "'s " + endpoints.toString() +
          " endpoint(s) is less than one, so none can be ejected; " + address + " has " + reason +
          " (raise it, e.g. to 50, for small clusters)");
      return;
    }
    logDebug("breaker: not ejecting " + address + " of cluster " + this.cluster + " (" + reason + "): " + ejected.toString() +
      " of " + endpoints.toString() + " endpoints are out, max_ejection_percent " + percent);
  }

  /** The probe succeeded: the endpoint is back in service. */
  private readmit(address: string, now: i64): void {
    updateSharedData(this.keys!.ledger, new RemoveEntry(address));
    updateSharedData(this.keys!.state(address), new MarkHealthy(now));
    setEjectionDeadline(ejectionKey(this.cluster, address), 0);
    logInfo("breaker: " + address + " of cluster " + this.cluster + " is back (probe succeeded)");
  }
}

function bytesOf(key: string): ArrayBuffer | null {
  const value = getSharedData(key);
  return value === null ? null : value.bytes;
}

registerRootContext((contextId: u32): RootContext => new BreakerRoot(contextId), "breaker");

/** Envoy's Grpc::Utility::grpcToHttpStatus. */
function grpcToHttpStatus(grpcStatus: i64): i64 {
  switch (<i32>grpcStatus) {
    case 0: return 200; // OK
    case 1: return 499; // CANCELLED
    case 3: case 9: case 11: return 400; // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
    case 4: return 504; // DEADLINE_EXCEEDED
    case 5: return 404; // NOT_FOUND
    case 6: case 10: return 409; // ALREADY_EXISTS, ABORTED
    case 7: return 403; // PERMISSION_DENIED
    case 8: return 429; // RESOURCE_EXHAUSTED
    case 12: return 501; // UNIMPLEMENTED
    case 14: return 503; // UNAVAILABLE
    case 16: return 401; // UNAUTHENTICATED
    default: return 500; // UNKNOWN, INTERNAL, DATA_LOSS, and any other
  }
}
