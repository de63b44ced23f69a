// Upstream timeouts fire on time: a real `weft run` with the router filter in front of an upstream
// that answers after a delay it is told (a setTimeout in a node http server, so the slowness is
// deterministic). The route's timeout, the cluster's timeout and the per-try timeout, each at
// 50, 200, 700 and 2,500 ms, must answer 504 UT within 25 ms of the value (undici's own
// headers/body timeouts have a 1 s resolution, so the host keeps its own timers).

import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { header, request, type HttpResponse } from './helpers/http.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const TIMEOUTS_MS = [50, 200, 700, 2500];
/** How late a timeout may fire, as the client sees it (the bound). */
const TOLERANCE_MS = 25;
/** Tries per timeout on a loaded machine (see quickestTimeout). */
const ATTEMPTS = 3;

describe('upstream timeouts fire within a few ms of their value', () => {
  let slow: EchoUpstream;
  let fast: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    slow = await EchoUpstream.start();
    fast = await EchoUpstream.start();
    const clusters: Array<Record<string, unknown>> = [
      { name: 'slow', endpoints: [slow.address] },
      { name: 'pair', endpoints: [slow.address, fast.address] },
    ];
    const routes: Array<Record<string, unknown>> = [];
    for (const ms of TIMEOUTS_MS) {
      clusters.push({ name: `c${ms}`, endpoints: [slow.address], timeout_ms: ms });
      routes.push({ match: { prefix: `/route/${ms}` }, cluster: 'slow', timeout_ms: ms });
      routes.push({ match: { prefix: `/cluster/${ms}` }, cluster: `c${ms}` });
      // A per-try timeout on a route that retries only resets: the timed-out try is the last one.
      routes.push({ match: { prefix: `/try/${ms}` }, cluster: 'slow', timeout_ms: 10_000, retry: { attempts: 1, on: ['reset'], per_try_timeout_ms: ms } });
    }
    routes.push({ match: { prefix: '/retry-try' }, cluster: 'pair', timeout_ms: 10_000, retry: { attempts: 1, on: ['gateway-error'], per_try_timeout_ms: 200 } });
    routes.push({ match: { prefix: '/capped' }, cluster: 'slow', timeout_ms: 200, retry: { attempts: 1, on: ['gateway-error'], per_try_timeout_ms: 2000 } });
    weft = await startWeft({
      clusters,
      default_cluster: 'slow',
      filters: [
        { name: 'router', module: builtModule(join(repoRoot, 'filters', 'router')), config: { routes } },
        // Copies upstream.address into the response header x-upstream-address.
        { name: 'props', module: fixtureModule('set-props') },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await Promise.all([slow?.stop(), fast?.stop()]);
  });

  async function timed(path: string, upstreamDelayMs: number): Promise<{ response: HttpResponse; elapsedMs: number }> {
    const started = performance.now();
    const response = await request(`${weft.url}${path}`, { headers: { 'x-upstream-delay-ms': String(upstreamDelayMs) } });
    return { response, elapsedMs: performance.now() - started };
  }

  /**
   * The machine running the tests is shared and loaded: one request may wait tens of ms for a
   * core. So a timeout gets up to ATTEMPTS tries and the quickest counts; a timer with a coarse
   * clock (undici's fires up to a second late) is late on every one of them.
   */
  async function quickestTimeout(path: string, ms: number): Promise<number> {
    let quickest = Infinity;
    for (let i = 0; i < ATTEMPTS && quickest > ms + TOLERANCE_MS; i++) {
      const { response, elapsedMs } = await timed(path, ms + 1000);
      assert.equal(response.status, 504, `${path}: ${response.body}`);
      assert.equal(response.body, 'upstream request timeout\n');
      assert.ok(elapsedMs >= ms, `${path}: answered after ${elapsedMs.toFixed(1)} ms, before its ${ms} ms timeout`);
      quickest = Math.min(quickest, elapsedMs);
    }
    return quickest;
  }

  for (const kind of ['route', 'cluster', 'try']) {
    test(`${kind} timeouts of ${TIMEOUTS_MS.join(', ')} ms answer 504 UT within ${TOLERANCE_MS} ms`, async () => {
      for (const ms of TIMEOUTS_MS) {
        const path = `/${kind}/${ms}`;
        const elapsedMs = await quickestTimeout(path, ms);
        assert.ok(elapsedMs <= ms + TOLERANCE_MS, `${path}: answered after ${elapsedMs.toFixed(1)} ms at the quickest, timeout ${ms} ms`);
        await weft.waitForOutput((text) => text.includes(`"path":"${path}","status":504`) && /"flags":"UT"/.test(text), `the UT access-log line of ${path}`);
      }
    });
  }

  test('an upstream that answers before the timeout is not cut', async () => {
    const { response, elapsedMs } = await timed('/route/200', 120);
    assert.equal(response.status, 200);
    assert.ok(elapsedMs >= 120, `answered after ${elapsedMs.toFixed(1)} ms`);
  });

  test('a per-try timeout is retried (gateway-error) on another endpoint, right after it fires', async () => {
    slow.delayMs = 1000;
    try {
      // The host's round robin alternates: whichever endpoint comes first, one try is on the slow one.
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        const response = await request(`${weft.url}/retry-try/${i}`);
        const elapsedMs = performance.now() - started;
        assert.equal(response.status, 200, response.body);
        assert.equal(header(response, 'x-upstream-address'), fast.address);
        // Retried when the per-try timeout fired, long before the slow endpoint's answer at 1 s.
        assert.ok(elapsedMs < 600, `answered after ${elapsedMs.toFixed(1)} ms`);
      }
    } finally {
      slow.delayMs = 0;
    }
  });

  test('the clock starts once the request body is in: a slow upload is not a timeout', async () => {
    const started = performance.now();
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${weft.url}/route/200/upload`, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('first half, ');
      setTimeout(() => req.end('second half 400 ms later'), 400);
    });
    assert.equal(response.status, 200, response.body);
    assert.equal(JSON.parse(response.body).body, 'first half, second half 400 ms later');
    assert.ok(performance.now() - started >= 400);
  });

  test('a body that stops for longer than the timeout is cut there (the head was already sent)', async () => {
    const stalling = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n'); // then nothing more
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(stalling.address() as AddressInfo).port}`;
    const stallingWeft = await startWeft({ clusters: [{ name: 'stall', endpoints: [address], timeout_ms: 200 }], filters: [] });
    try {
      const started = performance.now();
      const outcome = await new Promise<{ status: number; body: string; closedAfterMs: number; error?: string }>((resolve) => {
        httpRequest(`${stallingWeft.url}/stall`, { agent: false }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk));
          res.on('error', (error) => resolve({ status: res.statusCode ?? 0, body, closedAfterMs: performance.now() - started, error: error.message }));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, closedAfterMs: performance.now() - started }));
        }).end();
      });
      assert.equal(outcome.status, 200);
      assert.equal(outcome.body, 'first chunk\n');
      assert.ok(outcome.error !== undefined, 'the client sees the response cut, not a complete one');
      assert.ok(outcome.closedAfterMs >= 200 && outcome.closedAfterMs < 200 + 200, `cut after ${outcome.closedAfterMs.toFixed(1)} ms`);
      await stallingWeft.waitForOutput((text) => /"path":"\/stall".*"flags":"UT"/.test(text), 'the UT access-log line');
    } finally {
      await stallingWeft.stop();
      stalling.closeAllConnections();
      stalling.close();
    }
  });

  test("the route's timeout caps a longer per-try timeout", async () => {
    const elapsedMs = await quickestTimeout('/capped', 200);
    assert.ok(elapsedMs <= 200 + TOLERANCE_MS, `answered after ${elapsedMs.toFixed(1)} ms at the quickest`);
  });
});
