// The admin API of a real `weft run` (health, readiness, metrics in Prometheus text, the chain,
// 404s, bearer-token auth), and the metrics registry's text format.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { MetricType } from '../host/abi/enums.js';
import { WeftMetrics } from '../host/telemetry/metrics.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const TOKEN = 'correct horse battery staple';

// One agent for every request, closed at the end so no keep-alive socket outlives the tests.
const agent = new Agent();
after(() => agent.close());

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers, dispatcher: agent });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

let upstream: EchoUpstream;
before(async () => {
  upstream = await EchoUpstream.start();
});
after(() => upstream.stop());

const manifest = (extra: Record<string, unknown> = {}) => ({
  clusters: [{ name: 'web', endpoints: [upstream.address] }],
  filters: [{ name: 'hello', module: fixtureModule('tag-version'), config: { version: 'v1' } }],
  ...extra,
});

describe('metrics registry', () => {
  test('serves request, filter and filter-defined metrics in Prometheus text', async () => {
    const metrics = new WeftMetrics();
    const web = metrics.cluster('web');
    web.observe(200, 0.003);
    web.observe(200, 0.2);
    web.observe(502, 0.001);
    metrics.filterPhase('hello', 'request_headers').observe(0.000004);
    metrics.filterTrap('hello');
    const hits = metrics.filterMetrics.define(MetricType.Counter, 'hello.hits');
    metrics.filterMetrics.increment(hits, 5n);

    assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    const lines = new Set((await metrics.text()).split('\n'));
    for (const line of [
      '# TYPE weft_requests_total counter',
      'weft_requests_total{cluster="web",status="200"} 2',
      'weft_requests_total{cluster="web",status="502"} 1',
      '# TYPE weft_request_duration_seconds histogram',
      'weft_request_duration_seconds_bucket{cluster="web",le="0.001"} 1',
      'weft_request_duration_seconds_bucket{cluster="web",le="0.0025"} 1',
      'weft_request_duration_seconds_bucket{cluster="web",le="0.005"} 2',
      'weft_request_duration_seconds_bucket{cluster="web",le="0.25"} 3',
      'weft_request_duration_seconds_bucket{cluster="web",le="+Inf"} 3',
      'weft_request_duration_seconds_count{cluster="web"} 3',
      'weft_filter_phase_duration_seconds_bucket{filter="hello",phase="request_headers",le="0.000005"} 1',
      'weft_filter_phase_duration_seconds_count{filter="hello",phase="request_headers"} 1',
      'weft_filter_traps_total{filter="hello"} 1',
      'hello_hits 5',
    ]) {
      assert.ok(lines.has(line), `missing line: ${line}`);
    }
    assert.ok([...lines].some((line) => line.startsWith('process_cpu_user_seconds_total ')), 'process metrics are there');
    const sum = [...lines].find((line) => line.startsWith('weft_request_duration_seconds_sum{cluster="web"} '));
    assert.ok(sum !== undefined && Math.abs(Number(sum.split(' ')[1]) - 0.204) < 1e-9, `sum line: ${sum}`);
  });
});

describe('admin API without a token', () => {
  let weft: WeftProcess;

  before(async () => {
    weft = await startWeft(manifest());
  });
  after(() => weft.stop());

  test('GET /healthz is ok and GET /ready is ready while serving', async () => {
    const health = await get(`${weft.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ok');
    const ready = await get(`${weft.adminUrl}/ready`);
    assert.deepEqual([ready.status, JSON.parse(ready.body)], [200, { ready: true }]);
  });

  test('GET /chain is the running chain', async () => {
    const response = await get(`${weft.adminUrl}/chain`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const chain = JSON.parse(response.body);
    assert.equal(typeof chain.revision, 'number');
    assert.deepEqual(chain.filters.map((f: { name: string; on_error: string }) => [f.name, f.on_error]), [['hello', 'fail_closed']]);
  });

  test('GET /metrics counts the requests served', async () => {
    assert.equal((await get(`${weft.url}/counted`)).status, 200);
    const response = await get(`${weft.adminUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.body, /^weft_requests_total\{cluster="web",status="200"\} [1-9]/m);
    assert.match(response.body, /^weft_filter_phase_duration_seconds_count\{filter="hello",phase="response_headers"\} [1-9]/m);
  });

  test('an unknown route or method is a JSON 404', async () => {
    const response = await get(`${weft.adminUrl}/nope`);
    assert.equal(response.status, 404);
    assert.deepEqual(JSON.parse(response.body), { error: 'no route GET /nope' });
    const del = await fetch(`${weft.adminUrl}/chain`, { method: 'DELETE', dispatcher: agent });
    assert.equal(del.status, 404);
    assert.deepEqual(await del.json(), { error: 'no route DELETE /chain' });
  });

  test('a second weft on the same admin address fails with the address in the message', async () => {
    const second = await runWeftExpectingExit({ ...manifest(), admin: { listen: `127.0.0.1:${weft.adminPort}` } });
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`admin: cannot listen on 127\\.0\\.0\\.1:${weft.adminPort}`));
  });
});
describe('admin API with a token', () => {
  let weft: WeftProcess;

  before(async () => {
    weft = await startWeft(manifest({ admin: { token: TOKEN } }));
  });
  after(() => weft.stop());

  test('GET /healthz needs no token', async () => {
    assert.equal((await get(`${weft.adminUrl}/healthz`)).status, 200);
  });

  for (const path of ['/ready', '/metrics', '/chain', '/nope']) {
    test(`${path} without a token is 401 with WWW-Authenticate`, async () => {
      const response = await get(`${weft.adminUrl}${path}`);
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual(JSON.parse(response.body), { error: 'missing bearer token' });
    });
  }

  test('a wrong token, or the right one in another scheme, is 401', async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, 'Bearer x', `Basic ${TOKEN}`, 'Bearer']) {
      const response = await get(`${weft.adminUrl}/chain`, { authorization });
      assert.equal(response.status, 401, authorization);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
    }
  });

  test('the right token opens every route; unknown routes are then 404', async () => {
    const authorization = `Bearer ${TOKEN}`;
    assert.equal((await get(`${weft.adminUrl}/ready`, { authorization })).status, 200);
    assert.equal((await get(`${weft.adminUrl}/metrics`, { authorization })).status, 200);
    const chainResponse = await get(`${weft.adminUrl}/chain`, { authorization: `bearer ${TOKEN}` });
    assert.equal(chainResponse.status, 200);
    assert.equal(JSON.parse(chainResponse.body).filters[0].name, 'hello');
    assert.equal((await get(`${weft.adminUrl}/nope`, { authorization })).status, 404);
  });
});
