// Every host-function family, called from a real filter (test/filters/kitchen-sink) inside
// a real `weft run`. Each case's filter answers with JSON of the statuses and values the
// host returned; test/filters/README.md lists the contract.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { effectiveEngine } from './helpers/engine.js';
import { eventually } from './helpers/eventually.js';
import { header, request, type HttpResponse, type RequestOptions } from './helpers/http.js';
import { freePort } from './helpers/ports.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

// WasmResult values.
const OK = 0;
const NOT_FOUND = 1;
const BAD_ARGUMENT = 2;
const INVALID_MEMORY_ACCESS = 6;
const EMPTY = 7;
const CAS_MISMATCH = 8;
const BROKEN_CONNECTION = 11;

type Json = Record<string, any>;

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

describe('kitchen-sink: every host function from a real filter', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  async function run(testCase: string, options: RequestOptions & { path?: string } = {}): Promise<HttpResponse> {
    const { path = `/ks/${testCase}`, ...rest } = options;
    return request(`${weft.url}${path}`, { ...rest, headers: { 'x-case': testCase, ...rest.headers } });
  }

  /** Runs a case answered by the filter itself and returns its JSON. */
  async function runJson(testCase: string, options: RequestOptions & { path?: string } = {}): Promise<Json> {
    const response = await run(testCase, options);
    assert.equal(response.status, 200, `${testCase}: ${response.body}`);
    assert.equal(header(response, 'content-type'), 'application/json');
    return JSON.parse(response.body) as Json;
  }

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      // One thread: on_tick runs in each worker's root context, and the tick test stops one VM's ticks.
      workers: 1,
      log_level: 'trace',
      clusters: [
        { name: 'web', endpoints: [upstream.address] },
        { name: 'dead', endpoints: [`127.0.0.1:${await freePort()}`], connect_timeout_ms: 1000 }, // nothing listens there
      ],
      default_cluster: 'web',
      filters: [{ name: 'ks', module: fixtureModule('kitchen-sink'), root_id: 'kitchen-sink', config: {} }],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('headers: get, add, replace, remove, pairs and size on the request headers', async () => {
    const result = await runJson('headers', { path: '/ks/headers?x=1', headers: { 'x-one': '1' } });
    assert.deepEqual(result.get, {
      ':method': { status: OK, value: 'GET' },
      ':path': { status: OK, value: '/ks/headers?x=1' },
      ':authority': { status: OK, value: `127.0.0.1:${weft.port}` },
      ':scheme': { status: OK, value: 'http' },
      'x-one': { status: OK, value: '1' },
    });
    assert.deepEqual(result.get_missing, { status: NOT_FOUND });
    assert.equal(result.add, OK);
    assert.deepEqual(result.after_add, { status: OK, value: 'v1' });
    assert.equal(result.replace, OK);
    assert.deepEqual(result.after_replace, { status: OK, value: 'one' });
    assert.equal(result.remove, OK);
    assert.deepEqual(result.after_remove, { status: NOT_FOUND });
    assert.equal(result.remove_missing, OK);
    assert.equal(result.pairs_status, OK);
    const pairs = result.pairs as Array<[string, string]>;
    for (const expected of [[':method', 'GET'], [':path', '/ks/headers?x=1'], ['x-case', 'headers'], ['x-added', 'v1']]) {
      assert.ok(pairs.some(([k, v]) => k === expected[0] && v === expected[1]), `pairs lack ${expected.join(': ')}: ${JSON.stringify(pairs)}`);
    }
    assert.ok(!pairs.some(([k]) => k === 'x-one'), 'x-one was removed');
    assert.equal(result.size.status, OK);
    assert.equal(result.size_matches_pairs, true, `size ${result.size.value} is not the pairs encoding of ${JSON.stringify(pairs)}`);
    assert.equal(result.set_pairs, OK);
    assert.deepEqual(result.after_set_pairs, { status: OK, value: 'yes' });
    assert.deepEqual(result.method_after_set_pairs, { status: OK, value: 'GET' });
  });

  it('props: request, connection and plugin properties; set_property; unknown => NotFound', async () => {
    const result = await runJson('props', { path: '/ks/props?q=1' });
    const value = (key: string) => {
      assert.equal(result[key]?.status, OK, `${key}: ${JSON.stringify(result[key])}`);
      return result[key].value;
    };
    assert.equal(value('request.path'), '/ks/props?q=1');
    assert.equal(value('request.method'), 'GET');
    assert.equal(value('request.host'), `127.0.0.1:${weft.port}`);
    assert.equal(value('request.scheme'), 'http');
    assert.equal(value('request.protocol'), 'HTTP/1.1');
    assert.match(value('request.id'), /^\S+$/);
    assert.equal(value('request.headers.x-case'), 'props');
    if (effectiveEngine() === 'uws') {
      // uWebSockets.js tells the peer's IP but not its port: source.address is the IP alone and
      // source.port is NotFound (README, "Properties").
      assert.equal(value('source.address'), '127.0.0.1');
      assert.equal(result['source.port']?.status, 1, `source.port: ${JSON.stringify(result['source.port'])}`);
    } else {
      // node:http tells both, as Envoy does: source.address is ip:port and source.port that port.
      const address = value('source.address') as string;
      assert.match(address, /^127\.0\.0\.1:\d+$/);
      assert.equal(value('source.port'), Number(address.slice(address.lastIndexOf(':') + 1)));
    }
    assert.equal(value('destination.address'), `127.0.0.1:${weft.port}`);
    assert.equal(value('destination.port'), weft.port);
    assert.equal(value('plugin_name'), 'ks');
    assert.equal(value('plugin_root_id'), 'kitchen-sink');
    const requestTimeMs = value('request.time') / 1e6;
    assert.ok(Math.abs(requestTimeMs - Date.now()) < 60_000, `request.time ${requestTimeMs} is not about now`);
    assert.equal(result.set_custom, OK);
    assert.deepEqual(result.get_custom, { status: OK, value: 'hello' });
    assert.equal(result.unknown, NOT_FOUND);
  });

  it('time: the wall clock in nanoseconds, and the log level', async () => {
    const result = await runJson('time');
    assert.equal(result.time.status, OK);
    const ms = result.time.value / 1e6;
    assert.ok(Math.abs(ms - Date.now()) < 10_000, `time ${ms} ms is not about now (${Date.now()})`);
    assert.deepEqual(result.log_level, { status: OK, value: 0 }, 'log_level: trace in the manifest is proxy-wasm level 0');
  });

  it('log: every level reaches the proxy log; level 6 => BadArgument', async () => {
    const result = await runJson('log');
    assert.deepEqual(result.levels, [OK, OK, OK, OK, OK, OK]);
    assert.equal(result.bad_level, BAD_ARGUMENT);
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'critical']) {
      await weft.waitForOutput((text) => text.includes(`kitchen-sink log ${level}`), `the ${level} line`);
    }
    assert.ok(!weft.text.includes('kitchen-sink log bad level'));
  });

  it('shared: set, get with cas, set with the cas, set with a stale cas => CasMismatch', async () => {
    const result = await runJson('shared');
    assert.equal(result.set, OK);
    assert.equal(result.get1.status, OK);
    assert.equal(result.get1.value, 'v1');
    assert.ok(result.get1.cas > 0, 'a stored value has a non-zero cas');
    assert.equal(result.set_with_cas, OK);
    assert.equal(result.get2.status, OK);
    assert.equal(result.get2.value, 'v2');
    assert.equal(result.cas_changed, true);
    assert.equal(result.set_stale_cas, CAS_MISMATCH);
    assert.deepEqual(result.get3, result.get2, 'a refused write changes nothing');
    assert.equal(result.get_missing, NOT_FOUND);
  });

  it('queue: register, resolve, enqueue, dequeue in order, empty => Empty, unknown => NotFound; on_queue_ready fires', async () => {
    const result = await runJson('queue');
    assert.equal(result.register.status, OK);
    const id = result.register.value;
    assert.deepEqual(result.resolve, { status: OK, value: id });
    assert.equal(result.resolve_missing, NOT_FOUND);
    assert.equal(result.enqueue1, OK);
    assert.equal(result.enqueue2, OK);
    assert.deepEqual(result.dequeue1, { status: OK, value: 'm1' });
    assert.deepEqual(result.dequeue2, { status: OK, value: 'm2' });
    assert.equal(result.dequeue_empty, EMPTY);
    assert.equal(result.enqueue_unknown, NOT_FOUND);
    assert.equal(result.dequeue_unknown, NOT_FOUND);

    const deadline = Date.now() + 3000;
    let ready = await runJson('queue-ready');
    while (ready.ready_count < 1 && Date.now() < deadline) {
      await sleep(50);
      ready = await runJson('queue-ready');
    }
    assert.ok(ready.ready_count >= 1, 'proxy_on_queue_ready was called');
    assert.equal(ready.last_queue_id, id);
  });

  it('metric: define counter, gauge and histogram; increment, record, get', async () => {
    const result = await runJson('metric');
    for (const key of ['define_counter', 'define_gauge', 'define_histogram']) assert.equal(result[key].status, OK, key);
    const ids = new Set([result.define_counter.value, result.define_gauge.value, result.define_histogram.value]);
    assert.equal(ids.size, 3, 'three metrics, three ids');
    assert.equal(result.counter_before.status, OK);
    assert.equal(result.counter_increment, OK);
    assert.deepEqual(result.counter_after, { status: OK, value: result.counter_before.value + 5 });
    assert.equal(result.counter_increment_negative, BAD_ARGUMENT);
    assert.equal(result.gauge_record, OK);
    assert.deepEqual(result.gauge_after_record, { status: OK, value: 42 });
    assert.equal(result.gauge_increment, OK);
    assert.deepEqual(result.gauge_after_increment, { status: OK, value: 40 });
    assert.equal(result.histogram_record, OK);
    assert.equal(result.histogram_get, BAD_ARGUMENT);
  });

  it('body: buffers the request body to the end and sends the upstream its uppercase', async () => {
    const seen = upstream.requests.length;
    const response = await run('body', { method: 'POST', body: 'hello body', headers: { 'content-type': 'text/plain' } });
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.body, 'HELLO BODY');
    const received = upstream.since(seen);
    assert.equal(received.length, 1);
    assert.equal(received[0]!.body, 'HELLO BODY');
  });

  it('resp-headers: adds and replaces response headers; :status and response.code read 200', async () => {
    const response = await run('resp-headers');
    assert.equal(response.status, 200);
    assert.equal(header(response, 'x-ks-added'), 'yes');
    assert.equal(header(response, 'content-type'), 'text/x-kitchen-sink');
    assert.equal(header(response, 'x-ks-status'), '200');
    assert.equal(header(response, 'x-ks-response-code'), '200');
    assert.equal(JSON.parse(response.body).path, '/ks/resp-headers');
  });

  it('resp-body: buffers the response body and rewrites it', async () => {
    const response = await run('resp-body');
    assert.equal(response.status, 200);
    assert.equal(response.body, response.body.toUpperCase());
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.METHOD, 'GET');
    assert.equal(echoed.PATH, '/KS/RESP-BODY');
  });

  it('local: send_local_response 418 with a header and a body; the upstream is not reached; details reach the access log', async () => {
    const seen = upstream.requests.length;
    const response = await run('local', { path: '/ks/local-details' });
    assert.equal(response.status, 418);
    assert.equal(header(response, 'x-local'), 'yes');
    assert.equal(response.body, 'teapot');
    assert.equal(upstream.requests.length, seen);
    // Envoy logs send_local_response's details as the response code details.
    const accessLine = (path: string) => eventually(async () => weft.accessLog().find((line) => line.path === path), (line) => line !== undefined, `the access line of ${path}`);
    assert.equal((await accessLine('/ks/local-details'))!.details, 'kitchen_sink_teapot');
    await run('resp-headers', { path: '/ks/via-upstream' });
    assert.equal((await accessLine('/ks/via-upstream'))!.details, 'via_upstream');
  });

  it('end-stream: ContinueAndEndStream on the request headers sends the request upstream without its body (Envoy: header only)', async () => {
    const seen = upstream.requests.length;
    const response = await run('end-stream', { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.body, '');
    assert.equal(echoed.headers['content-length'], '0');
    assert.equal(upstream.requests.length, seen + 1);
  });

  it('resp-end-stream: ContinueAndEndStream on the response headers answers with the headers only', async () => {
    const response = await run('resp-end-stream');
    assert.equal(response.status, 200);
    assert.equal(response.body, '');
    // uWS frames the empty body with content-length: 0; node's ServerResponse sends none for it.
    if (effectiveEngine() === 'uws') assert.equal(header(response, 'content-length'), '0');
  });

  it('status: a failed http_call reaches the callback; get_status says why; bad calls => BadArgument', async () => {
    const result = await runJson('status', { headers: { 'x-cluster': 'dead' } });
    assert.equal(result.call, OK);
    assert.equal(result.failed, true);
    assert.equal(result.header_count, 0);
    assert.equal(result.get_status.status, OK);
    assert.equal(result.get_status.code, BROKEN_CONNECTION);
    assert.ok(result.get_status.message.length > 0, 'get_status has a message');
    assert.equal(result.call_unknown_cluster, BAD_ARGUMENT);
    assert.equal(result.call_missing_pseudo_headers, BAD_ARGUMENT);
  });

  it('foreign: an unknown foreign function => NotFound', async () => {
    assert.deepEqual(await runJson('foreign'), { unknown_function: NOT_FOUND });
  });

  it('tick: on_tick runs on the set period until it is set to 0', async () => {
    assert.deepEqual(await runJson('tick'), { set_tick_period: OK });
    await sleep(400);
    const first = (await runJson('tick-count')).ticks as number;
    assert.ok(first >= 2, `only ${first} ticks in 400 ms at a 50 ms period`);
    await sleep(200);
    const second = (await runJson('tick-count')).ticks as number;
    assert.ok(second > first, 'ticks keep coming');
    assert.deepEqual(await runJson('tick-stop'), { set_tick_period: OK });
    const stopped = (await runJson('tick-count')).ticks as number;
    await sleep(200);
    const later = (await runJson('tick-count')).ticks as number;
    assert.ok(later - stopped <= 1, `ticks went on after the period was set to 0 (${stopped} -> ${later})`);
  });

  it('bad-pointers: out-of-range pointers and lengths get an error status, never a crash', async () => {
    const result = await runJson('bad-pointers');
    const calls = Object.keys(result);
    assert.ok(calls.length >= 20, `expected every call reported: ${JSON.stringify(result)}`);
    for (const call of calls) {
      // In on_request_headers there is no request body yet, so set_buffer_bytes on it may
      // answer NotFound before it looks at the pointer.
      const allowed = call === 'set_buffer_data' ? [INVALID_MEMORY_ACCESS, BAD_ARGUMENT, NOT_FOUND] : [INVALID_MEMORY_ACCESS, BAD_ARGUMENT];
      assert.ok(allowed.includes(result[call]), `${call} returned ${result[call]}, not one of ${allowed.join(', ')}`);
    }
    // The VM and the proxy carry on.
    assert.deepEqual(await runJson('foreign'), { unknown_function: NOT_FOUND });
  });

  it('an unknown case is a 400 from the filter', async () => {
    const response = await run('no-such-case');
    assert.equal(response.status, 400);
    assert.equal(response.body, "unknown x-case 'no-such-case'\n");
  });
});
