// Registry-backed clusters: which instances a cluster sends to (its subset of a service), as the
// endpoint list the cluster is updated with.

import type { ServiceSubset } from '../config/schema.js';
import type { EndpointSpec } from '../proxy/clusters.js';
import type { InstanceRecord } from './instance.js';

/** What the registry needs of a cluster (proxy/clusters.ts Cluster is one). */
export interface EndpointSink {
  update(endpoints: readonly EndpointSpec[]): void;
}

/** A cluster that follows a subset of a service's instances (`discovery: registry` in the manifest). */
export interface ClusterFeed {
  name: string;
  subset: ServiceSubset;
  cluster: EndpointSink;
}

/** True when the instance is of the subset's service, has its version (if set) and every metadata pair. */
export function inSubset(subset: ServiceSubset, record: InstanceRecord): boolean {
  if (record.service !== subset.service) return false;
  if (subset.version !== undefined && record.version !== subset.version) return false;
  for (const [key, value] of Object.entries(subset.metadata)) if (record.metadata[key] !== value) return false;
  return true;
}

/**
 * The subset's instances as endpoints, ordered by address so every proxy lists them alike (hash
 * balancing stays stable). Two instances on one address (possible only from racing writers of a
 * shared store) are one endpoint, healthy when either is.
 */
export function subsetEndpoints(subset: ServiceSubset, instances: Iterable<{ record: InstanceRecord; healthy: boolean }>): EndpointSpec[] {
  const byAddress = new Map<string, EndpointSpec>();
  for (const { record, healthy } of instances) {
    if (!inSubset(subset, record)) continue;
    const address = `${record.address}:${record.port}`;
    const seen = byAddress.get(address);
    if (seen === undefined) byAddress.set(address, { host: record.address, port: record.port, weight: record.weight, healthy });
    else seen.healthy = seen.healthy === true || healthy;
  }
  return [...byAddress.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, endpoint]) => endpoint);
}
