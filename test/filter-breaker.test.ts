// The breaker filter (filters/breaker) in a real `weft run`, in the chain breaker -> lb, with
// real upstreams on loopback: one that answers 500 while told to, dead ports (connection
// refused: the host's own 502), and a slow one. Ejection after N consecutive failures, the
// half-open probe (failed: ejected again for longer; passed: back in service), the
// max_ejection_percent budget (also across a hot swap), and the per-cluster circuit (503 UO).
//
// Two fixtures sit in front: breaker-peek answers `x-peek: <shared-data key>` with the value
// (so the test reads the breaker's ejection deadlines and in-flight counts), and set-props
// routes a request to a cluster (`x-set-prop: weft.upstream.cluster=<name>`), playing the router.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { request, type HttpResponse } from './helpers/http.js';
import { freePort } from './helpers/ports.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { eventually } from './helpers/eventually.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const NS_PER_MS = 1_000_000;
const BASE_EJECTION_MS = 500;

/** The breaker's configuration: short ejection times for `web`, and one cluster per other case. */
const breakerConfig = {
  default_cluster: 'web',
  consecutive_5xx: 3,
  base_ejection_time_ms: BASE_EJECTION_MS,
  max_ejection_time_ms: 3 * BASE_EJECTION_MS,
  max_ejection_percent: 50,
  max_requests: 0,
  clusters: {
    quad: { consecutive_5xx: 0, consecutive_gateway_failure: 2, base_ejection_time_ms: 30_000 },
    tiny: { consecutive_5xx: 0, consecutive_gateway_failure: 1, max_ejection_percent: 10 },
    slow: { max_requests: 2 },
  },
};

describe('breaker', () => {
  let good: EchoUpstream;
  let bad: EchoUpstream;
  let slow: EchoUpstream;
  let dead: string[];
  let lonely: string;
  let weft: WeftProcess;

  before(async () => {
    good = await EchoUpstream.start();
    bad = await EchoUpstream.start();
    slow = await EchoUpstream.start();
    // Ports nothing listens on: every request to them is the host's 502 (connection refused).
    dead = await Promise.all([0, 1, 2, 3].map(async () => `127.0.0.1:${await freePort()}`));
    lonely = `127.0.0.1:${await freePort()}`;
    weft = await startWeft({
      // One thread: these tests read the breaker's state right after a request, and with several
      // workers the on_log that writes it may still be running in the worker that served it
      // (test/workers.test.ts covers the breaker across workers).
      workers: 1,
      clusters: [
        { name: 'web', endpoints: [good.address, bad.address] },
        { name: 'quad', endpoints: dead },
        { name: 'tiny', endpoints: [lonely] },
        { name: 'slow', endpoints: [slow.address] },
      ],
      default_cluster: 'web',
      filters: [
        // peek, breaker and lb share one vm_id, so they see one another's shared data.
        { name: 'peek', module: fixtureModule('breaker-peek'), vm_id: 'mesh' },
        { name: 'set-props', module: fixtureModule('set-props') },
        { name: 'breaker', module: builtModule(join(repoRoot, 'filters', 'breaker')), config: breakerConfig, vm_id: 'mesh' },
        { name: 'lb', module: builtModule(join(repoRoot, 'filters', 'lb')), config: { default_cluster: 'web' }, vm_id: 'mesh' },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await Promise.all([good?.stop(), bad?.stop(), slow?.stop()]);
  });

  async function peek(key: string): Promise<{ found: boolean; int?: number }> {
    const response = await request(`${weft.url}/peek`, { headers: { 'x-peek': key } });
    assert.equal(response.status, 200, response.body);
    return JSON.parse(response.body);
  }

  /** The ejection deadline the lb reads for an endpoint, in ms since the epoch (stored in ns); 0 when none. */
  async function deadline(cluster: string, address: string): Promise<number> {
    return Math.round(((await peek(`breaker.ejected.${cluster}.${address}`)).int ?? 0) / NS_PER_MS);
  }

  function get(path: string, cluster?: string): Promise<HttpResponse> {
    const headers: Record<string, string> = cluster === undefined ? {} : { 'x-set-prop': `weft.upstream.cluster=${cluster}` };
    return request(`${weft.url}${path}`, { headers });
  }

  /** Sends requests to `web` one by one until `bad` has received `count` more (at most `limit` requests). */
  async function untilBadReceives(count: number, limit: number): Promise<void> {
    const target = bad.requests.length + count;
    for (let i = 0; i < limit && bad.requests.length < target; i++) await get('/web');
    assert.equal(bad.requests.length, target, `bad endpoint received ${count} request(s) within ${limit}`);
  }

  async function sleepUntil(deadlineMs: number): Promise<void> {
    await sleep(Math.max(0, deadlineMs - Date.now()) + 30);
  }

  it('ejects an endpoint after consecutive 5xx, and the lb stops sending to it', async () => {
    bad.status = 500;
    await untilBadReceives(3, 10);
    const until = await deadline('web', bad.address);
    const now = Date.now();
    assert.ok(until > now && until <= now + BASE_EJECTION_MS, `deadline ${until} within the base ejection time from ${now}`);
    await weft.waitForOutput((text) => text.includes(`breaker: ejected ${bad.address} of cluster web for ${BASE_EJECTION_MS} ms (3 consecutive 5xx; ejection 1)`), 'the ejection log line');

    const seen = bad.requests.length;
    for (let i = 0; i < 6; i++) assert.equal((await get('/web/during-ejection')).status, 200);
    assert.equal(bad.requests.length, seen, 'no request reaches an ejected endpoint');
    assert.ok(Date.now() < until, 'the check ran inside the ejection time');
    assert.equal(await deadline('web', good.address), 0, 'the healthy endpoint is not ejected');
  });

  it('sends one probe when the ejection is over; a failed probe ejects again for longer', async () => {
    await sleepUntil(await deadline('web', bad.address));
    // A slow failing endpoint: concurrent requests overlap the probe, and must not join it.
    bad.delayMs = 200;
    const seen = bad.requests.length;
    const batch = await Promise.all([0, 1, 2, 3].map((i) => get(`/web/probe-${i}`)));
    // The lb after the breaker keeps the pin: the probe reaches the endpoint, and only the probe.
    assert.equal(bad.requests.length - seen, 1, 'exactly one request, the probe, reached the ejected endpoint');
    assert.equal(batch.filter((r) => r.status === 200).length, 3);
    const failedAt = Date.now();
    const until = await deadline('web', bad.address);
    // Second ejection: base × 2.
    assert.ok(until > failedAt + BASE_EJECTION_MS + 200, `ejected again for longer than the base time (deadline ${until}, now ${failedAt})`);
    await weft.waitForOutput((text) => text.includes(`breaker: ejected ${bad.address} of cluster web for ${2 * BASE_EJECTION_MS} ms (its probe failed; ejection 2)`), 'the second ejection');
  });

  it('brings the endpoint back when its probe succeeds', async () => {
    bad.status = 200;
    bad.delayMs = 0;
    await sleepUntil(await deadline('web', bad.address));
    await untilBadReceives(1, 1); // the first request is the probe, and the lb sends it where the breaker pinned it
    // The breaker records the probe's answer in on_log, just after the client has it; with worker
    // threads the next request (this read) may run on another worker meanwhile.
    await eventually(() => deadline('web', bad.address), (until) => until === 0, 'the probe to bring the endpoint back');
    await weft.waitForOutput((text) => text.includes(`breaker: ${bad.address} of cluster web is back (probe succeeded)`), 'the readmission');
    const seen = bad.requests.length;
    for (let i = 0; i < 4; i++) assert.equal((await get('/web/after')).status, 200);
    assert.ok(bad.requests.length - seen >= 1, 'the lb sends to it again');
    assert.ok(!weft.text.includes('the probe pinned to'), 'no probe went elsewhere than where the breaker pinned it');
  });

  it('counts the host\'s own 502s (connection refused) and ejects no more than max_ejection_percent', async () => {
    for (let i = 0; i < 12; i++) {
      const response = await get('/quad', 'quad');
      assert.equal(response.status, 502);
    }
    const now = Date.now();
    const deadlines = await Promise.all(dead.map((address) => deadline('quad', address)));
    assert.equal(deadlines.filter((until) => until > now).length, 2, `2 of 4 endpoints ejected (50%): ${deadlines}`);
    await weft.waitForOutput((text) => (text.match(/"path":"\/quad"/g) ?? []).length === 12, 'twelve access-log lines');
    const lines = weft.accessLog().filter((line) => line.path === '/quad');
    assert.ok(lines.every((line) => line.status === 502 && line.flags === 'UF'), 'connection refused: the host answers 502 UF');
  });

  it('keeps ejections and the ejection budget across a hot swap of the breaker and the lb', async () => {
    const now = Date.now();
    const before = await Promise.all(dead.map((address) => deadline('quad', address)));
    const ejected = dead.filter((_, i) => before[i]! > now);
    assert.equal(ejected.length, 2);
    // A new configuration builds a new chain: fresh breaker and lb VMs, the same shared data.
    const swap = await request(`${weft.adminUrl}/chain`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        filters: [
          { name: 'peek', vm_id: 'mesh' },
          { name: 'set-props' },
          { name: 'breaker', config: { ...breakerConfig, probe_timeout_ms: 10_000 }, vm_id: 'mesh' },
          { name: 'lb', config: { default_cluster: 'web', default_policy: 'round_robin' }, vm_id: 'mesh' },
        ],
      }),
    });
    assert.equal(swap.status, 200, swap.body);
    for (let i = 0; i < 8; i++) assert.equal((await get('/quad/after-swap', 'quad')).status, 502);
    await weft.waitForOutput((text) => (text.match(/"path":"\/quad\/after-swap"/g) ?? []).length === 8, 'eight access-log lines');
    const upstreams = weft.accessLog().filter((line) => line.path === '/quad/after-swap').map((line) => line.upstream);
    for (const address of ejected) assert.ok(!upstreams.includes(address), `the new lb skips ${address}, ejected before the swap`);
    // The new breaker reads the old ledger: the budget is still spent, nothing more is ejected.
    assert.deepEqual(await Promise.all(dead.map((address) => deadline('quad', address))), before);
  });

  it('warns, and ejects nothing, when max_ejection_percent allows no endpoint of a cluster', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get('/tiny', 'tiny')).status, 502);
    assert.equal(await deadline('tiny', lonely), 0);
    await weft.waitForOutput((text) => text.includes("breaker: max_ejection_percent 10 of cluster tiny's 1 endpoint(s) is less than one, so none can be ejected"), 'the budget warning');
  });

  it('answers 503 upstream overflow (UO) over max_requests in flight, and gives every slot back', async () => {
    slow.delayMs = 400;
    const responses = await Promise.all([0, 1, 2, 3, 4].map((i) => get(`/slow/${i}`, 'slow')));
    const statuses = responses.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503, 503]);
    const refused = responses.filter((r) => r.status === 503);
    for (const response of refused) assert.equal(response.body, 'upstream overflow\n');
    assert.equal(slow.requests.length, 2, 'refused requests never reach the upstream');
    await weft.waitForOutput((text) => (text.match(/"path":"\/slow\/\d"/g) ?? []).length === 5, 'five access-log lines');
    const flags = weft.accessLog().filter((line) => line.path.startsWith('/slow/')).map((line) => line.flags).sort();
    assert.deepEqual(flags, ['', '', 'UO', 'UO', 'UO']);
    assert.equal((await peek('breaker.inflight.slow')).int, 0);
    slow.delayMs = 0;
    assert.equal((await get('/slow/again', 'slow')).status, 200);
  });

  it('counts ejections and overflows per cluster on /metrics', async () => {
    const metrics = (await request(`${weft.adminUrl}/metrics`)).body;
    assert.match(metrics, /breaker_ejections_total\{cluster="web"\} 2/);
    assert.match(metrics, /breaker_ejections_total\{cluster="quad"\} 2/);
    assert.match(metrics, /breaker_overflows_total\{cluster="slow"\} 3/);
  });
});
