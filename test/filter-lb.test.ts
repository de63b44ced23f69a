// The lb filter (filters/lb) in a real `weft run` chain router → lb-control → lb, in front of
// real upstreams: the SDK's parser of weft.cluster.<name>.endpoints (sdk/assembly/cluster.ts) on
// host data and on crafted data, each policy's distribution, the skipping of ejected, unhealthy
// and drained endpoints, 503 UH when none is left, and consistent hashing's stability.
// test/filters/lb-control writes the breaker's ejection deadlines and crafted endpoint lists.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FilterStartError, loadFilter, type FilterUnderTest } from '../host/testkit/index.js';
import { sendMany } from './helpers/load.js';
import { request } from './helpers/http.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const lbModule = builtModule(join(repoRoot, 'filters', 'lb'));
const routerModule = builtModule(join(repoRoot, 'filters', 'router'));

/** Requests each upstream received while `work` ran. */
async function counted(upstreams: EchoUpstream[], work: () => Promise<unknown>): Promise<number[]> {
  const before = upstreams.map((u) => u.requests.length);
  await work();
  return upstreams.map((u, i) => u.requests.length - before[i]!);
}

/** For paths `/<prefix>/<key>/...` received since `from`: key -> indices of the upstreams that got it. */
function keyOwners(upstreams: EchoUpstream[], from: number[]): Map<string, Set<number>> {
  const owners = new Map<string, Set<number>>();
  upstreams.forEach((upstream, index) => {
    for (const echoed of upstream.since(from[index]!)) {
      const key = echoed.path.split('/')[2]!;
      owners.set(key, (owners.get(key) ?? new Set()).add(index));
    }
  });
  return owners;
}

/** key -> the one upstream it went to (failing if any key went to two). */
function singleOwners(owners: Map<string, Set<number>>): Map<string, number> {
  const single = new Map<string, number>();
  for (const [key, set] of owners) {
    assert.equal(set.size, 1, `key ${key} went to upstreams ${[...set].join(', ')}`);
    single.set(key, [...set][0]!);
  }
  return single;
}

function share(part: number, whole: number): number {
  return Math.round((1000 * part) / whole) / 10;
}

describe('lb filter', () => {
  const upstreams: EchoUpstream[] = [];
  let weft: WeftProcess;
  const CLUSTERS = ['rr', 'wrr', 'random', 'least', 'ewma', 'hash', 'hash-cookie', 'hash-src'];

  before(async () => {
    for (let i = 0; i < 3; i++) upstreams.push(await EchoUpstream.start());
    const addresses = upstreams.map((u) => u.address);
    weft = await startWeft({
      // One thread: round robin is exact per worker thread (its position lives in the VM), and the
      // host's endpoint statistics (in flight, latency) are per worker; these tests count exact sequences.
      workers: 1,
      clusters: CLUSTERS.map((name) =>
        name === 'wrr'
          ? { name, endpoints: addresses.map((address, i) => ({ address, weight: i + 1 })) }
          : { name, endpoints: addresses },
      ),
      default_cluster: 'rr',
      filters: [
        { name: 'router', module: routerModule, config: { routes: CLUSTERS.map((name) => ({ match: { prefix: `/${name}/` }, cluster: name })) } },
        // Plays the breaker writing ejection deadlines: it shares the lb's vm_id, as the breaker must.
        { name: 'lb-control', module: fixtureModule('lb-control'), vm_id: 'mesh' },
        // Plays the breaker pinning its half-open probe (`x-set-prop: weft.upstream.endpoint=...`).
        { name: 'pin', module: fixtureModule('set-props') },
        {
          name: 'lb',
          module: lbModule,
          vm_id: 'mesh',
          config: {
            // rr is not listed: it gets the default policy.
            default_policy: 'round_robin',
            clusters: {
              wrr: { policy: 'weighted_round_robin' },
              random: { policy: 'random' },
              least: { policy: 'least_request' },
              ewma: { policy: 'ewma' },
              hash: { policy: 'consistent_hash', hash_on: { header: 'x-user' } },
              'hash-cookie': { policy: 'consistent_hash', hash_on: { cookie: 'uid' } },
              'hash-src': { policy: 'consistent_hash', hash_on: { source_address: true } },
            },
          },
        },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    for (const upstream of upstreams) await upstream.stop();
  });

  async function dump(cluster: string, headers: Record<string, string> = {}) {
    const response = await request(`${weft.url}/rr/control`, { headers: { 'x-endpoints-dump': cluster, ...headers } });
    assert.equal(response.status, 200, response.body);
    return JSON.parse(response.body) as Array<Record<string, number | string | boolean>>;
  }

  function eject(cluster: string, index: number, ms: number) {
    return request(`${weft.url}/rr/control`, { headers: { 'x-eject': `${cluster} ${upstreams[index]!.address} ${ms}` } });
  }

  describe('getClusterEndpoints (sdk/assembly/cluster.ts)', () => {
    it("parses the host's endpoint list, statistics included", async () => {
      const before = await dump('wrr');
      assert.deepEqual(
        before.map((e) => [e.address, e.weight, e.healthy, e.in_flight]),
        upstreams.map((u, i) => [u.address, i + 1, true, 0]),
      );
      await sendMany(weft.url, 12, (i) => `/wrr/stats/${i}`, () => ({}), 1);
      const after = await dump('wrr');
      const total = (list: typeof before) => list.reduce((sum, e) => sum + Number(e.requests_total), 0);
      assert.equal(total(after) - total(before), 12);
      assert.ok(after.every((e) => Number(e.latency_ewma_ms) > 0), `latencies: ${after.map((e) => e.latency_ewma_ms).join(', ')}`);
    });

    it('reads every field of a crafted list back exactly', async () => {
      const crafted = [
        { address: '10.0.0.1:8080', weight: 7, healthy: false, in_flight: 3, latency_ewma_ms: 12.375, consecutive_failures: 2, recent_failures: 9, requests_total: 2 ** 40 + 5 },
        { address: '[::1]:9000', weight: 1, healthy: true, in_flight: 0, latency_ewma_ms: 0, consecutive_failures: 0, recent_failures: 0, requests_total: 0 },
      ];
      const parsed = await dump('rr', { 'x-endpoints-set': 'rr', 'x-endpoints': JSON.stringify(crafted) });
      assert.deepEqual(parsed, crafted.map((e) => ({ ...e, flags: e.healthy ? 1 : 0 })));
      assert.deepEqual(await dump('rr', { 'x-endpoints-set': 'rr', 'x-endpoints': '[]' }), []);
      assert.deepEqual(await dump('no-such-cluster'), []);
    });

    it('refuses a truncated list loudly', async () => {
      // count 1, then an address length of 4 and only two bytes.
      const response = await request(`${weft.url}/rr/control`, { headers: { 'x-endpoints-raw': 'rr 01000000040000006162', 'x-endpoints-dump': 'rr' } });
      assert.equal(response.status, 500);
      await weft.waitForOutput((text) => text.includes('weft.cluster.rr.endpoints is malformed (10 bytes)'), 'the abort message');
    });
  });

  it('round robin (the default policy) gives each endpoint the same share', async () => {
    const counts = await counted(upstreams, () => sendMany(weft.url, 300, (i) => `/rr/${i}`));
    assert.deepEqual(counts, [100, 100, 100]);
  });

  it('smooth weighted round robin interleaves by weight (nginx order) and keeps the proportions', async () => {
    const order: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = upstreams.map((u) => u.requests.length);
      await request(`${weft.url}/wrr/order/${i}`);
      order.push(upstreams.findIndex((u, k) => u.requests.length > before[k]!));
    }
    // Weights 1, 2, 3: nginx's smooth algorithm gives c b a c b c, never c c c.
    assert.deepEqual(order, [2, 1, 0, 2, 1, 2]);
    assert.deepEqual(await counted(upstreams, () => sendMany(weft.url, 600, (i) => `/wrr/${i}`)), [100, 200, 300]);
  });

  it('random spreads evenly', async (t) => {
    const counts = await counted(upstreams, () => sendMany(weft.url, 3000, (i) => `/random/${i}`));
    t.diagnostic(`random over 3000 requests: ${counts.map((c) => share(c, 3000)).join('% / ')}%`);
    for (const count of counts) assert.ok(Math.abs(share(count, 3000) - 33.3) <= 4, `shares ${counts.map((c) => share(c, 3000))}`);
  });

  for (const [policy, slowMs] of [['least', 80], ['ewma', 40]] as const) {
    it(`${policy === 'least' ? 'least_request' : 'ewma'} sends little to a slow endpoint`, async (t) => {
      upstreams[0]!.delayMs = slowMs;
      try {
        const counts = await counted(upstreams, () => sendMany(weft.url, 900, (i) => `/${policy}/${i}`, () => ({}), 12));
        const slowShare = share(counts[0]!, 900);
        t.diagnostic(`${policy}: slow endpoint (${slowMs} ms) got ${slowShare}% of 900 requests (counts ${counts.join(', ')})`);
        assert.ok(slowShare < 12, `the slow endpoint got ${slowShare}% (counts ${counts}); round robin would give it 33%`);
        assert.ok(counts[1]! > 250 && counts[2]! > 250, `the fast ones got ${counts[1]} and ${counts[2]}`);
      } finally {
        upstreams[0]!.delayMs = 0;
      }
    });
  }

  // Control requests go to /rr/control: the router routes them, lb-control answers them.
  describe('skipping endpoints', () => {
    it('skips an endpoint the breaker ejected until its deadline, then uses it again', async () => {
      assert.equal((await eject('rr', 1, 60_000)).status, 200);
      assert.deepEqual(await counted(upstreams, () => sendMany(weft.url, 300, (i) => `/rr/ejected/${i}`)), [150, 0, 150]);
      // An ejection for another cluster does not apply here.
      await eject('random', 0, 60_000);
      assert.equal((await counted(upstreams, () => sendMany(weft.url, 30, (i) => `/rr/other/${i}`)))[0], 15);
      await eject('random', 0, 0);
      // A deadline that passes: back without anyone lifting it.
      await eject('rr', 1, 300);
      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.deepEqual(await counted(upstreams, () => sendMany(weft.url, 300, (i) => `/rr/back/${i}`)), [100, 100, 100]);
    });

    it('keeps an endpoint an earlier filter pinned (the breaker\'s probe), even one it would skip', async () => {
      const pinned = upstreams[1]!.address;
      assert.equal((await eject('rr', 1, 60_000)).status, 200);
      const pin = () => ({ 'x-set-prop': `weft.upstream.endpoint=${pinned}` });
      assert.deepEqual(await counted(upstreams, () => sendMany(weft.url, 6, (i) => `/rr/pinned/${i}`, pin)), [0, 6, 0]);
      assert.deepEqual(await counted(upstreams, () => sendMany(weft.url, 6, (i) => `/hash/pinned/${i}`, () => ({ ...pin(), 'x-user': 'alice' }))), [0, 6, 0]);
      await eject('rr', 1, 0);
    });

    it('skips unhealthy endpoints and endpoints of weight 0', async () => {
      const list = (healthy: boolean[], weights = [1, 1, 1]) =>
        JSON.stringify(upstreams.map((u, i) => ({ address: u.address, weight: weights[i], healthy: healthy[i] })));
      const unhealthy = { 'x-endpoints-set': 'rr', 'x-endpoints': list([true, false, true]) };
      assert.deepEqual(await counted(upstreams, () => sendMany(weft.url, 100, (i) => `/rr/sick/${i}`, () => unhealthy)), [50, 0, 50]);
      const drained = { 'x-endpoints-set': 'hash', 'x-endpoints': list([true, false, true], [1, 1, 0]) };
      assert.deepEqual(
        await counted(upstreams, () => sendMany(weft.url, 100, (i) => `/hash/u${i}/0`, (i) => ({ ...drained, 'x-user': `u${i}` }))),
        [100, 0, 0],
      );
    });

    it('answers 503 "no healthy upstream" with flag UH when no endpoint is left', async () => {
      for (let i = 0; i < 3; i++) await eject('rr', i, 60_000);
      try {
        const counts = await counted(upstreams, async () => {
          const response = await request(`${weft.url}/rr/none-left`);
          assert.equal(response.status, 503);
          assert.equal(response.body, 'no healthy upstream\n');
        });
        assert.deepEqual(counts, [0, 0, 0]);
        await weft.waitForOutput((text) => text.includes('"path":"/rr/none-left"'), 'the access-log line');
        assert.equal(weft.accessLog().find((line) => line.path === '/rr/none-left')?.flags, 'UH');
      } finally {
        for (let i = 0; i < 3; i++) await eject('rr', i, 0);
      }
      const allSick = JSON.stringify(upstreams.map((u) => ({ address: u.address, healthy: false })));
      const response = await request(`${weft.url}/rr/all-sick`, { headers: { 'x-endpoints-set': 'rr', 'x-endpoints': allSick } });
      assert.equal(response.status, 503);
    });
  });

  describe('consistent hash', () => {
    const users = 600;

    async function mapUsers(tag: string): Promise<Map<string, number>> {
      const from = upstreams.map((u) => u.requests.length);
      await sendMany(weft.url, users * 2, (i) => `/hash/user-${i % users}/${tag}`, (i) => ({ 'x-user': `user-${i % users}` }));
      const owners = singleOwners(keyOwners(upstreams, from));
      assert.equal(owners.size, users);
      return owners;
    }

    it('keeps every key on one endpoint, spread over all of them', async (t) => {
      const owners = await mapUsers('first');
      const perEndpoint = [0, 1, 2].map((i) => [...owners.values()].filter((o) => o === i).length);
      t.diagnostic(`${users} keys per endpoint: ${perEndpoint.join(' / ')}`);
      for (const count of perEndpoint) assert.ok(share(count, users) >= 20, `keys per endpoint ${perEndpoint}`);
      assert.deepEqual(await mapUsers('again'), owners);
    });

    it('moves only the keys of an ejected endpoint, and brings them back', async () => {
      const owners = await mapUsers('before');
      await eject('hash', 1, 60_000);
      let during: Map<string, number>;
      try {
        during = await mapUsers('during');
      } finally {
        await eject('hash', 1, 0);
      }
      const moved = [...owners].filter(([key, owner]) => during.get(key) !== owner);
      assert.ok(moved.every(([, owner]) => owner === 1), 'a key not on the ejected endpoint moved');
      assert.equal(moved.length, [...owners.values()].filter((o) => o === 1).length);
      assert.ok([...during.values()].every((o) => o !== 1));
      assert.deepEqual(await mapUsers('after'), owners);
    });

    it('hashes on a cookie, or on the source address', async () => {
      const from = upstreams.map((u) => u.requests.length);
      await sendMany(weft.url, 400, (i) => `/hash-cookie/c${i % 200}/${i}`, (i) => ({ cookie: `a=b; uid=c${i % 200}` }));
      const owners = singleOwners(keyOwners(upstreams, from));
      assert.equal(new Set(owners.values()).size, 3);
      // Every test request comes from 127.0.0.1: one endpoint takes them all.
      const counts = await counted(upstreams, () => sendMany(weft.url, 60, (i) => `/hash-src/${i}`));
      assert.deepEqual([...counts].sort((a, b) => a - b), [0, 0, 60]);
    });

    it('spreads requests without a key', async () => {
      const counts = await counted(upstreams, () => sendMany(weft.url, 300, (i) => `/hash/keyless/${i}`));
      assert.ok(counts.every((count) => count > 50), `counts ${counts}`);
    });
  });
});

describe('lb consistent hash when an endpoint leaves the cluster', () => {
  const upstreams: EchoUpstream[] = [];
  const keys = 1000;

  before(async () => {
    for (let i = 0; i < 5; i++) upstreams.push(await EchoUpstream.start());
  });
  after(async () => {
    for (const upstream of upstreams) await upstream.stop();
  });

  /** Runs a proxy whose only cluster has `members` (indices into upstreams); maps every key. */
  async function mapKeys(members: number[]): Promise<Map<string, number>> {
    const weft = await startWeft({
      clusters: [{ name: 'ring', endpoints: members.map((i) => upstreams[i]!.address) }],
      filters: [
        {
          name: 'lb',
          module: lbModule,
          // No router: the lb falls back to its default_cluster.
          config: { default_cluster: 'ring', clusters: { ring: { policy: 'consistent_hash', hash_on: { header: 'x-key' } } } },
        },
      ],
    });
    try {
      const from = upstreams.map((u) => u.requests.length);
      const statuses = await sendMany(weft.url, keys, (i) => `/k/key-${i}`, (i) => ({ 'x-key': `key-${i}` }));
      // A key that got no answer from an upstream would look as if it had moved.
      assert.deepEqual([...statuses], [[200, keys]], `statuses over ${members.length} endpoints:\n${weft.text}`);
      return singleOwners(keyOwners(upstreams, from));
    } finally {
      await weft.stop();
    }
  }

  it('moves only the keys of the endpoint that left (about 1/N of them)', async (t) => {
    const five = await mapKeys([0, 1, 2, 3, 4]);
    const four = await mapKeys([0, 1, 3, 4]);
    const moved = [...five].filter(([key, owner]) => four.get(key) !== owner);
    assert.ok(moved.every(([, owner]) => owner === 2), 'a key whose endpoint stayed has moved');
    const fraction = moved.length / keys;
    t.diagnostic(`5 -> 4 endpoints: ${share(moved.length, keys)}% of ${keys} keys moved, all from the endpoint that left`);
    assert.ok(fraction > 0.1 && fraction < 0.3, `${share(moved.length, keys)}% of keys moved, expected about 20%`);
  });
});

describe('lb configuration mistakes (test kit)', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['an unknown policy', { default_policy: 'fastest' }, /lb: default_policy: must be one of round_robin, weighted_round_robin, random, least_request, ewma, consistent_hash, not "fastest"/],
    ['consistent_hash without hash_on', { clusters: { web: { policy: 'consistent_hash' } } }, /lb: clusters\.web\.hash_on: is required with consistent_hash/],
    ['a misspelt cluster name', { clusters: { wbe: { policy: 'random' } } }, /lb: clusters\.wbe: unknown cluster "wbe" \(clusters: web\)/],
  ];
  for (const [what, config, message] of cases) {
    it(`refuses to start on ${what}, saying where`, async () => {
      await assert.rejects(loadFilter(lbModule, { config, clusters: { web: ['127.0.0.1:9'] } }), (error: unknown) => {
        assert.ok(error instanceof FilterStartError, String(error));
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('stops weft run', async () => {
    const { code, stdout, stderr } = await runWeftExpectingExit({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      filters: [{ name: 'lb', module: lbModule, config: { default_policy: 'fastest' } }],
    });
    assert.equal(code, 1);
    assert.match(`${stdout}${stderr}`, /lb: default_policy: must be one of/);
  });
});

describe('lb policies on the endpoint facts the host publishes (test kit)', () => {
  /** The endpoint lb picks for each of `count` requests to cluster `web`. */
  function picks(filter: FilterUnderTest, count: number): string[] {
    const chosen: string[] = [];
    for (let i = 0; i < count; i++) {
      const stream = filter.stream({ properties: { 'weft.upstream.cluster': 'web' } });
      stream.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'x.test' });
      chosen.push(stream.localResponse === undefined ? stream.property('weft.upstream.endpoint') ?? 'none' : `${stream.localResponse.status} ${stream.property('weft.response.flags')}`);
      stream.complete();
    }
    return chosen;
  }

  it('smooth weighted round robin: weights 1, 2, 3 give c b a c b c', async () => {
    const web = [{ address: 'a:1', weight: 1 }, { address: 'b:1', weight: 2 }, { address: 'c:1', weight: 3 }];
    const filter = await loadFilter(lbModule, { config: { default_policy: 'weighted_round_robin' }, clusters: { web } });
    assert.deepEqual(picks(filter, 6), ['c:1', 'b:1', 'a:1', 'c:1', 'b:1', 'c:1']);
    filter.close();
  });

  it('least_request prefers the endpoint with fewer requests in flight per unit of weight', async () => {
    const web = [{ address: 'busy:1', inFlight: 50 }, { address: 'idle:1', inFlight: 0 }];
    const filter = await loadFilter(lbModule, { config: { default_policy: 'least_request' }, clusters: { web } });
    assert.deepEqual(new Set(picks(filter, 20)), new Set(['idle:1']));
    filter.close();
  });

  it('skips unhealthy and ejected endpoints; none left is 503 UH', async () => {
    const web = [{ address: 'sick:1', healthy: false }, { address: 'ejected:1' }, { address: 'well:1' }];
    const filter = await loadFilter(lbModule, { config: {}, clusters: { web } });
    const deadline = Buffer.alloc(8);
    deadline.writeBigInt64LE(BigInt(Date.now() + 60_000) * 1_000_000n);
    filter.setSharedData('breaker.ejected.web.ejected:1', deadline);
    assert.deepEqual(new Set(picks(filter, 6)), new Set(['well:1']));
    filter.close();
    const none = await loadFilter(lbModule, { config: {}, clusters: { web: [{ address: 'sick:1', healthy: false }] } });
    assert.deepEqual(picks(none, 1), ['503 UH']);
    none.close();
  });
});
