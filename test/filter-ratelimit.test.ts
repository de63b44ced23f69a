// The ratelimit filter (filters/ratelimit) behind a real `weft run` with a real upstream:
// 429 after the burst with Retry-After and RateLimit-*, refill over time, separate buckets per
// key and per route, per-minute limits, tokens given back when a later rule refuses, and a
// refused config. Each rule matches its own path prefix, so one proxy serves every case with
// fresh buckets.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { loadFilter } from '../host/testkit/index.js';
import { header, request, type HttpResponse } from './helpers/http.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const ratelimitModule = () => builtModule(join(repoRoot, 'filters', 'ratelimit'));

/** The three RateLimit-* headers of a response, as numbers. */
function quota(response: HttpResponse): { limit: number; remaining: number; reset: number } {
  return {
    limit: Number(header(response, 'ratelimit-limit')),
    remaining: Number(header(response, 'ratelimit-remaining')),
    reset: Number(header(response, 'ratelimit-reset')),
  };
}

describe('ratelimit', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [
        // Plays the router: `x-set-prop: weft.route.name=<route>` names the request's route.
        { name: 'set-props', module: fixtureModule('set-props') },
        {
          name: 'ratelimit',
          module: ratelimitModule(),
          config: {
            response_headers: true,
            rules: [
              { name: 'per-minute', key: 'source_address', rate: 3, per: 'minute', match: { path_prefix: '/minute' } },
              { name: 'per-second', key: 'source_address', rate: 2, per: 'second', burst: 1, match: { path_prefix: '/second' } },
              { name: 'by-key', key: { header: 'X-Api-Key' }, rate: 2, per: 'minute', match: { path_prefix: '/keyed' } },
              { name: 'pool', key: 'global', rate: 100, per: 'minute', match: { path_prefix: '/combo' } },
              { name: 'combo-key', key: { header: 'x-api-key' }, rate: 1, per: 'minute', match: { path_prefix: '/combo' } },
              { name: 'writes', key: 'source_address', rate: 1, per: 'hour', match: { path_prefix: '/methods', methods: ['post'] } },
              { name: 'per-route', key: 'route', rate: 1, per: 'minute', match: { path_prefix: '/routed' } },
            ],
          },
        },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('answers 429 with Retry-After and RateLimit-* once the burst is spent (per minute)', async () => {
    const allowed: HttpResponse[] = [];
    for (let i = 0; i < 3; i++) allowed.push(await request(`${weft.url}/minute/${i}`));
    for (const response of allowed) assert.equal(response.status, 200);
    // Allowed responses carry the quota too (response_headers: true): burst 3 = rate 3 by default.
    assert.deepEqual(allowed.map((r) => quota(r).remaining), [2, 1, 0]);
    assert.equal(quota(allowed[0]!).limit, 3);

    const seen = upstream.requests.length;
    const refused = await request(`${weft.url}/minute/over`);
    assert.equal(refused.status, 429);
    assert.equal(refused.body, 'rate limit exceeded (per-minute)\n');
    // 3 per minute: one token every 20 s, a full bucket in 60 s.
    assert.equal(header(refused, 'retry-after'), '20');
    assert.deepEqual(quota(refused), { limit: 3, remaining: 0, reset: 60 });
    assert.equal(upstream.requests.length, seen, 'a refused request never reaches the upstream');

    await weft.waitForOutput((text) => text.includes('"path":"/minute/over"'), 'the access-log line of /minute/over');
    const line = weft.accessLog().find((entry) => entry.path === '/minute/over')!;
    assert.equal(line.status, 429);
    assert.equal(line.flags, 'RL');
    assert.equal(line.upstream, null);
  });

  it('refills the bucket over time (per second)', async () => {
    assert.equal((await request(`${weft.url}/second/a`)).status, 200);
    const refused = await request(`${weft.url}/second/b`);
    assert.equal(refused.status, 429);
    // 2 per second: the next token comes within half a second.
    assert.equal(header(refused, 'retry-after'), '1');
    assert.equal(quota(refused).limit, 1);
    await sleep(600);
    const refilled = await request(`${weft.url}/second/c`);
    assert.equal(refilled.status, 200);
    assert.equal(quota(refilled).remaining, 0);
  });

  it('keeps one bucket per key, and lets requests without the key through', async () => {
    const keyA = { headers: { 'x-api-key': 'client-a' } };
    const keyB = { headers: { 'x-api-key': 'client-b' } };
    assert.equal((await request(`${weft.url}/keyed/1`, keyA)).status, 200);
    assert.equal((await request(`${weft.url}/keyed/2`, keyA)).status, 200);
    assert.equal((await request(`${weft.url}/keyed/3`, keyA)).status, 429);
    const other = await request(`${weft.url}/keyed/4`, keyB);
    assert.equal(other.status, 200, 'client-b has its own bucket');
    assert.equal(quota(other).remaining, 1);
    for (let i = 0; i < 4; i++) {
      const anonymous = await request(`${weft.url}/keyed/anonymous-${i}`);
      assert.equal(anonymous.status, 200, 'no x-api-key: the by-key rule does not apply');
      assert.equal(header(anonymous, 'ratelimit-limit'), undefined);
    }
  });

  it('gives a token back to the rules before the one that refused', async () => {
    const key = { headers: { 'x-api-key': 'combo' } };
    const first = await request(`${weft.url}/combo/1`, key);
    assert.equal(first.status, 200);
    assert.equal((await request(`${weft.url}/combo/2`, key)).status, 429);
    // Only the global pool applies without a key: it lost one token (the first request), not two.
    const pool = await request(`${weft.url}/combo/3`);
    assert.equal(pool.status, 200);
    assert.equal(quota(pool).limit, 100);
    assert.equal(quota(pool).remaining, 98);
  });

  it('limits only the methods a rule names', async () => {
    assert.equal((await request(`${weft.url}/methods/x`, { method: 'POST', body: 'a' })).status, 200);
    assert.equal((await request(`${weft.url}/methods/x`, { method: 'POST', body: 'b' })).status, 429);
    assert.equal((await request(`${weft.url}/methods/x`)).status, 200, 'GET is not limited by a POST rule');
  });

  it('keeps one bucket per route, and lets requests the router did not name through', async () => {
    const route = (name: string) => ({ headers: { 'x-set-prop': `weft.route.name=${name}` } });
    assert.equal((await request(`${weft.url}/routed/1`, route('checkout'))).status, 200);
    assert.equal((await request(`${weft.url}/routed/2`, route('checkout'))).status, 429);
    assert.equal((await request(`${weft.url}/routed/3`, route('catalog'))).status, 200);
    assert.equal((await request(`${weft.url}/routed/4`)).status, 200);
    assert.equal((await request(`${weft.url}/routed/5`)).status, 200);
  });

  it('refuses a bad configuration on a hot swap, naming every mistake, and keeps serving', async () => {
    const badRule = { name: 'a b', key: 'nope', rate: 0, per: 'week', brust: 5 };
    const swap = await request(`${weft.adminUrl}/chain`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filters: [{ name: 'set-props' }, { name: 'ratelimit', config: { rules: [badRule] } }] }),
    });
    assert.equal(swap.status, 422, swap.body);
    await weft.waitForOutput((text) => text.includes('ratelimit: invalid configuration'), "the filter's reasons in the log");
    const reasons = weft.logLines().find((line) => String(line.msg).startsWith('ratelimit: invalid configuration'))!.msg as string;
    assert.match(reasons, /rules\[0\]\.brust is not a known field \(known: name, key, rate, per, burst, match, max_keys\)/);
    assert.match(reasons, /rules\[0\]\.name must use only letters, digits, "_" and "-"/);
    assert.match(reasons, /rules\[0\]\.key must be "source_address", "route", "global" or \{"header": "<name>"\}, not "nope"/);
    assert.match(reasons, /rules\[0\]\.rate must be an integer >= 1, not 0/);
    assert.match(reasons, /rules\[0\]\.per must be one of second, minute, hour, not "week"/);
    // The serving chain is untouched: its buckets still count.
    assert.equal((await request(`${weft.url}/minute/after-bad-swap`)).status, 429);
  });

  it('counts allowed and limited requests per rule on /metrics', async () => {
    const metrics = await request(`${weft.adminUrl}/metrics`);
    assert.match(metrics.body, /ratelimit_requests_total\{rule="per-minute",outcome="allowed"\} 3/);
    assert.match(metrics.body, /ratelimit_requests_total\{rule="per-minute",outcome="limited"\} 2/);
  });
});

describe('ratelimit configuration', () => {
  it('keeps `weft run` from starting when it is not valid', async () => {
    const { code, stderr } = await runWeftExpectingExit({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      filters: [{ name: 'ratelimit', module: ratelimitModule(), config: { rules: [] } }],
    });
    assert.notEqual(code, 0);
    assert.match(stderr, /ratelimit.*proxy_on_configure returned false/);
  });
});

describe('ratelimit buckets keyed by many clients (test kit)', () => {
  // Buckets live in a table of max_keys (default 10,000) keyed by a hash of the client's key:
  // a client's bucket stays its own among a thousand others, and a long key is just another key.
  it('keeps every client on its own bucket among many, and for long keys', async () => {
    const filter = await loadFilter(ratelimitModule(), { config: { rules: [{ name: 'per-client', key: { header: 'x-client' }, rate: 1, per: 'minute' }] } });
    const status = (client: string) => {
      const stream = filter.stream();
      stream.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'shop.test', 'x-client': client });
      return stream.localResponse?.status ?? 200;
    };
    const long = 'l'.repeat(200);
    assert.equal(status('first'), 200);
    assert.equal(status(long), 200);
    for (let i = 0; i < 1100; i++) assert.equal(status(`client-${i}`), 200, `client-${i}`);
    assert.equal(status('first'), 429, 'first has spent its token');
    assert.equal(status(long), 429, 'the long key has spent its token');
    assert.equal(status(`${long}x`), 200, 'a longer key is another client');
    assert.equal(status('client-5'), 429);
    filter.close();
  });

  // A flood of fresh keys (a client rotating a header) neither grows the host's memory nor
  // escapes the limit: past max_keys a new key takes the least recently used bucket with the
  // tokens it holds, and the flood's own buckets are empty.
  it('keeps at most max_keys buckets, in bounded memory, and a flood of fresh keys stays limited', async () => {
    const filter = await loadFilter(ratelimitModule(), { config: { rules: [{ name: 'rotating', key: { header: 'x-client' }, rate: 5, per: 'minute', max_keys: 8 }] } });
    const status = (client: string) => {
      const stream = filter.stream();
      stream.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'shop.test', 'x-client': client });
      return stream.localResponse?.status ?? 200;
    };
    let allowed = 0;
    for (let i = 0; i < 200; i++) if (status(`rotating-${i}-${'x'.repeat(i)}`) === 200) allowed++;
    // 8 buckets of 5 tokens; the minute's refill of a bucket is 5 tokens over 60 s, nothing here.
    assert.ok(allowed <= 40, `${allowed} of 200 fresh keys let through`);
    assert.ok(allowed >= 8, `${allowed}: every bucket serves its first key`);
    // Two sets of four 24-byte buckets, and their two shared-data keys.
    assert.ok(filter.sharedData.bytesUsed('') <= 2 * (4 * 24 + 'ratelimit.rotating.0'.length), `${filter.sharedData.bytesUsed('')} bytes`);
    filter.close();
  });
});
