// The router filter (filters/router) in a real `weft run` in front of real upstreams: every match
// kind, both rewrites, direct responses, the 404 for no route, weighted and sticky splits, the
// route's timeout and retry policy as the host applies them, its regex engine, and the
// configuration mistakes that stop it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sendMany } from './helpers/load.js';
import { header, request, type RequestOptions } from './helpers/http.js';
import { builtModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const routerModule = builtModule(join(repoRoot, 'filters', 'router'));

/** The regex engine's cases: pattern, paths it must match, paths it must not. */
const REGEX_CASES: Array<[string, string[], string[]]> = [
  ['^/users/[0-9]+$', ['/users/42', '/users/7?tab=1'], ['/users/', '/users/42/x', '/users/abc', '/xusers/1']],
  ['/api/v[12]/', ['/api/v1/x', '/prefix/api/v2/'], ['/api/v3/', '/api/v1']],
  ['^/(cats|dogs)(/[a-z]+)*/?$', ['/cats', '/dogs/', '/cats/a/b', '/dogs/tom/'], ['/cows', '/cats/A', '/catsx']],
  ['^/files/.+\\.(png|jpe?g)$', ['/files/a.png', '/files/x/y.jpeg', '/files/b.jpg'], ['/files/.png', '/files/a.gif', '/files/apng']],
  ['^/v\\d{1,2}/\\w+$', ['/v1/abc', '/v12/a_b'], ['/v123/a', '/v/a', '/v1/a-b']],
  ['^/[^/]+$', ['/abc', '/a.b'], ['/', '/a/b']],
  ['^/a?b+c*$', ['/b', '/abbb', '/abcc', '/bc'], ['/a', '/ac', '/aab']],
  ['^/x{3}$', ['/xxx'], ['/xx', '/xxxx']],
  ['^/y{2,}$', ['/yy', '/yyyyy'], ['/y']],
  ['^/(?:ab)+$', ['/ab', '/abab'], ['/aba', '/']],
  ['\\.php$', ['/index.php', '/a/b.php'], ['/index.phps', '/php']],
  ['^/[a-c-]+$', ['/a-b-c', '/cab'], ['/d', '/a_b']],
  ['^/\\(x\\)\\$$', ['/(x)$'], ['/x', '/(x)']],
  ['^/(a|)b$', ['/ab', '/b'], ['/aab', '/a']],
  ['^/\\D\\S\\W$', ['/a-.'], ['/1-.', '/a-a', '/a-.x']],
  ['^/[\\d.]+$', ['/1.2.3', '/7'], ['/1a', '/']],
  ['^/a.*z$', ['/az', '/a/b/z'], ['/a/b/zz/', '/z']],
  ['x=1', [], ['/q?x=1']], // the query is not part of what paths are matched against
  // Catastrophic for a backtracking engine; linear here.
  ['(a+)+b', ['/aaab'], [`/${'a'.repeat(4000)}c`]],
];

function regexRoutes() {
  return REGEX_CASES.map(([pattern], index) => ({
    name: `re-${index}`,
    match: { regex: pattern, headers: [{ name: 'x-re', exact: String(index) }] },
    direct_response: { status: 200, body: `re-${index}` },
  }));
}

describe('router filter', () => {
  const upstreams: Record<string, EchoUpstream> = {};
  let weft: WeftProcess;

  before(async () => {
    for (const name of ['a', 'b', 'c', 'stable', 'canary']) upstreams[name] = await EchoUpstream.start();
    const cluster = (name: string) => ({ name, endpoints: [upstreams[name]!.address] });
    weft = await startWeft({
      clusters: [
        cluster('a'),
        cluster('b'),
        cluster('c'),
        cluster('stable'),
        cluster('canary'),
        { name: 'pair', endpoints: [upstreams.a!.address, upstreams.b!.address] },
      ],
      default_cluster: 'a',
      filters: [
        {
          name: 'router',
          module: routerModule,
          config: {
            routes: [
              ...regexRoutes(),
              { name: 're-miss', match: { headers: [{ name: 'x-re', present: true }] }, direct_response: { status: 418, body: 'miss' } },
              { name: 'health', match: { path: '/healthz' }, direct_response: { status: 200, body: 'ok\n' } },
              { name: 'moved', match: { prefix: '/old/' }, direct_response: { status: 301, body: '', headers: { location: '/new/' } } },
              { name: 'api-host', match: { host: 'api.example.com' }, cluster: 'b' },
              { name: 'wild-host', match: { host: '*.example.org' }, cluster: 'c' },
              { name: 'port-host', match: { host: 'internal:8443' }, cluster: 'c' },
              { name: 'writes', match: { prefix: '/items', methods: ['post', 'PUT'] }, cluster: 'b' },
              { name: 'reads', match: { prefix: '/items' }, cluster: 'c' },
              { name: 'gold', match: { prefix: '/h/', headers: [{ name: 'X-Tier', exact: 'gold' }] }, cluster: 'b' },
              { name: 'versioned', match: { prefix: '/h/', headers: [{ name: 'x-version', regex: '^v[0-9]+\\.[0-9]+$' }] }, cluster: 'c' },
              {
                name: 'debug',
                match: { prefix: '/h/', headers: [{ name: 'x-debug', present: true }, { name: 'x-skip', present: false }] },
                cluster: 'a',
              },
              { name: 'api-v1', match: { prefix: '/api/v1/' }, cluster: 'a', prefix_rewrite: '/v2/', host_rewrite: 'backend.internal' },
              { name: 'exact', match: { path: '/exact' }, cluster: 'c', prefix_rewrite: '/renamed' },
              { name: 'user', match: { regex: '^/users/[0-9]+(/(profile|orders))?$' }, cluster: 'b' },
              {
                name: 'canary',
                match: { prefix: '/canary' },
                weighted_clusters: { clusters: [{ name: 'stable', weight: 95 }, { name: 'canary', weight: 5 }] },
              },
              {
                name: 'sticky-header',
                match: { prefix: '/sticky-h/' },
                weighted_clusters: { clusters: [{ name: 'stable', weight: 70 }, { name: 'canary', weight: 30 }], sticky: { header: 'x-user' } },
              },
              {
                name: 'sticky-cookie',
                match: { prefix: '/sticky-c/' },
                weighted_clusters: { clusters: [{ name: 'stable', weight: 70 }, { name: 'canary', weight: 30 }], sticky: { cookie: 'uid' } },
              },
              { name: 'slow', match: { prefix: '/slow' }, cluster: 'a', timeout_ms: 200 },
              { name: 'retry', match: { prefix: '/retry' }, cluster: 'pair', retry: { attempts: 2, on: ['5xx'], per_try_timeout_ms: 1000 } },
            ],
          },
        },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    for (const upstream of Object.values(upstreams)) await upstream.stop();
  });

  /** Sends one request; returns the response and the name of the upstream that received it (or null). */
  async function routed(path: string, options: RequestOptions = {}) {
    const before = Object.fromEntries(Object.entries(upstreams).map(([name, u]) => [name, u.requests.length]));
    const response = await request(`${weft.url}${path}`, options);
    const hit = Object.entries(upstreams).filter(([name, u]) => u.requests.length > before[name]!);
    assert.ok(hit.length <= 1, `${path} reached ${hit.map(([n]) => n).join(', ')}`);
    const echoed = hit.length === 1 ? hit[0]![1].requests.at(-1)! : null;
    return { response, upstream: hit.length === 1 ? hit[0]![0] : null, echoed };
  }

  it('matches an exact host, ignoring case and port, and nothing else', async () => {
    assert.equal((await routed('/anything', { headers: { host: 'api.example.com' } })).upstream, 'b');
    assert.equal((await routed('/anything', { headers: { host: 'API.Example.COM:8080' } })).upstream, 'b');
    assert.equal((await routed('/anything', { headers: { host: 'api.example.com.evil' } })).response.status, 404);
  });

  it('matches a *.suffix host on any subdomain but not on the bare domain', async () => {
    assert.equal((await routed('/x', { headers: { host: 'shop.example.org' } })).upstream, 'c');
    assert.equal((await routed('/x', { headers: { host: 'a.b.example.org:80' } })).upstream, 'c');
    const bare = await routed('/x', { headers: { host: 'example.org' } });
    assert.equal(bare.response.status, 404);
    assert.equal((await routed('/x', { headers: { host: 'badexample.org' } })).response.status, 404);
  });

  it('compares the whole authority when the host pattern names a port', async () => {
    assert.equal((await routed('/x', { headers: { host: 'internal:8443' } })).upstream, 'c');
    assert.equal((await routed('/x', { headers: { host: 'internal:9000' } })).response.status, 404);
  });

  it('matches methods', async () => {
    assert.equal((await routed('/items/1', { method: 'POST', body: 'x' })).upstream, 'b');
    assert.equal((await routed('/items/1', { method: 'PUT', body: 'x' })).upstream, 'b');
    assert.equal((await routed('/items/1')).upstream, 'c');
  });

  it('matches headers: exact, regex, present and absent', async () => {
    assert.equal((await routed('/h/1', { headers: { 'x-tier': 'gold' } })).upstream, 'b');
    assert.equal((await routed('/h/1', { headers: { 'x-tier': 'silver', 'x-version': 'v2.10' } })).upstream, 'c');
    assert.equal((await routed('/h/1', { headers: { 'x-version': 'v2.10-beta' } })).response.status, 404);
    assert.equal((await routed('/h/1', { headers: { 'x-debug': '' } })).upstream, 'a');
    assert.equal((await routed('/h/1', { headers: { 'x-debug': '1', 'x-skip': '1' } })).response.status, 404);
    assert.equal((await routed('/h/1')).response.status, 404);
  });

  it('rewrites a prefix and the host, keeping the rest of the path and the query', async () => {
    const { upstream, echoed } = await routed('/api/v1/users/7?expand=1', { headers: { host: 'proxy.local' } });
    assert.equal(upstream, 'a');
    assert.equal(echoed!.path, '/v2/users/7?expand=1');
    assert.equal(echoed!.headers.host, 'backend.internal');
  });

  it('matches an exact path without its query, and rewrites it whole', async () => {
    const exact = await routed('/exact?q=1');
    assert.equal(exact.upstream, 'c');
    assert.equal(exact.echoed!.path, '/renamed?q=1');
    assert.equal((await routed('/exact/more')).response.status, 404);
    assert.equal((await routed('/exac')).response.status, 404);
  });

  it('matches a path regex', async () => {
    assert.equal((await routed('/users/42')).upstream, 'b');
    assert.equal((await routed('/users/42/orders')).upstream, 'b');
    assert.equal((await routed('/users/42/settings')).response.status, 404);
  });

  it('answers direct responses itself, with their headers', async () => {
    const health = await routed('/healthz');
    assert.equal(health.upstream, null);
    assert.equal(health.response.status, 200);
    assert.equal(health.response.body, 'ok\n');
    assert.equal(header(health.response, 'content-type'), 'text/plain');
    const moved = await routed('/old/page');
    assert.equal(moved.response.status, 301);
    assert.equal(header(moved.response, 'location'), '/new/');
  });

  it('answers 404 "no route for <method> <path>" with flag NR when nothing matches', async () => {
    const { response, upstream } = await routed('/nowhere?secret=1', { method: 'DELETE' });
    assert.equal(upstream, null);
    assert.equal(response.status, 404);
    assert.equal(response.body, 'no route for DELETE /nowhere\n');
    await weft.waitForOutput((text) => text.includes('"path":"/nowhere?secret=1"'), 'the access-log line of /nowhere');
    const line = weft.accessLog().find((entry) => entry.path === '/nowhere?secret=1');
    assert.equal(line?.status, 404);
    assert.equal(line?.flags, 'NR');
  });

  it('runs its regex engine right on every case', async () => {
    const wrong: string[] = [];
    for (const [index, [pattern, matching, notMatching]] of REGEX_CASES.entries()) {
      for (const [path, expected] of [...matching.map((p) => [p, true] as const), ...notMatching.map((p) => [p, false] as const)]) {
        const response = await request(`${weft.url}${path}`, { headers: { 'x-re': String(index) } });
        const matched = response.status === 200 && response.body === `re-${index}`;
        if (matched !== expected) wrong.push(`${pattern} on ${path.slice(0, 40)}: ${matched ? 'matched' : 'did not match'} (${response.status})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('splits 95/5 between weighted clusters within ±1 point over 10,000 requests', async (t) => {
    const stable = upstreams.stable!.requests.length;
    const canary = upstreams.canary!.requests.length;
    const statuses = await sendMany(weft.url, 10_000, (i) => `/canary/${i}`);
    assert.deepEqual([...statuses], [[200, 10_000]]);
    const toStable = upstreams.stable!.requests.length - stable;
    const toCanary = upstreams.canary!.requests.length - canary;
    assert.equal(toStable + toCanary, 10_000);
    const canaryShare = (100 * toCanary) / 10_000;
    t.diagnostic(`95/5 split over 10,000 requests: ${toStable} stable, ${toCanary} canary (${canaryShare}%)`);
    assert.ok(Math.abs(canaryShare - 5) <= 1, `canary got ${canaryShare}% of requests, expected 5 ± 1`);
  });

  for (const [kind, route, keyed] of [
    ['header', 'sticky-h', (user: string) => ({ 'x-user': user })],
    ['cookie', 'sticky-c', (user: string) => ({ cookie: `theme=dark; uid=${user}; x=1` })],
  ] as const) {
    it(`keeps each user on one side of a sticky split by ${kind}, in the configured proportion`, async (t) => {
      const users = 1500;
      const from = { stable: upstreams.stable!.requests.length, canary: upstreams.canary!.requests.length };
      // Each user three times, interleaved with everyone else's requests.
      await sendMany(weft.url, users * 3, (i) => `/${route}/${i % users}/${Math.floor(i / users)}`, (i) => keyed(`user-${i % users}`));
      const side = new Map<string, Set<string>>();
      for (const name of ['stable', 'canary'] as const) {
        for (const echoed of upstreams[name]!.since(from[name])) {
          const user = echoed.path.split('/')[2]!;
          side.set(user, (side.get(user) ?? new Set()).add(name));
        }
      }
      assert.equal(side.size, users);
      const split = [...side.values()].filter((sides) => sides.size > 1).length;
      assert.equal(split, 0, `${split} users were sent to both sides`);
      const onCanary = [...side.values()].filter((sides) => sides.has('canary')).length;
      const share = (100 * onCanary) / users;
      t.diagnostic(`sticky by ${kind}: ${users} users x 3 requests, ${share.toFixed(1)}% of users on canary (70/30 configured), none split`);
      assert.ok(Math.abs(share - 30) <= 5, `${share}% of users on canary, expected 30 ± 5`);
    });
  }

  it('falls back to a random side when the sticky key is missing', async () => {
    const canary = upstreams.canary!.requests.length;
    await sendMany(weft.url, 400, (i) => `/sticky-h/anonymous/${i}`);
    const share = (100 * (upstreams.canary!.requests.length - canary)) / 400;
    assert.ok(share > 15 && share < 45, `${share}% of keyless requests on canary, expected about 30`);
  });

  it('has the host apply the route timeout (504 after timeout_ms)', async () => {
    const started = Date.now();
    const { response } = await routed('/slow', { headers: { 'x-upstream-delay-ms': '2000' } });
    assert.equal(response.status, 504);
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  });

  it('has the host apply the retry policy (two retries on 5xx, flag URX)', async () => {
    const before = upstreams.a!.requests.length + upstreams.b!.requests.length;
    const response = await request(`${weft.url}/retry/always-503`, { headers: { 'x-upstream-status': '503' } });
    assert.equal(response.status, 503);
    assert.equal(upstreams.a!.requests.length + upstreams.b!.requests.length - before, 3);
    await weft.waitForOutput((text) => text.includes('"path":"/retry/always-503"'), 'the access-log line of the retried request');
    assert.equal(weft.accessLog().find((entry) => entry.path === '/retry/always-503')?.flags, 'URX');
  });
});

describe('router configuration mistakes', () => {
  let upstream: EchoUpstream;

  before(async () => {
    upstream = await EchoUpstream.start();
  });
  after(async () => {
    await upstream?.stop();
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['a regex that does not compile', { routes: [{ match: { regex: '^/(a|b' }, cluster: 'web' }] }, /routes\[0\]\.match\.regex: '\^\/\(a\|b': missing '\)' at offset 6/],
    ['a misspelt field', { routes: [{ match: { prefx: '/x' }, cluster: 'web' }] }, /routes\[0\]\.match: unknown field "prefx"/],
    ['two actions', { routes: [{ match: {}, cluster: 'web', direct_response: { status: 200 } }] }, /give exactly one of cluster, weighted_clusters and direct_response/],
    ['an unknown retry condition', { routes: [{ match: {}, cluster: 'web', retry: { on: '5xx,teapot' } }] }, /unknown retry condition 'teapot'/],
    ['an unknown cluster', { routes: [{ match: {}, cluster: 'nope' }] }, /routes\[0\]\.cluster: unknown cluster "nope" \(clusters: web\)/],
  ];
  for (const [what, config, message] of cases) {
    it(`refuses to start on ${what}, saying where`, async () => {
      const { code, stdout, stderr } = await runWeftExpectingExit({
        clusters: [{ name: 'web', endpoints: [upstream.address] }],
        filters: [{ name: 'router', module: routerModule, config }],
      });
      assert.equal(code, 1);
      assert.match(`${stdout}${stderr}`, message);
    });
  }
});
