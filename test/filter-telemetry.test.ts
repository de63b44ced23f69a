// The telemetry filter (filters/telemetry) behind a real `weft run` with a real upstream:
// W3C traceparent continued (same trace id and sampled flag, a new span id) or started (random
// ids), sent upstream in place of the client's, tracestate untouched, the trace id readable back
// from `weft.trace.trace_id` (the response header), and the filter's request metrics on /metrics.
// The set-props fixture plays the router (weft.route.name, weft.upstream.cluster).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { header, request } from './helpers/http.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const telemetryModule = () => builtModule(join(repoRoot, 'filters', 'telemetry'));

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/** The traceparent the upstream received for the last request, split into its fields. */
function upstreamTraceParent(upstream: EchoUpstream): { traceId: string; spanId: string; flags: string } {
  const value = upstream.requests.at(-1)!.headers['traceparent'];
  assert.equal(typeof value, 'string', 'the upstream received a traceparent');
  const match = TRACEPARENT.exec(value as string);
  assert.ok(match, `"${String(value)}" is a version-00 traceparent`);
  assert.notEqual(match[1], '0'.repeat(32));
  assert.notEqual(match[2], '0'.repeat(16));
  return { traceId: match[1]!, spanId: match[2]!, flags: match[3]! };
}

describe('telemetry filter', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    const telemetry = (config: Record<string, unknown>) => [
      { name: 'set-props', module: fixtureModule('set-props') },
      { name: 'telemetry', module: telemetryModule(), config },
    ];
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [upstream.address] },
        { name: 'api', endpoints: [upstream.address] },
      ],
      default_cluster: 'web',
      filters: telemetry({ response_header: 'x-trace-id' }),
      // Requests under /unsampled take a chain whose telemetry starts traces unsampled.
      chains: { unsampled: telemetry({ sampled: false, metrics: false }) },
      routes: [{ path_prefix: '/unsampled', chain: 'unsampled' }],
      access_log: 'off',
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('continues an incoming traceparent: same trace id and flags, a new span id; tracestate untouched', async () => {
    const tracestate = 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7';
    const response = await request(`${weft.url}/continue`, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate } });
    assert.equal(response.status, 200);
    const sent = upstreamTraceParent(upstream);
    assert.equal(sent.traceId, TRACE_ID);
    assert.notEqual(sent.spanId, PARENT_ID, 'this hop has a span id of its own');
    assert.equal(sent.flags, '01');
    assert.equal(upstream.requests.at(-1)!.headers['tracestate'], tracestate);
    assert.equal(header(response, 'x-trace-id'), TRACE_ID);

    await request(`${weft.url}/continue`, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` } });
    const unsampled = upstreamTraceParent(upstream);
    assert.equal(unsampled.flags, '00', 'the sampled flag is kept as it came');
    assert.notEqual(unsampled.spanId, sent.spanId, 'every hop gets a fresh span id');
  });

  it('starts a trace when there is none, with random ids', async () => {
    const first = await request(`${weft.url}/start`);
    const started = upstreamTraceParent(upstream);
    assert.equal(started.flags, '01', 'sampled by default');
    assert.equal(header(first, 'x-trace-id'), started.traceId);
    assert.equal(upstream.requests.at(-1)!.headers['tracestate'], undefined, 'no tracestate is made up');

    await request(`${weft.url}/start`);
    const again = upstreamTraceParent(upstream);
    assert.notEqual(again.traceId, started.traceId);
    assert.notEqual(again.spanId, started.spanId);
  });

  it('starts a new trace instead of continuing an invalid traceparent', async () => {
    const invalid = [
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`, // upper-case hex
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // all-zero parent id
      `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`, // version 00 is exactly 55 characters
      `00-${TRACE_ID}-${PARENT_ID}`, // too short
    ];
    for (const traceparent of invalid) {
      const response = await request(`${weft.url}/invalid`, { headers: { traceparent } });
      const sent = upstreamTraceParent(upstream);
      assert.notEqual(sent.traceId, TRACE_ID, `${traceparent} is not continued`);
      assert.equal(header(response, 'x-trace-id'), sent.traceId);
    }
    // A later version may append fields; its first four are read and sent on as version 00.
    await request(`${weft.url}/future`, { headers: { traceparent: `01-${TRACE_ID}-${PARENT_ID}-01-later-field` } });
    const future = upstreamTraceParent(upstream);
    assert.equal(future.traceId, TRACE_ID);
    assert.equal(future.flags, '01');
  });

  it('starts unsampled traces when configured so, and still continues sampled ones', async () => {
    const response = await request(`${weft.url}/unsampled/x`);
    assert.equal(response.status, 200);
    assert.equal(upstreamTraceParent(upstream).flags, '00');
    assert.equal(header(response, 'x-trace-id'), undefined, 'that chain has no response_header');
    await request(`${weft.url}/unsampled/y`, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } });
    assert.deepEqual({ ...upstreamTraceParent(upstream), spanId: '' }, { traceId: TRACE_ID, spanId: '', flags: '01' });
  });

  it('counts requests by route, cluster and status class, and records their latency, on /metrics', async () => {
    const routed = (route: string, cluster: string, extra: Record<string, string> = {}) => ({
      headers: { 'x-set-prop': `weft.route.name=${route},weft.upstream.cluster=${cluster}`, ...extra },
    });
    for (let i = 0; i < 3; i++) assert.equal((await request(`${weft.url}/m`, routed('orders', 'api'))).status, 200);
    assert.equal((await request(`${weft.url}/m`, routed('orders', 'api', { 'x-upstream-status': '404' }))).status, 404);
    assert.equal((await request(`${weft.url}/m`, routed('orders', 'api', { 'x-upstream-status': '503' }))).status, 503);
    assert.equal((await request(`${weft.url}/m`, routed('slow', 'web', { 'x-upstream-delay-ms': '120' }))).status, 200);
    // The host's own answer (unknown cluster: 503 NC) is counted too.
    assert.equal((await request(`${weft.url}/m`, routed('orders', 'nowhere'))).status, 503);

    const metrics = (await request(`${weft.adminUrl}/metrics`)).body;
    const sample = (line: string) => {
      const found = metrics.split('\n').find((text) => text.startsWith(`${line} `));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    };
    assert.equal(sample('telemetry_requests_total{route="orders",cluster="api",class="2xx"}'), 3);
    assert.equal(sample('telemetry_requests_total{route="orders",cluster="api",class="4xx"}'), 1);
    assert.equal(sample('telemetry_requests_total{route="orders",cluster="api",class="5xx"}'), 1);
    assert.equal(sample('telemetry_requests_total{route="orders",cluster="nowhere",class="5xx"}'), 1);
    assert.equal(sample('telemetry_request_duration_milliseconds_count{route="orders",cluster="api"}'), 5);
    // The 120 ms request lands above the 100 ms bucket and within the 250 ms one.
    assert.equal(sample('telemetry_request_duration_milliseconds_bucket{route="slow",cluster="web",le="100"}'), 0);
    assert.equal(sample('telemetry_request_duration_milliseconds_bucket{route="slow",cluster="web",le="250"}'), 1);
    const sum = sample('telemetry_request_duration_milliseconds_sum{route="slow",cluster="web"}')!;
    assert.ok(sum >= 120 && sum < 1000, `latency sum ${sum} ms`);
    // Requests no router named are counted with "-" labels; the unsampled chain has metrics off.
    assert.ok(sample('telemetry_requests_total{route="-",cluster="-",class="2xx"}')! >= 10);
    assert.doesNotMatch(metrics, /telemetry_requests_total\{[^}]*\} 0\n/);
  });
});

describe('telemetry configuration', () => {
  it('refuses a bad configuration, naming every mistake', async () => {
    const outcome = await runWeftExpectingExit({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      filters: [{ name: 'telemetry', module: telemetryModule(), config: { response_header: 'x trace', sampled: 'yes', metric: true } }],
    });
    assert.equal(outcome.code, 1);
    const output = outcome.stdout + outcome.stderr;
    assert.match(output, /telemetry: invalid configuration: /);
    assert.match(output, /metric is not a known field \(known: response_header, sampled, metrics\)/);
    assert.match(output, /response_header must be a header name/);
    assert.match(output, /sampled must be true or false, not "yes"/);
  });
});
