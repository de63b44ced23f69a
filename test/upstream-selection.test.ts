// The host applying what filters decide (notes/FILTER-CONTRACT.md): cluster and endpoint
// choice, per-route timeout, retries, and the outcome on_log sees — driven through the
// set-props fixture filter, a real `weft run` and real upstreams.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from './helpers/ports.js';
import { header, request } from './helpers/http.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

describe('upstream selection, timeouts and retries from properties', () => {
  let failing: EchoUpstream;
  let healthy: EchoUpstream;
  let other: EchoUpstream;
  let deadPort: number;
  let weft: WeftProcess;

  before(async () => {
    failing = await EchoUpstream.start();
    failing.status = 503;
    healthy = await EchoUpstream.start();
    other = await EchoUpstream.start();
    deadPort = await freePort();
    weft = await startWeft({
      clusters: [
        { name: 'main', endpoints: [`127.0.0.1:${failing.port}`, `127.0.0.1:${healthy.port}`], timeout_ms: 5000 },
        { name: 'other', endpoints: [`127.0.0.1:${other.port}`] },
        { name: 'flaky', endpoints: [`127.0.0.1:${deadPort}`, `127.0.0.1:${healthy.port}`] },
      ],
      default_cluster: 'main',
      filters: [{ name: 'props', module: fixtureModule('set-props') }],
    });
  });
  after(async () => {
    await weft.stop();
    await Promise.all([failing.stop(), healthy.stop(), other.stop()]);
  });

  const setProps = (...props: string[]) => ({ 'x-set-prop': props.join(',') });

  test('weft.upstream.cluster picks the cluster; an unknown one is 503 NC', async () => {
    const res = await request(`${weft.url}/c`, { headers: setProps('weft.upstream.cluster=other') });
    assert.equal(res.status, 200);
    assert.equal(header(res, 'x-upstream-address'), `127.0.0.1:${other.port}`);
    const unknown = await request(`${weft.url}/c`, { headers: setProps('weft.upstream.cluster=nope') });
    assert.equal(unknown.status, 503);
    assert.match(unknown.body, /unknown cluster nope/);
  });

  test('weft.upstream.endpoint pins the endpoint; one outside the cluster is 503 UH', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await request(`${weft.url}/e`, { headers: setProps(`weft.upstream.endpoint=127.0.0.1:${healthy.port}`) });
      assert.equal(res.status, 200);
      assert.equal(header(res, 'x-upstream-address'), `127.0.0.1:${healthy.port}`);
    }
    const outside = await request(`${weft.url}/e`, { headers: setProps(`weft.upstream.endpoint=127.0.0.1:${other.port}`) });
    assert.equal(outside.status, 503);
    await weft.waitForOutput((text) => text.includes('"flags":"UH"'), 'the UH access log line');
  });

  test('a 503 is retried on another endpoint when the route retries gateway errors', async () => {
    const res = await request(`${weft.url}/r`, {
      headers: setProps(`weft.upstream.endpoint=127.0.0.1:${failing.port}`, 'weft.route.retry.attempts=1', 'weft.route.retry.on=gateway-error'),
    });
    assert.equal(res.status, 200);
    assert.equal(header(res, 'x-upstream-address'), `127.0.0.1:${healthy.port}`);
  });

  test('without a retry policy the 503 goes back to the client', async () => {
    const res = await request(`${weft.url}/nr`, { headers: setProps(`weft.upstream.endpoint=127.0.0.1:${failing.port}`) });
    assert.equal(res.status, 503);
  });

  test('a POST body is sent again on the retry', async () => {
    const before = healthy.requests.length;
    const res = await request(`${weft.url}/post`, {
      method: 'POST',
      body: 'the body, twice',
      headers: setProps(`weft.upstream.endpoint=127.0.0.1:${failing.port}`, 'weft.route.retry.attempts=2', 'weft.route.retry.on=5xx'),
    });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).body, 'the body, twice');
    assert.equal(failing.requests.at(-1)!.body, 'the body, twice');
    assert.equal(healthy.requests.length, before + 1);
  });

  test('a connect failure is retried when the route says connect-failure', async () => {
    const res = await request(`${weft.url}/cf`, {
      headers: setProps('weft.upstream.cluster=flaky', `weft.upstream.endpoint=127.0.0.1:${deadPort}`, 'weft.route.retry.attempts=1', 'weft.route.retry.on=connect-failure'),
    });
    assert.equal(res.status, 200);
    assert.equal(header(res, 'x-upstream-address'), `127.0.0.1:${healthy.port}`);
  });

  test('retries exhausted: the last failure is answered with flag URX', async () => {
    const res = await request(`${weft.url}/urx`, {
      headers: setProps('weft.upstream.cluster=flaky', `weft.upstream.endpoint=127.0.0.1:${deadPort}`, 'weft.route.retry.attempts=1', 'weft.route.retry.on=reset'),
    });
    assert.equal(res.status, 502, 'a connect failure is not retried under retry_on=reset');
    const both = await request(`${weft.url}/urx2`, {
      headers: {
        ...setProps(`weft.upstream.endpoint=127.0.0.1:${healthy.port}`, 'weft.route.retry.attempts=1', 'weft.route.retry.on=5xx'),
        'x-upstream-status': '500',
      },
    });
    assert.equal(both.status, 500, 'the last attempt answers when every attempt failed with a status');
    await weft.waitForOutput((text) => /"path":"\/urx2".*"flags":"URX"/.test(text), 'the URX access log line');
  });

  test('weft.route.timeout_ms overrides the cluster timeout', async () => {
    const started = Date.now();
    const res = await request(`${weft.url}/t`, {
      headers: { ...setProps(`weft.upstream.endpoint=127.0.0.1:${healthy.port}`, 'weft.route.timeout_ms=200'), 'x-upstream-delay-ms': '1500' },
    });
    assert.equal(res.status, 504);
    assert.ok(Date.now() - started < 1200, 'answered at the route timeout, not the upstream delay');
  });

  test('on_log reads response.code and response.flags, also for answers the host made', async () => {
    await request(`${weft.url}/x`, { headers: setProps('weft.upstream.cluster=nope') });
    const res = await request(`${weft.url}/y`, { headers: { 'x-read-last': '1' } });
    assert.equal(header(res, 'x-last'), '503 NC');
  });
});
