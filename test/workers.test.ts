// Worker threads (`workers: 2`) in a real `weft run` with a real upstream and the repo's wasm:
// requests land on every worker (the access log says which served), one scrape of /metrics and
// /stats covers them all, shared data is one store across them (a compare-and-swap race loses
// no update), the ratelimit filter holds its rate across them, a chain change answers once
// every worker serves it and fails no request under load, SIGTERM drains every worker, and a
// worker that crashes is replaced while the other serves on.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import { AdminClient } from './helpers/admin.js';
import { eventually } from './helpers/eventually.js';
import { header, request } from './helpers/http.js';
import { sendMany } from './helpers/load.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { withCustomSection } from './helpers/wasm.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const TOKEN = 'workers-test-token';
const WORKERS = 2;
/** The ratelimit rule on /limited/: one bucket for every request, 100 a second. */
const RATE = 100;
/**
 * Its burst: 0.2 s of tokens. A bucket holds at most its burst, so with a burst of 1 every pause
 * of more than 10 ms between two requests reaching it (a GC, a busy machine) would lose tokens.
 */
const BURST = 20;

const specWith = (tag: { version: number; config: string }) => ({
  filters: [
    { name: 'tag', version: tag.version, config: { version: tag.config } },
    { name: 'cas-counter', version: 1 },
    { name: 'ratelimit', version: 1, config: { rules: [{ name: 'all', key: 'global', rate: RATE, per: 'second', burst: BURST, match: { path_prefix: '/limited/' } }] } },
  ],
});

/** Which workers served the access log lines whose path starts with `prefix`. */
function workersServing(weft: WeftProcess, prefix: string): Set<number> {
  return new Set(
    weft
      .logLines()
      .filter((line) => line.msg === 'access' && String(line.path).startsWith(prefix))
      .map((line) => line.worker as number),
  );
}

/** Waits until the access log shows exactly `workers` serving `prefix` (each worker writes its lines a moment after answering). */
async function assertServedBy(weft: WeftProcess, prefix: string, workers: number[], what = `${prefix} served by workers ${workers.join(', ')}`): Promise<void> {
  const expected = [...workers].sort().join(',');
  await eventually(async () => [...workersServing(weft, prefix)].sort().join(','), (seen) => seen === expected, what);
}

describe('two worker threads', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let admin: AdminClient;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      workers: WORKERS,
      admin: { token: TOKEN },
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [
        { name: 'tag', module: fixtureModule('tag-version'), config: { version: 'v1' } },
        { name: 'cas-counter', module: fixtureModule('cas-counter') },
        { name: 'ratelimit', module: builtModule(join(repoRoot, 'filters', 'ratelimit')), config: specWith({ version: 1, config: 'v1' }).filters[2]!.config },
      ],
    });
    admin = new AdminClient(weft.adminUrl, TOKEN);
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  test('requests land on every worker; /server, /metrics and /stats count them all', async () => {
    assert.equal(weft.logLines().find((line) => line.msg === 'listening')?.workers, WORKERS);
    assert.equal((await admin.call('GET', '/server')).json.workers, WORKERS);
    const count = 40;
    // A fresh connection each: the kernel spreads connections over the workers' sockets.
    const responses = await Promise.all(Array.from({ length: count }, (_, i) => request(`${weft.url}/spread/${i}`)));
    assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([200]));
    await assertServedBy(weft, '/spread/', [1, 2]);
    assert.equal(await admin.metric('weft_requests_total{cluster="web",status="200"}'), count, 'one scrape sums every worker');
    await eventually(
      async () => (await admin.call('GET', '/stats')).json.clusters.find((cluster: { name: string }) => cluster.name === 'web').last_minute.requests,
      (requests) => requests === count,
      '/stats to count every worker\'s requests',
    );
  });

  test('a compare-and-swap race across workers loses no update', async (t) => {
    assert.equal((await request(`${weft.url}/inc`, { headers: { 'x-increments': '0' } })).status, 200);
    const racers = 16;
    const increments = 200;
    const replies = await Promise.all(Array.from({ length: racers }, () => request(`${weft.url}/inc`, { headers: { 'x-increments': String(increments) } })));
    for (const reply of replies) assert.equal(reply.status, 200, reply.body);
    await assertServedBy(weft, '/inc', [1, 2], 'both workers raced');
    const final = JSON.parse((await request(`${weft.url}/inc`, { headers: { 'x-increments': '0' } })).body) as { value: number };
    assert.equal(final.value, racers * increments);
    const mismatches = replies.reduce((sum, reply) => sum + (JSON.parse(reply.body) as { mismatches: number }).mismatches, 0);
    t.diagnostic(`${mismatches} writes with a stale cas were refused (CasMismatch) and retried`);
  });

  test(`the ratelimit filter lets ${RATE} requests a second through across both workers (± 5%)`, async (t) => {
    // 16 connections, opened at once: the kernel gives each to a worker by a hash of its ports,
    // and 8 all landed on one worker once in CI (a 1 in 128 chance); 16 make it 1 in 32,768.
    const pool = new Pool(weft.url, { connections: 16 });
    const statuses = new Map<number, number>();
    const started = performance.now();
    const until = started + 3000;
    await Promise.all(
      Array.from({ length: 16 }, async (_, connection) => {
        for (let i = 0; performance.now() < until; i++) {
          const { statusCode, body } = await pool.request({ method: 'GET', path: `/limited/${connection}/${i}` });
          await body.dump();
          statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await pool.close();
    const allowed = statuses.get(200) ?? 0;
    // The bucket starts full and refills RATE a second.
    const expected = BURST + RATE * seconds;
    t.diagnostic(`${allowed} of ${allowed + (statuses.get(429) ?? 0)} let through in ${seconds.toFixed(2)} s (expected ${expected.toFixed(0)})`);
    assert.deepEqual([...statuses.keys()].sort(), [200, 429]);
    assert.ok(Math.abs(allowed - expected) <= expected * 0.05, `${allowed} let through, expected ${expected.toFixed(0)} ± 5%`);
    await assertServedBy(weft, '/limited/', [1, 2]);
  });

  test('PUT /chain answers once every worker serves the new revision, and fails no request under load', async () => {
    const tag = await readFile(fixtureModule('tag-version'));
    assert.equal((await admin.upload('tag', withCustomSection(tag, 'build', 'v2'))).status, 201);
    const load = sendMany(weft.url, 3000, (i) => `/load/${i}`, () => ({}), 16);
    for (let swap = 0; swap < 10; swap++) {
      const next = swap % 2 === 0 ? { version: 2, config: 'v2' } : { version: 1, config: 'v1' };
      const reply = await admin.putChain(specWith(next));
      assert.equal(reply.status, 200, reply.text);
      // Right after the answer, a new connection to either worker meets the new revision.
      const tags = await Promise.all(Array.from({ length: 10 }, () => request(`${weft.url}/after/${swap}`).then((response) => header(response, 'x-filter-version'))));
      assert.deepEqual(new Set(tags), new Set([next.config]), `after swap ${swap}`);
    }
    const statuses = await load;
    assert.deepEqual([...statuses], [[200, 3000]]);
    await assertServedBy(weft, '/after/', [1, 2]);
    await assertServedBy(weft, '/load/', [1, 2]);
  });

  test('a chain that does not build is refused and changes no worker', async () => {
    const serving = await admin.chain();
    const reply = await admin.putChain({ filters: [{ name: 'tag', version: 1, config: { version: 'v3' } }, { name: 'ratelimit', version: 1, config: { rules: 'not a list' } }] });
    assert.equal(reply.status, 422, reply.text);
    assert.equal((await admin.chain()).revision, serving.revision);
    const tags = await Promise.all(Array.from({ length: 10 }, () => request(`${weft.url}/refused`).then((response) => header(response, 'x-filter-version'))));
    assert.deepEqual(new Set(tags), new Set(['v1']));
  });

  test('SIGTERM drains every worker: requests in flight on each finish, then the process exits 0', async () => {
    // 16 fresh connections, so that both workers hold some (8 all went to one worker once).
    const slow = Array.from({ length: 16 }, (_, i) => request(`${weft.url}/drain/${i}`, { headers: { 'x-upstream-delay-ms': '600' } }));
    await eventually(async () => upstream.requests.filter((seen) => seen.path.startsWith('/drain/')).length, (seen) => seen === 16, 'every slow request to reach the upstream');
    weft.signal('SIGTERM');
    const answers = await Promise.all(slow);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      Array(16).fill(200),
    );
    assert.equal(await weft.waitForExit(), 0);
    await assertServedBy(weft, '/drain/', [1, 2]);
  });
});

describe('the breaker across workers', () => {
  const FAILURES = 10;
  let good: EchoUpstream;
  let bad: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    good = await EchoUpstream.start();
    bad = await EchoUpstream.start();
    bad.status = 500;
    weft = await startWeft({
      workers: WORKERS,
      clusters: [{ name: 'web', endpoints: [good.address, bad.address] }],
      filters: [
        { name: 'router', module: builtModule(join(repoRoot, 'filters', 'router')), config: { routes: [{ match: { prefix: '/' }, cluster: 'web' }] } },
        // breaker and lb share their shared-data namespace (the lb reads the breaker's ejections).
        { name: 'breaker', vm_id: 'mesh', module: builtModule(join(repoRoot, 'filters', 'breaker')), config: { consecutive_5xx: FAILURES, base_ejection_time_ms: 60_000, max_ejection_percent: 50 } },
        { name: 'lb', vm_id: 'mesh', module: builtModule(join(repoRoot, 'filters', 'lb')), config: {} },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await good?.stop();
    await bad?.stop();
  });

  test(`${FAILURES} consecutive 5xx counted over both workers eject the endpoint for both`, async () => {
    // One at a time (so none is in flight to it when it is ejected), each on a fresh connection, which
    // the kernel gives to either worker: both send to the bad endpoint until it is ejected.
    for (let i = 0; i < 60; i++) await request(`${weft.url}/b/${i}`);
    // The ejection is written in on_log, which may run just after the client has its answer: a
    // request the other worker takes in that moment can still reach the endpoint, once.
    const reached = bad.requests.length;
    assert.ok(reached === FAILURES || reached === FAILURES + 1, `the bad endpoint got ${reached} requests, expected ${FAILURES} (+1)`);
    const failedOn = () => [...new Set(weft.accessLog().filter((line) => line.upstream === bad.address).map((line) => (line as unknown as { worker: number }).worker))].sort().join(',');
    await eventually(async () => failedOn(), (workers) => workers === '1,2', 'the failures to come from both workers');
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => request(`${weft.url}/after/${i}`)));
    assert.deepEqual(new Set(after.map((response) => response.status)), new Set([200]));
    await assertServedBy(weft, '/after/', [1, 2]);
    assert.equal(bad.requests.length, reached, 'no worker sends to it once ejected');
  });
});

describe('least-request counts across workers', () => {
  /** Each on a connection of its own, opened at once: 8 all landed on one worker once in CI (1 in 128); 16 make it 1 in 32,768. */
  const HELD = 16;
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      workers: WORKERS,
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      // lb-control answers x-endpoints-dump with the endpoints as lb reads them (in_flight included).
      filters: [{ name: 'lb-control', module: fixtureModule('lb-control') }],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  test('every worker reads the requests in flight to an endpoint from all workers', async () => {
    // Held 3 s by the upstream, each on a connection of its own, which the kernel gives to either worker.
    const held = Array.from({ length: HELD }, (_, i) => request(`${weft.url}/held/${i}`, { headers: { 'x-upstream-delay-ms': '3000' } }));
    await eventually(async () => upstream.requests.length, (count) => count === HELD, 'every held request at the upstream');
    // 16 fresh connections: the kernel spreads them by a hash of their ports, so all of them on
    // one worker would be a 1 in 32,768 chance (6 were seen to go to one worker).
    const seen: number[] = [];
    for (let i = 0; i < 16; i++) {
      const dump = await request(`${weft.url}/dump/${i}`, { headers: { 'x-endpoints-dump': 'web' } });
      assert.equal(dump.status, 200, dump.body);
      seen.push((JSON.parse(dump.body) as Array<{ in_flight: number }>)[0]!.in_flight);
    }
    await assertServedBy(weft, '/dump/', [1, 2], 'dumps read by both workers');
    assert.deepEqual(seen, Array(16).fill(HELD), 'each worker counts the other worker\'s requests too');
    await Promise.all(held);
    await assertServedBy(weft, '/held/', [1, 2], 'held requests sent by both workers');
    const after = await request(`${weft.url}/dump/after`, { headers: { 'x-endpoints-dump': 'web' } });
    assert.equal((JSON.parse(after.body) as Array<{ in_flight: number }>)[0]!.in_flight, 0);
  });
});

describe('workers on the node:http engine', () => {
  // server.listen({reusePort}) arrived in Node 22.12 (23.1 on the 23 line).
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const reusesPorts = major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);

  test(reusesPorts ? 'share the port with reusePort: requests land on every worker' : 'fall back to one thread, saying why, where Node cannot share a port', async () => {
    const upstream = await EchoUpstream.start();
    const filters = [{ name: 'props', module: fixtureModule('set-props') }];
    const weft = await startWeft({ workers: WORKERS, listenEngine: 'node', clusters: [{ name: 'web', endpoints: [upstream.address] }], filters });
    try {
      // Each request on its own connection: connection.id names one connection in the whole process.
      const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => request(`${weft.url}/node/${i}`, { headers: { 'x-get-prop': 'connection.id' } })));
      assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([200]));
      const ids = responses.map((response) => header(response, 'x-prop-connection.id'));
      assert.equal(new Set(ids).size, ids.length, `connection ids ${ids.join(' ')}`);
      if (reusesPorts) {
        assert.equal(weft.workers, WORKERS);
        await assertServedBy(weft, '/node/', [1, 2]);
      } else {
        assert.equal(weft.workers, 1);
        const reason = weft.logLines().find((line) => line.level === 40 && String(line.msg).includes('cannot share a port'));
        assert.match(String(reason?.msg), new RegExp(`workers: ${WORKERS} asks for ${WORKERS} threads, but node:http on Node ${process.versions.node} cannot share a port between threads`));
      }
    } finally {
      await weft.stop();
      await upstream.stop();
    }
  });
});

describe('a shared queue across workers', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({ workers: WORKERS, clusters: [{ name: 'web', endpoints: [upstream.address] }], filters: [{ name: 'relay', module: fixtureModule('queue-relay') }] });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  test('items enqueued in every worker reach the worker that registered the queue (on_queue_ready)', async () => {
    const items = 20;
    const replies = await Promise.all(Array.from({ length: items }, (_, i) => request(`${weft.url}/enqueue/${i}`, { headers: { 'x-enqueue': `item-${i}` } })));
    for (const reply of replies) assert.deepEqual(JSON.parse(reply.body), { status: 0 }, 'enqueued');
    await assertServedBy(weft, '/enqueue/', [1, 2], 'both workers enqueued');
    await eventually(async () => JSON.parse((await request(`${weft.url}/received`, { headers: { 'x-received': '1' } })).body).received, (received) => received === items, 'every item to be received');
    // The count is shared data, seen at once; a worker's log lines reach the process's stdout later.
    const relayed = () => weft.logLines().filter((line) => typeof line.msg === 'string' && line.msg.startsWith('relay: got '));
    await eventually(async () => relayed().length, (count) => count >= items, 'every item logged by the owner');
    const got = relayed();
    assert.deepEqual(new Set(got.map((line) => line.msg)), new Set(Array.from({ length: items }, (_, i) => `relay: got item-${i}`)));
    assert.equal(new Set(got.map((line) => line.worker)).size, 1, 'one worker, the owner, received them all');
  });
});

describe('a worker that crashes', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let dir: string;

  before(async () => {
    upstream = await EchoUpstream.start();
    dir = await mkdtemp(join(tmpdir(), 'weft-crash-'));
    weft = await startWeft({ workers: WORKERS, clusters: [{ name: 'web', endpoints: [upstream.address] }] }, 15_000, {
      nodeArgs: ['--import', pathToFileURL(join(repoRoot, 'dist', 'test', 'helpers', 'crash-worker.js')).href],
      env: { WEFT_TEST_CRASH_FILE: join(dir, 'crash') },
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('is replaced and logged; only its own requests in flight fail', async () => {
    const slow = Array.from({ length: 8 }, (_, i) =>
      request(`${weft.url}/slow/${i}`, { headers: { 'x-upstream-delay-ms': '800' } }).then(
        (response) => response.status,
        () => 'failed',
      ),
    );
    await eventually(async () => upstream.requests.filter((seen) => seen.path.startsWith('/slow/')).length, (seen) => seen === 8, 'every slow request to reach the upstream');
    await writeFile(join(dir, 'crash'), '');
    await weft.waitForOutput((text) => text.includes('replacement worker serving'), 'the replacement worker');
    const outcomes = await Promise.all(slow);
    const crashed = weft.logLines().find((line) => line.msg === 'worker exited; starting a replacement (its requests in flight failed)');
    assert.equal(crashed?.worker, 1);
    // Worker 2's requests were answered; worker 1's failed with its connections.
    assert.ok(outcomes.includes('failed'), `outcomes: ${outcomes.join(', ')}`);
    const answered = outcomes.filter((outcome) => outcome === 200).length;
    await eventually(async () => weft.accessLog().filter((line) => line.path.startsWith('/slow/')).length, (logged) => logged === answered, 'an access log line for each answered request');
    await assertServedBy(weft, '/slow/', [2]);
    assert.ok(!weft.hasExited);
    // The replacement serves as worker 1.
    const after = await Promise.all(Array.from({ length: 30 }, (_, i) => request(`${weft.url}/after/${i}`)));
    assert.deepEqual(new Set(after.map((response) => response.status)), new Set([200]));
    await assertServedBy(weft, '/after/', [1, 2]);
  });

  test('a second SIGTERM while draining exits 1 at once, the workers\' connections closed first', async () => {
    const slow = request(`${weft.url}/halt`, { headers: { 'x-upstream-delay-ms': '3000' } }).then(
      (response) => response.status,
      () => 'failed',
    );
    await eventually(async () => upstream.requests.some((seen) => seen.path === '/halt'), Boolean, 'the slow request to reach the upstream');
    weft.signal('SIGTERM');
    await weft.waitForOutput((text) => text.includes('"msg":"draining"'), 'draining');
    weft.signal('SIGTERM');
    // 1, not 134: a worker thread that ended with its uWS sockets open would abort the process.
    assert.equal(await weft.waitForExit(), 1);
    assert.equal(await slow, 'failed');
  });
});
