// The lb's configuration: a default policy, an optional default cluster, and per-cluster
// policies. Checked once in onConfigure; a mistake names its place and stops the filter.

import { JsonKind, JsonValue } from "../../../sdk/assembly";
import {
  ClusterPolicy, HASH_ON_COOKIE, HASH_ON_HEADER, HASH_ON_SOURCE_ADDRESS, POLICY_CONSISTENT_HASH, POLICY_NAMES,
} from "./balancer";

export class LbConfig {
  defaultPolicy: ClusterPolicy = new ClusterPolicy();
  /** Used when no filter set weft.upstream.cluster; empty = leave the choice to the host. */
  defaultCluster: string = "";
  clusters: Map<string, ClusterPolicy> = new Map<string, ClusterPolicy>();
  /** Empty when the configuration is valid. */
  error: string = "";

  /** The policy of `cluster`: its own, else the default. */
  policyFor(cluster: string): ClusterPolicy {
    return this.clusters.has(cluster) ? this.clusters.get(cluster) : this.defaultPolicy;
  }
}

/**
 * Parses the lb configuration. `knownClusters` (the host's `weft.clusters`, when it has it) lets a
 * misspelt cluster name fail here instead of silently getting the default policy.
 */
export function parseLbConfig(json: JsonValue, knownClusters: Array<string> | null): LbConfig {
  const config = new LbConfig();
  if (!checkFields(config, json, ["default_policy", "default_cluster", "clusters"], "config")) return config;

  const defaultPolicy = json.get("default_policy");
  if (defaultPolicy !== null) {
    config.defaultPolicy.policy = policyNumber(config, defaultPolicy, "default_policy");
    if (config.defaultPolicy.policy == POLICY_CONSISTENT_HASH) {
      fail(config, "default_policy", "consistent_hash needs a hash key: set it per cluster, with hash_on");
    }
  }
  const defaultCluster = json.get("default_cluster");
  if (defaultCluster !== null) {
    if (defaultCluster.kind != JsonKind.String || defaultCluster.asString().length == 0) {
      fail(config, "default_cluster", "must be a cluster name");
    }
    config.defaultCluster = defaultCluster.asString();
    checkCluster(config, config.defaultCluster, knownClusters, "default_cluster");
  }
  const clusters = json.get("clusters");
  if (clusters !== null && checkFields(config, clusters, null, "clusters")) {
    const names = clusters.objectKeys();
    for (let i = 0; i < names.length; i++) {
      checkCluster(config, names[i], knownClusters, "clusters." + names[i]);
      config.clusters.set(names[i], clusterPolicy(config, clusters.get(names[i])!, "clusters." + names[i]));
    }
  }
  return config;
}

function clusterPolicy(config: LbConfig, json: JsonValue, where: string): ClusterPolicy {
  const policy = new ClusterPolicy();
  policy.policy = config.defaultPolicy.policy;
  if (!checkFields(config, json, ["policy", "hash_on", "virtual_nodes"], where)) return policy;
  const name = json.get("policy");
  if (name !== null) policy.policy = policyNumber(config, name, where + ".policy");

  const hashOn = json.get("hash_on");
  if (policy.policy == POLICY_CONSISTENT_HASH) {
    if (hashOn === null) fail(config, where + ".hash_on", "is required with consistent_hash ({header | cookie | source_address})");
    else readHashOn(config, policy, hashOn, where + ".hash_on");
  } else if (hashOn !== null) {
    fail(config, where + ".hash_on", "only applies to policy consistent_hash");
  }

  const virtualNodes = json.get("virtual_nodes");
  if (virtualNodes !== null) {
    const value = virtualNodes.asInteger(-1);
    if (virtualNodes.kind != JsonKind.Integer || value < 1 || value > 10000) {
      fail(config, where + ".virtual_nodes", "must be an integer from 1 to 10000");
    }
    policy.virtualNodes = <u32>value;
  }
  return policy;
}

function readHashOn(config: LbConfig, policy: ClusterPolicy, json: JsonValue, where: string): void {
  if (!checkFields(config, json, ["header", "cookie", "source_address"], where)) return;
  const keys = json.objectKeys();
  if (keys.length != 1) {
    fail(config, where, "give exactly one of header, cookie and source_address");
    return;
  }
  const value = json.get(keys[0])!;
  if (keys[0] == "source_address") {
    if (value.kind != JsonKind.Bool || !value.asBool()) fail(config, where + ".source_address", "must be true");
    policy.hashOn = HASH_ON_SOURCE_ADDRESS;
    return;
  }
  if (value.kind != JsonKind.String || value.asString().length == 0) {
    fail(config, where + "." + keys[0], "must be a " + keys[0] + " name");
    return;
  }
  if (keys[0] == "header") {
    policy.hashOn = HASH_ON_HEADER;
    policy.hashName = value.asString().toLowerCase();
  } else {
    policy.hashOn = HASH_ON_COOKIE;
    policy.hashName = value.asString();
  }
}

function policyNumber(config: LbConfig, json: JsonValue, where: string): i32 {
  const index = json.kind == JsonKind.String ? POLICY_NAMES.indexOf(json.asString()) : -1;
  if (index < 0) fail(config, where, "must be one of " + POLICY_NAMES.join(", ") + ", not " + json.stringify());
  return max(index, 0);
}

/** `json` is an object; with `allowed`, every field is one of them. */
function checkFields(config: LbConfig, json: JsonValue, allowed: Array<string> | null, where: string): bool {
  if (json.kind != JsonKind.Object) {
    fail(config, where, "must be an object");
    return false;
  }
  if (allowed === null) return true;
  const keys = json.objectKeys();
  for (let i = 0; i < keys.length; i++) {
    if (!allowed.includes(keys[i])) {
      fail(config, where, "unknown field \"" + keys[i] + "\" (expected " + allowed.join(", ") + ")");
      return false;
    }
  }
  return true;
}

function checkCluster(config: LbConfig, name: string, knownClusters: Array<string> | null, where: string): void {
  if (knownClusters !== null && !knownClusters.includes(name)) {
    fail(config, where, "unknown cluster \"" + name + "\" (clusters: " + knownClusters.join(", ") + ")");
  }
}

function fail(config: LbConfig, where: string, message: string): void {
  if (config.error.length == 0) config.error = where + ": " + message;
}
