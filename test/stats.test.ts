// GET /stats and `weft stats` on a real `weft run` with real upstreams: the figures after a known
// load (200 requests, 10% failing, 10% slow), per cluster and per registry service, and the
// endpoints the breaker filter ejected. The set-props fixture plays the router and the lb.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AdminClient } from './helpers/admin.js';
import { runCli } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

interface WindowStats {
  window_s: number;
  requests: number;
  requests_per_second: number;
  success_rate: number | null;
  failure_rate: number | null;
  latency_ms: { p50: number; p90: number; p99: number } | null;
}
interface Figures {
  name: string;
  last_minute: WindowStats;
  last_hour: WindowStats;
  ejected: Array<{ endpoint: string; until: string; remaining_s: number }>;
  clusters?: string[];
}
interface Report {
  generated_at: string;
  clusters: Figures[];
  services: Figures[];
}

/** Sends `count` requests, `parallel` at a time; `options(i)` shapes the i-th. */
async function load(url: string, count: number, parallel: number, options: (i: number) => { headers: Record<string, string> }): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      statuses[i] = (await request(url, options(i))).status;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return statuses;
}

describe('GET /stats', () => {
  let web: EchoUpstream;
  let broken: EchoUpstream;
  let weft: WeftProcess;
  let admin: AdminClient;

  before(async () => {
    web = await EchoUpstream.start();
    broken = await EchoUpstream.start();
    broken.status = 503;
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [web.address] },
        { name: 'flaky', endpoints: [broken.address, web.address] },
        { name: 'reviews-v1', discovery: 'registry', service: 'reviews', version: 'v1' },
        { name: 'reviews-all', discovery: 'registry', service: 'reviews' },
      ],
      default_cluster: 'web',
      filters: [
        { name: 'set-props', module: fixtureModule('set-props') },
        // Two 5xx in a row eject an endpoint for a minute; one of flaky's two may go.
        { name: 'breaker', module: builtModule(join(repoRoot, 'filters', 'breaker')), config: { consecutive_5xx: 2, base_ejection_time_ms: 60_000, max_ejection_percent: 50 } },
      ],
      access_log: 'off',
    });
    admin = new AdminClient(weft.adminUrl);
  });
  after(async () => {
    await weft?.stop();
    await web?.stop();
    await broken?.stop();
  });

  it('reports rates, success and latency percentiles per cluster after a known load', async () => {
    // 200 requests: every 10th fails (503 from the upstream), every 10th of the others is slow (60 ms).
    const shape = (i: number): Record<string, string> => (i % 10 === 0 ? { 'x-upstream-status': '503' } : i % 10 === 5 ? { 'x-upstream-delay-ms': '60' } : {});
    const statuses = await load(`${weft.url}/load`, 200, 8, (i) => ({ headers: shape(i) }));
    assert.equal(statuses.filter((status) => status === 503).length, 20);

    const reply = await admin.call('GET', '/stats');
    assert.equal(reply.status, 200);
    const report = reply.json as Report;
    assert.ok(Math.abs(Date.parse(report.generated_at) - Date.now()) < 5000);
    assert.deepEqual(report.clusters.map((cluster) => cluster.name), ['web', 'flaky', 'reviews-v1', 'reviews-all']);
    const web = report.clusters[0]!;
    for (const window of [web.last_minute, web.last_hour]) {
      assert.equal(window.requests, 200);
      assert.equal(window.success_rate, 0.9);
      assert.equal(window.failure_rate, 0.1);
      assert.ok(window.window_s > 0 && window.window_s <= 60, `window_s ${window.window_s}: the proxy started less than a minute ago`);
      assert.ok(Math.abs(window.requests_per_second - 200 / window.window_s) < 0.01);
      const latency = window.latency_ms!;
      assert.ok(latency.p50 <= latency.p90 && latency.p90 <= latency.p99, JSON.stringify(latency));
      assert.ok(latency.p50 < 30, `p50 ${latency.p50} ms: most requests are fast`);
      // The slowest 10% took >= 60 ms: the 99th percentile is among them (buckets are 25% wide).
      assert.ok(latency.p99 >= 45 && latency.p99 < 200, `p99 ${latency.p99} ms`);
    }
    assert.deepEqual(web.ejected, []);
    const idle = report.clusters[2]!.last_minute;
    assert.deepEqual(idle, { window_s: idle.window_s, requests: 0, requests_per_second: 0, success_rate: null, failure_rate: null, latency_ms: null });
  });

  it('lists the endpoints the breaker ejected', async () => {
    const toBroken = { headers: { 'x-set-prop': `weft.upstream.cluster=flaky,weft.upstream.endpoint=${broken.address}` } };
    for (let i = 0; i < 2; i++) assert.equal((await request(`${weft.url}/flaky`, toBroken)).status, 503);
    const report = (await admin.call('GET', '/stats')).json as Report;
    const flaky = report.clusters.find((cluster) => cluster.name === 'flaky')!;
    assert.equal(flaky.last_minute.requests, 2);
    assert.equal(flaky.last_minute.failure_rate, 1);
    assert.equal(flaky.ejected.length, 1);
    const [ejection] = flaky.ejected;
    assert.equal(ejection!.endpoint, broken.address);
    assert.ok(ejection!.remaining_s > 50 && ejection!.remaining_s <= 60, `remaining ${ejection!.remaining_s} s`);
    assert.ok(Math.abs(Date.parse(ejection!.until) - (Date.now() + ejection!.remaining_s * 1000)) < 2000);
  });

  it('adds up the clusters of a registry service', async () => {
    const registered = await admin.call('POST', '/services/reviews/instances', {
      body: JSON.stringify({ address: '127.0.0.1', port: web.port, version: 'v1' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(registered.status, 201, registered.text);
    const to = (cluster: string) => ({ headers: { 'x-set-prop': `weft.upstream.cluster=${cluster}` } });
    for (let i = 0; i < 3; i++) assert.equal((await request(`${weft.url}/reviews`, to('reviews-v1'))).status, 200);
    assert.equal((await request(`${weft.url}/reviews`, { headers: { ...to('reviews-all').headers, 'x-upstream-status': '500' } })).status, 500);

    const report = (await admin.call('GET', '/stats')).json as Report;
    assert.deepEqual(report.services.map((service) => [service.name, service.clusters]), [['reviews', ['reviews-v1', 'reviews-all']]]);
    const reviews = report.services[0]!.last_minute;
    assert.equal(reviews.requests, 4);
    assert.equal(reviews.success_rate, 0.75);
    assert.equal(report.clusters.find((cluster) => cluster.name === 'reviews-v1')!.last_minute.requests, 3);
  });

  it('prints the same figures with weft stats', async () => {
    const outcome = await runCli(['stats', '--admin', weft.adminUrl]);
    assert.equal(outcome.code, 0, outcome.stderr);
    const lines = outcome.stdout.split('\n');
    assert.match(lines[0]!, /^CLUSTER\s+WINDOW\s+REQUESTS\s+REQ\/S\s+SUCCESS\s+FAILURE\s+P50\s+P90\s+P99$/);
    assert.match(lines[1]!, /^web\s+1m\s+200\s+\d+\.\d\d\s+90\.0%\s+10\.0%\s+\d+(\.\d+)? m?s/);
    assert.match(outcome.stdout, /^SERVICE\s+WINDOW/m);
    assert.match(outcome.stdout, /^reviews\s+1m\s+4\s+\S+\s+75\.0%\s+25\.0%/m);
    assert.match(outcome.stdout, new RegExp(`ejected endpoints:\\n  flaky  ${broken.address.replace(/\./g, '\\.')}  for \\d+(\\.\\d)? s more`));

    const json = await runCli(['stats', '--json'], { WEFT_ADMIN_URL: weft.adminUrl });
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as Report).clusters[0]!.last_hour.requests, 200);

    const unreachable = await runCli(['stats', '--admin', 'http://127.0.0.1:9']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:9/);
    const usage = await runCli(['stats', '--bogus']);
    assert.equal(usage.code, 2);
  });
});
