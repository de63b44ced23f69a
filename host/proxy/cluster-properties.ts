// The host properties filters read about clusters (notes/FILTER-CONTRACT.md):
//   weft.clusters                   cluster names, comma-separated
//   weft.cluster.<name>.endpoints   each endpoint with its live statistics, in a small binary
//                                   layout the SDK parses (sdk/assembly/cluster.ts)
// Read on demand: a balancer reads it once per request, so it is encoded fresh each time
// (a few endpoints encode in well under a microsecond) and always current.

import type { Endpoint } from './clusters.js';

const PREFIX = 'weft.cluster.';
const SUFFIX = '.endpoints';
/** Fixed part of one endpoint record after its address: weight, flags, in_flight, ewma, 2 failure counts, total. */
const RECORD_FIXED = 4 + 4 + 4 + 8 + 4 + 4 + 8;

/** What an endpoint record is encoded from: a live Endpoint, or the test kit's facts. */
export type EndpointFacts = Pick<
  Endpoint, 'address' | 'weight' | 'healthy' | 'inFlight' | 'latencyEwmaMs' | 'consecutiveFailures' | 'requestsTotal' | 'recentFailures'
>;

/** What the properties are read from: the proxy's Clusters, or the test kit's cluster facts. */
export interface ClusterFacts {
  all(): Iterable<{ readonly name: string }>;
  get(name: string): { readonly endpoints: readonly EndpointFacts[] } | undefined;
}

export function clusterProperties(clusters: ClusterFacts): (key: string) => Uint8Array | undefined {
  const names = Buffer.from([...clusters.all()].map((c) => c.name).join(','));
  return (key) => {
    if (key === 'weft.clusters') return names;
    if (!key.startsWith(PREFIX) || !key.endsWith(SUFFIX)) return undefined;
    const cluster = clusters.get(key.slice(PREFIX.length, key.length - SUFFIX.length));
    return cluster === undefined ? undefined : encodeEndpoints(cluster, Date.now());
  };
}

export function encodeEndpoints(cluster: { readonly endpoints: readonly EndpointFacts[] }, nowMs: number): Uint8Array {
  const endpoints = cluster.endpoints;
  let size = 4;
  for (const endpoint of endpoints) size += 4 + Buffer.byteLength(endpoint.address) + RECORD_FIXED;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32LE(endpoints.length, 0);
  for (const endpoint of endpoints) {
    const length = out.write(endpoint.address, at + 4);
    at = out.writeUInt32LE(length, at) + length;
    at = out.writeUInt32LE(endpoint.weight, at);
    at = out.writeUInt32LE(endpoint.healthy ? 1 : 0, at);
    at = out.writeUInt32LE(endpoint.inFlight, at);
    at = out.writeDoubleLE(endpoint.latencyEwmaMs, at);
    at = out.writeUInt32LE(endpoint.consecutiveFailures, at);
    at = out.writeUInt32LE(endpoint.recentFailures(nowMs), at);
    at = out.writeBigUInt64LE(BigInt(endpoint.requestsTotal), at);
  }
  return out;
}
