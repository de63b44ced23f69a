// The admin API on a real port (19200-19209), hit with HTTP: health, readiness, metrics in
// Prometheus text, the chain, 404s, and bearer-token auth.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { Readiness } from '../host/admin/readiness.js';
import { startAdminServer, type AdminServer } from '../host/admin/server.js';
import type { ChainInfo } from '../host/admin/deps.js';
import { createLogger } from '../host/telemetry/logger.js';
import { WeftMetrics } from '../host/telemetry/metrics.js';
import { MetricType } from '../host/abi/enums.js';

const OPEN_PORT = 19200;
const TOKEN_PORT = 19201;
const TOKEN = 'correct horse battery staple';

// One agent for every request, closed at the end so no keep-alive socket outlives the tests.
const agent = new Agent();
after(() => agent.close());

const chain: ChainInfo = {
  revision: 3,
  filters: [{ name: 'hello', sha256: 'ab'.repeat(32), on_error: 'fail_closed', abi_version: '0.2.1' }],
};

function silentLogger() {
  return createLogger('info', new Writable({ write: (_chunk, _encoding, done) => done() }));
}

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers, dispatcher: agent });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

describe('admin API without a token', () => {
  const readiness = new Readiness();
  const metrics = new WeftMetrics();
  let server: AdminServer;

  before(async () => {
    server = await startAdminServer({ host: '127.0.0.1', port: OPEN_PORT }, { readiness, chainInfo: () => chain, metrics, logger: silentLogger() });
  });
  after(() => server.close());

  test('listens on the configured address', () => {
    assert.equal(server.port, OPEN_PORT);
    assert.equal(server.host, '127.0.0.1');
  });

  test('GET /healthz is always ok', async () => {
    const response = await get(OPEN_PORT, '/healthz');
    assert.equal(response.status, 200);
    assert.equal(response.body, 'ok');
  });

  test('GET /ready follows the readiness state', async () => {
    assert.deepEqual(await get(OPEN_PORT, '/ready').then((r) => [r.status, JSON.parse(r.body)]), [503, { ready: false, reason: 'starting' }]);
    readiness.serving();
    assert.deepEqual(await get(OPEN_PORT, '/ready').then((r) => [r.status, JSON.parse(r.body)]), [200, { ready: true }]);
    readiness.notReady('draining');
    assert.deepEqual(await get(OPEN_PORT, '/ready').then((r) => [r.status, JSON.parse(r.body)]), [503, { ready: false, reason: 'draining' }]);
  });

  test('GET /chain is the running chain', async () => {
    const response = await get(OPEN_PORT, '/chain');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(response.body), chain);
  });

  test('GET /metrics serves the registry in Prometheus text', async () => {
    const web = metrics.cluster('web');
    web.observe(200, 0.003);
    web.observe(200, 0.2);
    web.observe(502, 0.001);
    metrics.filterPhase('hello', 'request_headers').observe(0.000004);
    metrics.filterTrap('hello');
    const hits = metrics.filterMetrics.define(MetricType.Counter, 'hello.hits');
    metrics.filterMetrics.increment(hits, 5n);

    const response = await get(OPEN_PORT, '/metrics');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const lines = new Set(response.body.split('\n'));
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

  test('an unknown route or method is a JSON 404', async () => {
    const response = await get(OPEN_PORT, '/nope');
    assert.equal(response.status, 404);
    assert.deepEqual(JSON.parse(response.body), { error: 'no route GET /nope' });
    const post = await fetch(`http://127.0.0.1:${OPEN_PORT}/chain`, { method: 'POST', body: '{}', dispatcher: agent });
    assert.equal(post.status, 404);
    assert.deepEqual(await post.json(), { error: 'no route POST /chain' });
  });

  test('a second server on the same address fails with the address in the message', async () => {
    await assert.rejects(
      startAdminServer({ host: '127.0.0.1', port: OPEN_PORT }, { readiness, chainInfo: () => chain, metrics, logger: silentLogger() }),
      /^Error: admin: cannot listen on 127\.0\.0\.1:19200/,
    );
  });
});

describe('admin API with a token', () => {
  let server: AdminServer;

  before(async () => {
    const readiness = new Readiness();
    readiness.serving();
    server = await startAdminServer(
      { host: '127.0.0.1', port: TOKEN_PORT, token: TOKEN },
      { readiness, chainInfo: () => chain, metrics: new WeftMetrics({ processMetrics: false }), logger: silentLogger() },
    );
  });
  after(() => server.close());

  test('GET /healthz needs no token', async () => {
    assert.equal((await get(TOKEN_PORT, '/healthz')).status, 200);
  });

  for (const path of ['/ready', '/metrics', '/chain', '/nope']) {
    test(`${path} without a token is 401 with WWW-Authenticate`, async () => {
      const response = await get(TOKEN_PORT, path);
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual(JSON.parse(response.body), { error: 'missing bearer token' });
    });
  }

  test('a wrong token, or the right one in another scheme, is 401', async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, 'Bearer x', `Basic ${TOKEN}`, 'Bearer']) {
      const response = await get(TOKEN_PORT, '/chain', { authorization });
      assert.equal(response.status, 401, authorization);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
    }
  });

  test('the right token opens every route; unknown routes are then 404', async () => {
    const authorization = `Bearer ${TOKEN}`;
    assert.equal((await get(TOKEN_PORT, '/ready', { authorization })).status, 200);
    assert.equal((await get(TOKEN_PORT, '/metrics', { authorization })).status, 200);
    const chainResponse = await get(TOKEN_PORT, '/chain', { authorization: `bearer ${TOKEN}` });
    assert.deepEqual(JSON.parse(chainResponse.body), chain);
    assert.equal((await get(TOKEN_PORT, '/nope', { authorization })).status, 404);
  });
});
