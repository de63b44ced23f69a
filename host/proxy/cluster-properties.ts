// The host properties filters read about clusters (notes/FILTER-CONTRACT.md):
//   weft.clusters                   cluster names, comma-separated
//   weft.cluster.<name>.endpoints   each endpoint with its live statistics, in a small binary
//                                   layout the SDK parses (sdk/assembly/cluster.ts)
// Read on demand: a balancer reads it once per request. The layout of a cluster's endpoint set
// (count, addresses) is laid out once per set; each read rewrites only the live fields in it,
// so the bytes are always current and a read allocates nothing.

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
  /** Property key -> the cluster it names (null: not an endpoints key); keys come back as the same few strings. */
  const clusterOfKey = new Map<string, string | null>();
  return (key) => {
    if (key === 'weft.clusters') return names;
    let name = clusterOfKey.get(key);
    if (name === undefined) {
      name = key.startsWith(PREFIX) && key.endsWith(SUFFIX) ? key.slice(PREFIX.length, key.length - SUFFIX.length) : null;
      if (clusterOfKey.size < 4096) clusterOfKey.set(key, name);
    }
    const cluster = name === null ? undefined : clusters.get(name);
    return cluster === undefined ? undefined : encodeEndpoints(cluster, Date.now());
  };
}

/** An endpoint set's bytes, laid out once: where each record's live fields start. */
interface Layout {
  /** The addresses it was laid out for, in order (a test kit's list may change in place). */
  addresses: string[];
  bytes: Buffer;
  view: DataView;
  liveAt: number[];
}

/** By endpoint set: a cluster replaces its array whenever its endpoints change (clusters.ts update). */
const layouts = new WeakMap<readonly EndpointFacts[], Layout>();

function layoutOf(endpoints: readonly EndpointFacts[]): Layout {
  let size = 4;
  for (const endpoint of endpoints) size += 4 + Buffer.byteLength(endpoint.address) + RECORD_FIXED;
  const bytes = Buffer.alloc(size);
  const liveAt: number[] = [];
  let at = bytes.writeUInt32LE(endpoints.length, 0);
  for (const endpoint of endpoints) {
    const length = bytes.write(endpoint.address, at + 4);
    at = bytes.writeUInt32LE(length, at) + length;
    liveAt.push(at);
    at += RECORD_FIXED;
  }
  return { addresses: endpoints.map((endpoint) => endpoint.address), bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), liveAt };
}

function fits(layout: Layout, endpoints: readonly EndpointFacts[]): boolean {
  const addresses = layout.addresses;
  if (addresses.length !== endpoints.length) return false;
  for (let i = 0; i < addresses.length; i++) if (addresses[i] !== endpoints[i]!.address) return false;
  return true;
}

/**
 * The endpoints property of a cluster. The bytes are the cluster's own and the next read
 * rewrites them: a caller copies them at once (the ABI writes them into guest memory).
 */
export function encodeEndpoints(cluster: { readonly endpoints: readonly EndpointFacts[] }, nowMs: number): Uint8Array {
  const endpoints = cluster.endpoints;
  let layout = layouts.get(endpoints);
  if (layout === undefined || !fits(layout, endpoints)) {
    layout = layoutOf(endpoints);
    layouts.set(endpoints, layout);
  }
  const { view, liveAt } = layout;
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = endpoints[i]!;
    const at = liveAt[i]!;
    view.setUint32(at, endpoint.weight, true);
    view.setUint32(at + 4, endpoint.healthy ? 1 : 0, true);
    view.setUint32(at + 8, endpoint.inFlight, true);
    view.setFloat64(at + 12, endpoint.latencyEwmaMs, true);
    view.setUint32(at + 20, endpoint.consecutiveFailures, true);
    view.setUint32(at + 24, endpoint.recentFailures(nowMs), true);
    // A u64 as two halves: the count stays far below 2^53, and no BigInt per read.
    view.setUint32(at + 28, endpoint.requestsTotal % 0x1_0000_0000, true);
    view.setUint32(at + 32, Math.floor(endpoint.requestsTotal / 0x1_0000_0000), true);
  }
  return layout.bytes;
}
