// Host tracing (host/telemetry/tracing.ts) on a real `weft run` with real upstreams and the real
// telemetry filter: spans exported over OTLP/HTTP (JSON) to a receiver this test runs on
// loopback, a SERVER span per request parented on the traceparent the filters left, a CLIENT
// span per upstream attempt whose id the upstream receives, HTTP semantic-convention
// attributes, sampling by the incoming flag, the console exporter, and the manifest's checks.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parseManifest } from '../host/config/load.js';
import { request } from './helpers/http.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  status: number;
  attributes: Record<string, string | number | boolean>;
  service: string;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type OtlpAttribute = { key: string; value: OtlpValue };

/** OTLP/JSON writes ids as hex; accept base64 too, as protobuf-to-JSON mappers do. */
function hexId(id: string | undefined): string {
  if (id === undefined || id === '') return '';
  return /^[0-9a-f]+$/.test(id) && (id.length === 32 || id.length === 16) ? id : Buffer.from(id, 'base64').toString('hex');
}

function attributeMap(attributes: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.boolValue ?? value.doubleValue!;
  }
  return out;
}

/** An OTLP/HTTP traces receiver on loopback that keeps every span it is sent (JSON bodies). */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver(createServer());
    receiver.server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.contentTypes.add(String(req.headers['content-type']));
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        receiver.collect(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolveListen) => receiver.server.listen(0, '127.0.0.1', resolveListen));
    return receiver;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  private collect(body: any): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = String(attributeMap(resourceSpans.resource?.attributes)['service.name']);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            traceId: hexId(span.traceId),
            spanId: hexId(span.spanId),
            parentSpanId: hexId(span.parentSpanId),
            name: span.name,
            kind: span.kind,
            start: BigInt(span.startTimeUnixNano),
            end: BigInt(span.endTimeUnixNano),
            status: span.status?.code ?? 0,
            attributes: attributeMap(span.attributes),
            service,
          });
        }
      }
    }
  }

  /** The spans of a trace once `count` have arrived (spans leave the proxy within about a second). */
  async trace(traceId: string, count: number, timeoutMs = 6000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const spans = this.spans.filter((span) => span.traceId === traceId);
      if (spans.length >= count) return spans;
      if (Date.now() > deadline) throw new Error(`trace ${traceId}: ${spans.length} of ${count} spans arrived`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolveClose) => this.server.close(() => resolveClose()));
  }
}

/** The trace id and span id of the traceparent the upstream received last. */
function upstreamContext(upstream: EchoUpstream): { traceId: string; spanId: string; flags: string } {
  const value = String(upstream.requests.at(-1)!.headers['traceparent']);
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(value);
  assert.ok(match, `the upstream received a traceparent, not "${value}"`);
  return { traceId: match[1]!, spanId: match[2]!, flags: match[3]! };
}

function one(spans: ReceivedSpan[], kind: number): ReceivedSpan {
  const found = spans.filter((span) => span.kind === kind);
  assert.equal(found.length, 1, `one span of kind ${kind} in ${JSON.stringify(spans.map((s) => s.name))}`);
  return found[0]!;
}

describe('host tracing over OTLP/HTTP', () => {
  let receiver: OtlpReceiver;
  let upstream: EchoUpstream;
  let failing: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    receiver = await OtlpReceiver.start();
    upstream = await EchoUpstream.start();
    failing = await EchoUpstream.start();
    failing.status = 503;
    const setProps = { name: 'set-props', module: fixtureModule('set-props') };
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [upstream.address] },
        { name: 'retrying', endpoints: [failing.address, upstream.address] },
      ],
      default_cluster: 'web',
      filters: [setProps, { name: 'telemetry', module: builtModule(join(repoRoot, 'filters', 'telemetry')) }],
      // Requests under /plain take a chain without the telemetry filter.
      chains: { plain: [setProps] },
      routes: [{ path_prefix: '/plain', chain: 'plain' }],
      tracing: { exporter: 'otlp', endpoint: receiver.endpoint, service_name: 'weft-test' },
      access_log: 'off',
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
    await failing?.stop();
    await receiver?.stop();
  });

  it('makes a SERVER span parented on the traceparent the filter left, and a CLIENT span the upstream hangs below', async () => {
    const tracestate = 'congo=t61rcWkgMzE';
    const response = await request(`${weft.url}/orders/1?full=yes`, {
      headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate, 'user-agent': 'tracing-test/1', 'x-set-prop': 'weft.route.name=orders' },
    });
    assert.equal(response.status, 200);
    const sent = upstreamContext(upstream);
    assert.equal(sent.traceId, TRACE_ID);
    assert.equal(sent.flags, '01');
    assert.equal(upstream.requests.at(-1)!.headers['tracestate'], tracestate);

    const spans = await receiver.trace(TRACE_ID, 2);
    const server = one(spans, SERVER);
    const client = one(spans, CLIENT);
    // The filter replaced the client's parent id with its hop span id before the host read it.
    assert.match(server.parentSpanId, /^[0-9a-f]{16}$/);
    assert.notEqual(server.parentSpanId, PARENT_ID);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.spanId, sent.spanId, 'the upstream received the CLIENT span id as its parent');
    assert.equal(server.service, 'weft-test');
    assert.equal(server.name, 'GET orders');
    assert.equal(client.name, 'GET');
    assert.ok(server.start <= client.start && client.end <= server.end, 'the attempt lies within the request');
    assert.equal(server.status, 0);
    assert.equal(client.status, 0);
    assert.deepEqual(server.attributes, {
      'http.request.method': 'GET',
      'url.path': '/orders/1',
      'url.query': 'full=yes',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': weft.port,
      'client.address': '127.0.0.1',
      'network.peer.address': '127.0.0.1',
      'user_agent.original': 'tracing-test/1',
      'weft.request_id': server.attributes['weft.request_id']!,
      'http.route': 'orders',
      'weft.cluster': 'web',
      'http.response.status_code': 200,
    });
    assert.match(String(server.attributes['weft.request_id']), /^[0-9a-f-]{36}$/);
    assert.deepEqual(client.attributes, {
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': upstream.port,
      'network.peer.address': '127.0.0.1',
      'network.peer.port': upstream.port,
      'url.full': `http://${upstream.address}/orders/1?full=yes`,
      'http.response.status_code': 200,
    });
    assert.ok([...receiver.contentTypes].every((type) => type.startsWith('application/json')), [...receiver.contentTypes].join());
  });

  it('without the filter: continues the client trace as it came, or starts one', async () => {
    await request(`${weft.url}/plain/continued`, { headers: { traceparent: `00-${TRACE_ID.replace('4', '5')}-${PARENT_ID}-01` } });
    const continued = await receiver.trace(TRACE_ID.replace('4', '5'), 2);
    assert.equal(one(continued, SERVER).parentSpanId, PARENT_ID);

    await request(`${weft.url}/plain/new`);
    const sent = upstreamContext(upstream);
    const spans = await receiver.trace(sent.traceId, 2);
    const server = one(spans, SERVER);
    assert.equal(server.parentSpanId, '', 'a new trace: the SERVER span is its root');
    assert.equal(one(spans, CLIENT).parentSpanId, server.spanId);
    assert.equal(one(spans, CLIENT).spanId, sent.spanId);
  });

  it('makes one CLIENT span per attempt when the route retries', async () => {
    const response = await request(`${weft.url}/retried`, {
      headers: { 'x-set-prop': `weft.upstream.cluster=retrying,weft.upstream.endpoint=${failing.address},weft.route.retry.attempts=1,weft.route.retry.on=5xx` },
    });
    assert.equal(response.status, 200);
    const spans = await receiver.trace(upstreamContext(upstream).traceId, 3);
    const server = one(spans, SERVER);
    const attempts = spans.filter((span) => span.kind === CLIENT).sort((a, b) => (a.start < b.start ? -1 : 1));
    assert.equal(attempts.length, 2);
    for (const attempt of attempts) assert.equal(attempt.parentSpanId, server.spanId);
    assert.equal(attempts[0]!.attributes['server.port'], failing.port);
    assert.equal(attempts[0]!.attributes['http.response.status_code'], 503);
    assert.equal(attempts[0]!.attributes['error.type'], '503');
    assert.equal(attempts[0]!.status, STATUS_ERROR);
    assert.equal(attempts[0]!.attributes['http.request.resend_count'], undefined);
    assert.equal(attempts[1]!.attributes['server.port'], upstream.port);
    assert.equal(attempts[1]!.attributes['http.request.resend_count'], 1);
    assert.equal(attempts[1]!.status, 0);
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['weft.cluster'], 'retrying');
  });

  it('marks a request the proxy answered itself as an error, with no CLIENT span', async () => {
    const traceId = 'a'.repeat(32);
    const response = await request(`${weft.url}/nowhere`, { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01`, 'x-set-prop': 'weft.upstream.cluster=nowhere' } });
    assert.equal(response.status, 503);
    const [server] = await receiver.trace(traceId, 1);
    // Both spans would leave in the same batch; give a stray one time to show up anyway.
    await sleep(300);
    assert.deepEqual(receiver.spans.filter((span) => span.traceId === traceId).map((span) => span.kind), [SERVER], 'only the SERVER span');
    assert.equal(server!.status, STATUS_ERROR);
    assert.equal(server!.attributes['error.type'], '503');
    assert.equal(server!.attributes['weft.response.flags'], 'NC');
    assert.equal(server!.attributes['weft.cluster'], 'nowhere');
  });

  it('records nothing for a trace that arrives unsampled, and passes the flag on', async () => {
    const unsampled = 'b'.repeat(32);
    await request(`${weft.url}/unsampled`, { headers: { traceparent: `00-${unsampled}-${PARENT_ID}-00` } });
    const sent = upstreamContext(upstream);
    assert.deepEqual([sent.traceId, sent.flags], [unsampled, '00']);
    // A sampled request sent after it is exported; by then the unsampled one would have been too.
    const sampled = 'c'.repeat(32);
    await request(`${weft.url}/sampled`, { headers: { traceparent: `00-${sampled}-${PARENT_ID}-01` } });
    await receiver.trace(sampled, 2);
    assert.equal(receiver.spans.filter((span) => span.traceId === unsampled).length, 0);
  });
});

describe('host tracing to the console', () => {
  it('writes each span as a JSON log line', async () => {
    const upstream = await EchoUpstream.start();
    const weft = await startWeft({ clusters: [{ name: 'web', endpoints: [upstream.address] }], tracing: { exporter: 'console' }, access_log: 'off' });
    try {
      assert.equal((await request(`${weft.url}/logged`)).status, 200);
      await weft.waitForOutput((text) => (text.match(/"msg":"span"/g) ?? []).length >= 2, 'two span lines');
      const spans = weft.logLines().filter((line) => line.msg === 'span').map((line) => line.span as Record<string, any>);
      const server = spans.find((span) => span.kind === 'SERVER')!;
      const client = spans.find((span) => span.kind === 'CLIENT')!;
      assert.equal(client.trace_id, server.trace_id);
      assert.equal(client.parent_span_id, server.span_id);
      assert.equal(server.parent_span_id, undefined);
      assert.equal(server.attributes['url.path'], '/logged');
      assert.equal(client.attributes['http.response.status_code'], 200);
      assert.ok(server.duration_ms >= client.duration_ms);
      assert.equal(upstreamContext(upstream).spanId, client.span_id);
    } finally {
      await weft.stop();
      await upstream.stop();
    }
  });
});

describe('host tracing when the collector is down', () => {
  it('keeps serving, and logs that spans were dropped', async () => {
    const upstream = await EchoUpstream.start();
    const closed = await OtlpReceiver.start();
    const endpoint = closed.endpoint;
    await closed.stop();
    const weft = await startWeft({ clusters: [{ name: 'web', endpoints: [upstream.address] }], tracing: { exporter: 'otlp', endpoint }, access_log: 'off' });
    try {
      assert.equal((await request(`${weft.url}/lost`)).status, 200);
      // The exporter retries a refused connection for up to 5 s before it gives the batch up.
      await weft.waitForOutput((text) => text.includes('tracing: spans could not be exported, and were dropped (connect ECONNREFUSED'), 'the export warning', 9000);
      assert.equal((await request(`${weft.url}/still-serving`)).status, 200);
    } finally {
      await weft.stop();
      await upstream.stop();
    }
  });
});

describe('tracing in the manifest', () => {
  const parse = (tracing: unknown) => parseManifest(JSON.stringify({ listen: '127.0.0.1:8080', clusters: [{ name: 'web', endpoints: ['127.0.0.1:3000'] }], tracing }), { baseDir: '/', env: {} });

  it('is off by default, and fills in the defaults', () => {
    const off = parseManifest(JSON.stringify({ listen: '127.0.0.1:8080', clusters: [{ name: 'web', endpoints: ['127.0.0.1:3000'] }] }), { baseDir: '/', env: {} });
    assert.ok(off.ok);
    assert.deepEqual(off.manifest.tracing, { exporter: 'off', endpoint: 'http://localhost:4318/v1/traces', service_name: 'weft', sample_ratio: 1 });
    const on = parse({ exporter: 'otlp', endpoint: 'https://collector:4318/v1/traces', sample_ratio: '0.25' });
    assert.ok(on.ok);
    assert.deepEqual(on.manifest.tracing, { exporter: 'otlp', endpoint: 'https://collector:4318/v1/traces', service_name: 'weft', sample_ratio: 0.25 });
  });

  it('refuses what it cannot use, saying why', () => {
    const refused = parse({ exporter: 'jaeger', endpoint: 'collector:4318', sample_ratio: 2, service_name: '', sampler: 'x' });
    assert.ok(!refused.ok);
    const text = refused.errors.join('\n');
    assert.match(text, /tracing\.exporter/);
    assert.match(text, /tracing\.endpoint: "collector:4318" is not an http\(s\) URL/);
    assert.match(text, /tracing\.sample_ratio: must be a number from 0 to 1, not 2/);
    assert.match(text, /tracing\.service_name: must not be empty/);
    assert.match(text, /sampler/);
  });
});
