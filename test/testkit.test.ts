// The test kit (host/testkit, exported as weft/testkit) on a real filter: the kitchen-sink fixture
// compiled from the repo's AssemblyScript, run in-process by the kit. Every surface the kit
// offers a filter author is checked here: config and properties in, each phase both ways,
// headers/bodies/trailers read back, local responses, logs, metrics, http_calls answered and
// failed, shared data, ticks, start failures with the filter's own complaints.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FilterStartError, loadFilter, type FilterUnderTest } from '../host/testkit/index.js';
import { fixtureModule } from './helpers/repo.js';

type Json = Record<string, any>;

describe('the test kit on the kitchen-sink filter', () => {
  let filter: FilterUnderTest;

  before(async () => {
    filter = await loadFilter(fixtureModule('kitchen-sink'), {
      name: 'ks',
      rootId: 'kitchen-sink',
      config: {},
      clusters: { dead: ['127.0.0.1:9'] },
    });
  });
  after(() => filter?.close());

  /** Runs one x-case through request headers and returns the JSON the filter answered with. */
  function json(testCase: string, options: Parameters<FilterUnderTest['stream']>[0] = {}): Json {
    const stream = filter.stream(options);
    assert.equal(stream.sendRequestHeaders({ ':method': 'GET', ':path': `/ks/${testCase}`, ':authority': 'ks.test', 'x-case': testCase }), 'pause');
    const response = stream.localResponse;
    assert.equal(response?.status, 200, `${testCase}: ${response?.body}`);
    assert.equal(response.header('content-type'), 'application/json');
    stream.complete();
    return JSON.parse(response.body) as Json;
  }

  it('loads from a path, names the plugin and root id, and reads headers the test sent', () => {
    const result = json('headers');
    assert.deepEqual(result.get[':path'], { status: 0, value: '/ks/headers' });
    assert.deepEqual(result.get_missing, { status: 1 });
    assert.equal(result.size_matches_pairs, true);
    const props = json('props', { remoteAddress: '10.1.2.3', properties: { 'x.given': 'yes' } });
    assert.deepEqual(props.plugin_name, { status: 0, value: 'ks' });
    assert.deepEqual(props.plugin_root_id, { status: 0, value: 'kitchen-sink' });
    assert.deepEqual(props['request.path'], { status: 0, value: '/ks/props' });
    assert.deepEqual(props['source.address'], { status: 0, value: '10.1.2.3' });
    assert.deepEqual(props.set_custom, 0);
    assert.deepEqual(props.get_custom, { status: 0, value: 'hello' });
  });

  it('reads back request headers as the filter left them, and a local response that ends the request', () => {
    const stream = filter.stream();
    assert.equal(stream.sendRequestHeaders({ ':path': '/', 'x-case': 'local' }), 'pause');
    assert.equal(stream.localResponse?.status, 418);
    assert.equal(stream.localResponse?.body, 'teapot');
    assert.equal(stream.localResponse?.header('x-local'), 'yes');
    assert.equal(stream.requestHeader('X-Case'), 'local');
    stream.complete();
  });

  it('buffers a request body while the filter pauses on it, then passes it on rewritten', () => {
    const stream = filter.stream();
    assert.equal(stream.sendRequestHeaders({ ':method': 'POST', ':path': '/', 'x-case': 'body' }, { endOfStream: false }), 'continue');
    assert.equal(stream.sendRequestBody('hello ', { endOfStream: false }), 'pause');
    assert.equal(stream.requestBody.toString(), 'hello ');
    assert.equal(stream.sendRequestBody('world'), 'continue');
    assert.equal(stream.requestBody.toString(), 'HELLO WORLD');
    assert.equal(stream.localResponse, undefined);
    stream.complete();
  });

  it('runs the response phases: headers and body rewritten, response.code from :status', () => {
    const headers = filter.stream();
    headers.sendRequestHeaders({ ':path': '/', 'x-case': 'resp-headers' });
    assert.equal(headers.sendResponseHeaders({ ':status': '201', 'content-type': 'text/plain' }), 'continue');
    assert.equal(headers.responseHeader('x-ks-added'), 'yes');
    assert.equal(headers.responseHeader('content-type'), 'text/x-kitchen-sink');
    assert.equal(headers.responseHeader('x-ks-status'), '201');
    assert.equal(headers.responseHeader('x-ks-response-code'), '201');
    const body = filter.stream();
    body.sendRequestHeaders({ ':path': '/', 'x-case': 'resp-body' });
    body.sendResponseHeaders({ ':status': '200' }, { endOfStream: false });
    assert.equal(body.sendResponseBody('abc', { endOfStream: false }), 'pause');
    assert.equal(body.sendResponseBody('def'), 'continue');
    assert.equal(body.responseBody.toString(), 'ABCDEF');
  });

  it('keeps a stream\'s context while thousands of later streams come and go (the SDK finds contexts in a ring by id)', () => {
    const long = filter.stream();
    long.sendRequestHeaders({ ':path': '/', 'x-case': 'resp-headers' });
    const open = [filter.stream(), filter.stream()];
    for (let i = 0; i < 2500; i++) {
      const next = filter.stream(); // takes the ring slot of a stream 1024 ids back, the long one's twice over
      next.sendRequestHeaders({ ':path': '/', 'x-case': 'none' });
      open.push(next);
      open.shift()!.complete();
    }
    assert.equal(long.sendResponseHeaders({ ':status': '202' }), 'continue');
    assert.equal(long.responseHeader('x-ks-status'), '202', 'the long stream still has its own context (its x-case)');
    for (const stream of open) {
      assert.equal(stream.sendResponseHeaders({ ':status': '200' }), 'continue');
      assert.equal(stream.responseHeader('x-ks-added'), undefined, 'a later stream has its own context, not the long one');
      stream.complete();
    }
    long.complete();
  });

  it('collects a filter\'s garbage often enough that copying 64 KiB bodies never reaches a small memory cap', async () => {
    // Each request copies its body in (64 KiB), decodes it (128 KiB), upper-cases it (128 KiB)
    // and writes it back. The SDK collects after 256 KiB copied from the host: every ~4 requests.
    // Counting callbacks alone (every 1,024) would keep ~170 requests' garbage, ~60 MiB.
    const capped = await loadFilter(fixtureModule('kitchen-sink'), { name: 'ks', rootId: 'kitchen-sink', config: {}, maxMemoryMb: 8 });
    try {
      const body = Buffer.alloc(64 * 1024, 'a');
      for (let i = 0; i < 200; i++) {
        const stream = capped.stream();
        stream.sendRequestHeaders({ ':method': 'POST', ':path': '/', 'x-case': 'body' }, { endOfStream: false });
        assert.equal(stream.sendRequestBody(body), 'continue', `request ${i}`);
        assert.equal(stream.requestBody.length, body.length);
        stream.complete();
      }
      assert.deepEqual(capped.traps, []);
    } finally {
      capped.close();
    }
  });

  it('sends trailers both ways', () => {
    const stream = filter.stream();
    stream.sendRequestHeaders({ ':path': '/', 'x-case': 'trailers' }, { endOfStream: false });
    assert.equal(stream.sendRequestTrailers({ 'x-t': 'checksum' }), 'continue');
    assert.deepEqual(stream.requestTrailers, [['x-t', 'checksum'], ['x-ks-seen', '1']]);
    stream.sendResponseHeaders({ ':status': '200' }, { endOfStream: false });
    assert.equal(stream.sendResponseTrailers([['grpc-status', '0']]), 'continue');
    assert.deepEqual(stream.responseTrailers, [['grpc-status', '0'], ['x-ks-request-trailer', 'checksum']]);
  });

  it('keeps the filter log by level', () => {
    json('log');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'critical'] as const) {
      assert.deepEqual(filter.messages(level).filter((m) => m.startsWith('kitchen-sink log')), [`kitchen-sink log ${level}`]);
    }
  });

  it('counts metrics by the name the filter gave them, with the proxy rules', () => {
    const result = json('metric');
    assert.equal(result.counter_increment_negative, 2); // BadArgument: a counter only goes up
    assert.equal(filter.metric('kitchen_sink_counter'), 5);
    assert.equal(filter.metric('kitchen_sink_gauge'), 40);
    assert.deepEqual(filter.histogram('kitchen_sink_histogram'), [7]);
    assert.equal(filter.metric('never_defined'), undefined);
    assert.deepEqual(filter.definedMetrics().map((m) => `${m.kind} ${m.name}`), ['counter kitchen_sink_counter', 'gauge kitchen_sink_gauge', 'histogram kitchen_sink_histogram']);
  });

  it('shows shared data the filter wrote, and lets the test write it', () => {
    const result = json('shared');
    assert.equal(result.set_stale_cas, 8);
    assert.equal(filter.getSharedData('kitchen-sink.shared')?.toString(), 'v2');
    filter.setSharedData('kitchen-sink.ticks', '41');
    assert.equal(json('tick-count').ticks, 41);
  });

  it('records the tick period and runs a tick when the test says so', () => {
    assert.equal(json('tick').set_tick_period, 0);
    assert.equal(filter.tickPeriodMs, 50);
    filter.tick();
    filter.tick();
    assert.equal(json('tick-count').ticks, 43);
    json('tick-stop');
    assert.equal(filter.tickPeriodMs, 0);
    assert.throws(() => filter.tick(), /set no tick period/);
  });

  it('holds http_calls until the test fails (or answers) them; unknown clusters are refused as the proxy does', () => {
    const stream = filter.stream();
    assert.equal(stream.sendRequestHeaders({ ':path': '/', 'x-case': 'status', 'x-cluster': 'dead' }), 'pause');
    const [call] = filter.pendingHttpCalls();
    assert.equal(call?.cluster, 'dead');
    assert.equal(call.header(':authority'), 'dead');
    assert.equal(call.timeoutMs, 2000);
    assert.equal(stream.localResponse, undefined, 'nothing happens before the test answers');
    call.fail();
    const result = JSON.parse(stream.localResponse!.body) as Json;
    assert.equal(result.failed, true);
    assert.equal(result.get_status.code, 11); // BrokenConnection, as the proxy reports a failed call
    assert.equal(result.call_unknown_cluster, 2);
    assert.equal(result.call_missing_pseudo_headers, 2);
    assert.throws(() => call.fail(), /answered already/);
    assert.equal(filter.pendingHttpCalls().length, 0);
  });

  it('reports a start failure with what the filter logged', async () => {
    await assert.rejects(loadFilter(fixtureModule('configure-false'), { config: 'reject' }), (error: unknown) => {
      assert.ok(error instanceof FilterStartError);
      assert.match(error.message, /proxy_on_configure returned false/);
      return true;
    });
  });

  it('loads from bytes and runs each test in well under a second', async () => {
    const started = performance.now();
    const another = await loadFilter(readFileSync(fixtureModule('kitchen-sink')), { config: {} });
    const stream = another.stream();
    stream.sendRequestHeaders({ ':path': '/', 'x-case': 'local' });
    assert.equal(stream.localResponse?.status, 418);
    another.close();
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `load + one request took ${elapsed.toFixed(0)} ms`);
  });
});

describe('the test kit on a filter that traps', () => {
  it('throws the trap from the send, with the critical line logged; restart() gives a fresh VM', async () => {
    const filter = await loadFilter(fixtureModule('trapper'));
    const first = filter.stream();
    assert.equal(first.sendRequestHeaders({ ':path': '/' }), 'continue');
    first.sendResponseHeaders({ ':status': '200' });
    assert.equal(first.responseHeader('x-trapper-vm'), '1');
    first.complete();
    assert.throws(() => filter.stream().sendRequestHeaders({ ':path': '/', 'x-trap-in': 'request_headers' }), (error: Error) => {
      assert.equal(error.name, 'FilterTrap');
      assert.match(error.message, /trapped in proxy_on_request_headers/);
      return true;
    });
    assert.equal(filter.broken, true);
    assert.match(filter.messages('critical').join('\n'), /trapper: trapping in request_headers/);
    await filter.restart();
    const fresh = filter.stream();
    fresh.sendRequestHeaders({ ':path': '/' });
    fresh.sendResponseHeaders({ ':status': '200' });
    assert.equal(fresh.responseHeader('x-trapper-vm'), '1', 'module globals start again in a fresh VM');
    filter.close();
  });
});

/** The context-probe fixture's counters under plugin name `probe`, and what changed since `before`. */
function probeCounts(filter: FilterUnderTest) {
  const read = (name: string) => filter.metric(`probe_${name}`)!;
  return { created: read('contexts_created'), declined: read('contexts_declined'), requestHeaders: read('request_headers'), logged: read('contexts_logged'), deleted: read('contexts_deleted') };
}
function probeCountsSince(filter: FilterUnderTest, before: ReturnType<typeof probeCounts>) {
  const now = probeCounts(filter);
  return Object.fromEntries(Object.entries(now).map(([key, value]) => [key, value - before[key as keyof typeof now]]));
}

describe('stream contexts created at their first callback (context-probe)', () => {
  let filter: FilterUnderTest;

  before(async () => {
    filter = await loadFilter(fixtureModule('context-probe'), { name: 'probe' });
  });
  after(() => filter?.close());

  it('creates a context once, at the first callback, and deletes it at the end', () => {
    const start = probeCounts(filter);
    const stream = filter.stream();
    assert.deepEqual(probeCountsSince(filter, start), { created: 0, declined: 0, requestHeaders: 0, logged: 0, deleted: 0 }, 'the host did not call proxy_on_context_create');
    stream.sendRequestHeaders({ ':path': '/' });
    stream.sendResponseHeaders({ ':status': '200' });
    assert.equal(stream.responseHeader('x-probe-context'), String(stream.id));
    stream.complete();
    assert.deepEqual(probeCountsSince(filter, start), { created: 1, declined: 0, requestHeaders: 1, logged: 1, deleted: 1 });
  });

  it('gives a stream whose only callback is the log a context there (a filter after a local response)', () => {
    const start = probeCounts(filter);
    filter.stream().complete();
    assert.deepEqual(probeCountsSince(filter, start), { created: 1, declined: 0, requestHeaders: 0, logged: 1, deleted: 1 });
  });

  it('asks createHttpContext once for a stream it declines, however many callbacks follow, and past the ring', () => {
    const start = probeCounts(filter);
    const declined = Array.from({ length: 3 }, () => filter.stream());
    for (const stream of declined) stream.sendRequestHeaders({ ':path': '/', 'x-decline': '1' });
    // 2,500 later streams take the declined streams' ring slots twice over.
    for (let i = 0; i < 2500; i++) {
      const next = filter.stream();
      next.sendRequestHeaders({ ':path': '/' });
      next.complete();
    }
    for (const stream of declined) {
      assert.equal(stream.sendResponseHeaders({ ':status': '200' }), 'continue');
      assert.equal(stream.responseHeader('x-probe-context'), undefined, 'a declined stream has no context');
      stream.complete();
    }
    assert.deepEqual(probeCountsSince(filter, start), { created: 2500, declined: 3, requestHeaders: 2500, logged: 2500, deleted: 2500 });
  });
});

describe('stream contexts the SDK deletes after the filter\'s last headers callback (context-probe)', () => {
  it('deletes a request-headers-only filter\'s context when its request headers answer Continue; no on_delete follows', async () => {
    const filter = await loadFilter(fixtureModule('context-probe'), { name: 'probe', config: 'request-headers' });
    try {
      assert.equal(filter.module.exports.delete, true);
      const start = probeCounts(filter);
      for (let i = 0; i < 3; i++) {
        const stream = filter.stream();
        assert.equal(stream.sendRequestHeaders({ ':path': '/' }), 'continue');
        assert.equal(stream.hasContextIn(stream['vm']), false, 'the context is gone once the callback returned');
        stream.complete();
      }
      assert.deepEqual(probeCountsSince(filter, start), { created: 3, declined: 0, requestHeaders: 3, logged: 0, deleted: 3 });
      // A filter that held the request (its answer was not Continue) keeps its context until the end.
      const held = filter.stream();
      assert.equal(held.sendRequestHeaders({ ':path': '/', 'x-pause': '1' }), 'pause');
      assert.equal(probeCountsSince(filter, start).deleted, 3);
      held.complete();
      assert.deepEqual(probeCountsSince(filter, start), { created: 4, declined: 0, requestHeaders: 4, logged: 0, deleted: 4 });
    } finally {
      filter.close();
    }
  });

  it('deletes a headers-only filter\'s context after its response headers, not after its request headers', async () => {
    const filter = await loadFilter(fixtureModule('context-probe'), { name: 'probe', config: 'headers' });
    try {
      const start = probeCounts(filter);
      const stream = filter.stream();
      stream.sendRequestHeaders({ ':path': '/' });
      assert.equal(probeCountsSince(filter, start).deleted, 0);
      assert.equal(stream.sendResponseHeaders({ ':status': '200' }), 'continue');
      assert.equal(stream.responseHeader('x-probe-context'), String(stream.id));
      assert.equal(probeCountsSince(filter, start).deleted, 1);
      stream.complete();
      assert.deepEqual(probeCountsSince(filter, start), { created: 1, declined: 0, requestHeaders: 1, logged: 0, deleted: 1 });
    } finally {
      filter.close();
    }
  });
});
