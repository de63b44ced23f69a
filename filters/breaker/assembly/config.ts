// The breaker configuration: outlier-detection and circuit settings, with per-cluster
// overrides. Every field and default is in ../README.md.

import { JsonKind, JsonValue } from "../../../sdk/assembly";
import { ConfigReader, describe, join } from "../../../sdk/assembly/config-reader";

const NS_PER_MS: i64 = 1_000_000;

/** The settings of one cluster (the defaults, with that cluster's overrides applied). */
export class Settings {
  /** 5xx answers in a row that eject an endpoint; 0 = off. */
  consecutive5xx: i64 = 5;
  /** 502/503/504 answers (incl. the host's connect failures and timeouts) in a row; 0 = off. */
  consecutiveGatewayFailure: i64 = 0;
  baseEjectionTimeNs: i64 = 30_000 * NS_PER_MS;
  maxEjectionTimeNs: i64 = 300_000 * NS_PER_MS;
  maxEjectionPercent: i64 = 10;
  /** How long a half-open probe may take before another request may probe instead. */
  probeTimeoutNs: i64 = 15_000 * NS_PER_MS;
  /**
   * Requests in flight to the cluster at most; 0 = no limit (the default: counting them in shared
   * data costs four shared-data calls a request, half the breaker's time; the cluster's
   * circuit_breakers count them in the host for much less).
   */
  maxRequests: i64 = 0;

  get detectsOutliers(): bool {
    return this.consecutive5xx > 0 || this.consecutiveGatewayFailure > 0;
  }

  /** Ejection time for the `times`-th ejection in a row: base × times, capped. */
  ejectionTimeNs(times: i64): i64 {
    const cap = max(this.baseEjectionTimeNs, this.maxEjectionTimeNs);
    // base × times cannot overflow i64 before the cap bites for any sane base; compare by division.
    return times > cap / this.baseEjectionTimeNs ? cap : min(cap, this.baseEjectionTimeNs * times);
  }

  /** How many of `endpointCount` endpoints may be ejected at the same time. */
  maxEjected(endpointCount: i32): i32 {
    return <i32>((<i64>endpointCount * this.maxEjectionPercent) / 100);
  }

  copy(): Settings {
    const copy = new Settings();
    copy.consecutive5xx = this.consecutive5xx;
    copy.consecutiveGatewayFailure = this.consecutiveGatewayFailure;
    copy.baseEjectionTimeNs = this.baseEjectionTimeNs;
    copy.maxEjectionTimeNs = this.maxEjectionTimeNs;
    copy.maxEjectionPercent = this.maxEjectionPercent;
    copy.probeTimeoutNs = this.probeTimeoutNs;
    copy.maxRequests = this.maxRequests;
    return copy;
  }
}

export class BreakerConfig {
  /** Cluster of requests no filter routed (weft.upstream.cluster unset); "" = the only cluster, if there is one. */
  defaultCluster: string = "";
  defaults: Settings = new Settings();
  overrides: Map<string, Settings> = new Map<string, Settings>();

  settingsFor(cluster: string): Settings {
    return this.overrides.has(cluster) ? this.overrides.get(cluster) : this.defaults;
  }
}

const SETTING_FIELDS = [
  "consecutive_5xx", "consecutive_gateway_failure", "base_ejection_time_ms", "max_ejection_time_ms",
  "max_ejection_percent", "probe_timeout_ms", "max_requests",
];

/** Parses the plugin configuration; null (with every problem in `reader`) when it is not valid. */
export function parseConfig(json: JsonValue, reader: ConfigReader): BreakerConfig | null {
  const config = new BreakerConfig();
  const topFields = SETTING_FIELDS.concat(["default_cluster", "clusters"]);
  if (!reader.expectObject(json, "", topFields)) return null;
  config.defaultCluster = reader.string(json, "", "default_cluster", "");
  readSettings(json, "", config.defaults, reader);
  const clusters = json.get("clusters");
  if (clusters !== null && clusters.kind != JsonKind.Object) {
    reader.fail("clusters", "must be an object of cluster name -> settings, not " + describe(clusters));
  } else if (clusters !== null) {
    const names = clusters.objectKeys();
    for (let i = 0; i < names.length; i++) {
      const path = "clusters." + names[i];
      const overrides = clusters.get(names[i])!;
      const settings = config.defaults.copy();
      if (reader.expectObject(overrides, path, SETTING_FIELDS)) readSettings(overrides, path, settings, reader);
      config.overrides.set(names[i], settings);
    }
  }
  return reader.ok ? config : null;
}

/** Reads the setting fields present in `json` into `settings` (absent fields keep their value). */
function readSettings(json: JsonValue, path: string, settings: Settings, reader: ConfigReader): void {
  settings.consecutive5xx = reader.integer(json, path, "consecutive_5xx", settings.consecutive5xx, 0);
  settings.consecutiveGatewayFailure = reader.integer(json, path, "consecutive_gateway_failure", settings.consecutiveGatewayFailure, 0);
  settings.baseEjectionTimeNs = reader.integer(json, path, "base_ejection_time_ms", settings.baseEjectionTimeNs / NS_PER_MS, 1) * NS_PER_MS;
  settings.maxEjectionTimeNs = reader.integer(json, path, "max_ejection_time_ms", settings.maxEjectionTimeNs / NS_PER_MS, 1) * NS_PER_MS;
  settings.maxEjectionPercent = reader.integer(json, path, "max_ejection_percent", settings.maxEjectionPercent, 0);
  if (json.has("max_ejection_percent") && settings.maxEjectionPercent > 100) reader.fail(join(path, "max_ejection_percent"), "must be at most 100");
  settings.probeTimeoutNs = reader.integer(json, path, "probe_timeout_ms", settings.probeTimeoutNs / NS_PER_MS, 1) * NS_PER_MS;
  settings.maxRequests = reader.integer(json, path, "max_requests", settings.maxRequests, 0);
}
