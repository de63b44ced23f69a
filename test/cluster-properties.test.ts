// weft.cluster.<name>.endpoints as the host encodes it (host/proxy/cluster-properties.ts): the
// layout is kept per endpoint set and only the live fields are rewritten on a read, so these
// check that a read is current after the numbers change, after the set is replaced, and after a
// list is changed in place (as the test kit's may be).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeEndpoints, type EndpointFacts } from '../host/proxy/cluster-properties.js';

function facts(address: string, inFlight = 0): EndpointFacts {
  return { address, weight: 1, healthy: true, inFlight, latencyEwmaMs: 0, consecutiveFailures: 0, requestsTotal: 0, recentFailures: () => 0 };
}

/** The records back, in the SDK's layout (sdk/assembly/cluster.ts parseClusterEndpoints). */
function decode(bytes: Uint8Array): Array<{ address: string; weight: number; healthy: boolean; inFlight: number; ewma: number; failures: number; recent: number; total: bigint }> {
  const buffer = Buffer.from(bytes);
  const records = [];
  let at = 4;
  for (let i = 0; i < buffer.readUInt32LE(0); i++) {
    const length = buffer.readUInt32LE(at);
    const address = buffer.toString('utf8', at + 4, at + 4 + length);
    at += 4 + length;
    records.push({
      address,
      weight: buffer.readUInt32LE(at),
      healthy: buffer.readUInt32LE(at + 4) === 1,
      inFlight: buffer.readUInt32LE(at + 8),
      ewma: buffer.readDoubleLE(at + 12),
      failures: buffer.readUInt32LE(at + 20),
      recent: buffer.readUInt32LE(at + 24),
      total: buffer.readBigUInt64LE(at + 28),
    });
    at += 36;
  }
  assert.equal(at, buffer.length);
  return records;
}

describe('the endpoints property', () => {
  it('is current on every read: live numbers, a replaced set, a list changed in place', () => {
    const a = facts('10.0.0.1:80');
    const cluster = { endpoints: [a, facts('[::1]:8080')] as EndpointFacts[] };
    assert.deepEqual(decode(encodeEndpoints(cluster, 0)).map((r) => r.address), ['10.0.0.1:80', '[::1]:8080']);

    Object.assign(a, { inFlight: 7, weight: 3, healthy: false, latencyEwmaMs: 2.5, consecutiveFailures: 2, requestsTotal: 2 ** 40 + 5 });
    const [first] = decode(encodeEndpoints(cluster, 0));
    assert.deepEqual(first, { address: '10.0.0.1:80', weight: 3, healthy: false, inFlight: 7, ewma: 2.5, failures: 2, recent: 0, total: 2n ** 40n + 5n });

    cluster.endpoints = [facts('10.0.0.9:81', 1)];
    assert.deepEqual(decode(encodeEndpoints(cluster, 0)).map((r) => [r.address, r.inFlight]), [['10.0.0.9:81', 1]]);

    cluster.endpoints.push(facts('10.0.0.10:82'));
    cluster.endpoints[0] = facts('10.0.0.11:83');
    assert.deepEqual(decode(encodeEndpoints(cluster, 0)).map((r) => r.address), ['10.0.0.11:83', '10.0.0.10:82']);
  });
});
