// Filter-defined metrics (the ABI's FilterMetrics semantics and name sanitising), the
// logger and the access log lines.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { MetricType, WasmResult } from '../host/abi/enums.js';
import { createAccessLog, type AccessLogEntry } from '../host/telemetry/access-log.js';
import { createLogger } from '../host/telemetry/logger.js';
import { WeftMetrics } from '../host/telemetry/metrics.js';

function metricLines(text: string): Set<string> {
  return new Set(text.split('\n').filter((line) => line !== '' && !line.startsWith('#')));
}

describe('filter-defined metrics', () => {
  test('defining the same (type, name) twice gives the same id; another type or name another id', () => {
    const { filterMetrics } = new WeftMetrics({ processMetrics: false });
    const a = filterMetrics.define(MetricType.Counter, 'requests');
    assert.equal(filterMetrics.define(MetricType.Counter, 'requests'), a);
    assert.notEqual(filterMetrics.define(MetricType.Gauge, 'requests'), a);
    assert.notEqual(filterMetrics.define(MetricType.Counter, 'other'), a);
    assert.notEqual(a, 0);
  });

  test('counter: increments by more than zero only; record adds; get reads', () => {
    const { filterMetrics } = new WeftMetrics({ processMetrics: false });
    const id = filterMetrics.define(MetricType.Counter, 'c');
    assert.equal(filterMetrics.increment(id, 0n), WasmResult.BadArgument);
    assert.equal(filterMetrics.increment(id, -1n), WasmResult.BadArgument);
    assert.equal(filterMetrics.increment(id, 2n), WasmResult.Ok);
    assert.equal(filterMetrics.record(id, 3n), WasmResult.Ok);
    assert.equal(filterMetrics.record(id, -3n), WasmResult.BadArgument);
    assert.equal(filterMetrics.get(id), 5n);
  });

  test('gauge: increments either way; record sets', () => {
    const { filterMetrics } = new WeftMetrics({ processMetrics: false });
    const id = filterMetrics.define(MetricType.Gauge, 'g');
    assert.equal(filterMetrics.increment(id, 10n), WasmResult.Ok);
    assert.equal(filterMetrics.increment(id, -4n), WasmResult.Ok);
    assert.equal(filterMetrics.get(id), 6n);
    assert.equal(filterMetrics.record(id, -2n), WasmResult.Ok);
    assert.equal(filterMetrics.get(id), -2n);
  });

  test('histogram: record observes; increment and get are BadArgument', async () => {
    const metrics = new WeftMetrics({ processMetrics: false });
    const id = metrics.filterMetrics.define(MetricType.Histogram, 'latency_ms');
    assert.equal(metrics.filterMetrics.record(id, 7n), WasmResult.Ok);
    assert.equal(metrics.filterMetrics.increment(id, 1n), WasmResult.BadArgument);
    assert.equal(metrics.filterMetrics.get(id), WasmResult.BadArgument);
    const lines = metricLines(await metrics.text());
    assert.ok(lines.has('latency_ms_bucket{le="5"} 0'));
    assert.ok(lines.has('latency_ms_bucket{le="10"} 1'));
    assert.ok(lines.has('latency_ms_sum 7'));
  });

  test('an unknown id is NotFound', () => {
    const { filterMetrics } = new WeftMetrics({ processMetrics: false });
    assert.equal(filterMetrics.increment(42, 1n), WasmResult.NotFound);
    assert.equal(filterMetrics.record(42, 1n), WasmResult.NotFound);
    assert.equal(filterMetrics.get(42), WasmResult.NotFound);
  });

  test('names are sanitised; labels in braces become labels; host prefixes and type clashes are renamed', async () => {
    const metrics = new WeftMetrics({ processMetrics: false });
    const m = metrics.filterMetrics;
    m.increment(m.define(MetricType.Counter, 'my.filter-hits'), 1n);
    m.increment(m.define(MetricType.Counter, '9lives'), 1n);
    m.increment(m.define(MetricType.Counter, 'by_route{route="api",status.class="2xx"}'), 2n);
    m.increment(m.define(MetricType.Counter, 'by_route{route="web \\"x\\"",status.class="5xx"}'), 3n);
    m.increment(m.define(MetricType.Counter, 'weft_requests_total'), 4n);
    m.record(m.define(MetricType.Gauge, 'my.filter-hits'), 9n);
    m.record(m.define(MetricType.Histogram, 'sizes{le="x"}'), 1n);
    const text = await metrics.text();
    const lines = metricLines(text);
    for (const line of [
      'my_filter_hits 1',
      '_9lives 1',
      'by_route{route="api",status_class="2xx"} 2',
      'by_route{route="web \\"x\\"",status_class="5xx"} 3',
      'wasm_weft_requests_total 4',
      'my_filter_hits_gauge 9',
      'sizes_bucket{le_="x",le="1"} 1',
    ]) {
      assert.ok(lines.has(line), `missing ${line} in\n${text}`);
    }
    assert.ok(text.includes('# TYPE my_filter_hits_gauge gauge'));
    assert.ok(text.includes('# TYPE weft_requests_total counter'), 'the host family is untouched');
  });
});

describe('logs', () => {
  function collector() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter((line) => line !== ''));
        done();
      },
    });
    return { lines, stream };
  }

  const entry: AccessLogEntry = {
    method: 'GET',
    path: '/a "quoted" path?x=1',
    status: 502,
    duration_ms: 1.23456,
    upstream: '127.0.0.1:3001',
    flags: 'UF',
    bytes_sent: 11,
    bytes_received: 0,
    request_id: 'r-1',
    route: 'api',
    reason: 'upstream connect error (ECONNREFUSED)',
    details: 'via_upstream',
    grpc_status: null,
  };

  test('the logger writes JSON lines at its level', () => {
    const { lines, stream } = collector();
    const logger = createLogger('warn', stream);
    logger.info('hidden');
    logger.warn({ port: 1 }, 'shown');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!);
    assert.equal(line.msg, 'shown');
    assert.equal(line.level, 40);
    assert.equal(line.port, 1);
  });

  test('an access log line carries every field, on the logger\'s stream', () => {
    const { lines, stream } = collector();
    const logger = createLogger('error', stream);
    const accessLog = createAccessLog('stdout', logger);
    assert.equal(accessLog.enabled, true);
    accessLog.write(entry);
    accessLog.write({ ...entry, upstream: null, flags: '' });
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0]!);
    assert.equal(typeof first.time, 'number');
    assert.deepEqual({ ...first, time: 0 }, {
      level: 30,
      time: 0,
      msg: 'access',
      method: 'GET',
      path: '/a "quoted" path?x=1',
      status: 502,
      duration_ms: 1.235,
      upstream: '127.0.0.1:3001',
      flags: 'UF',
      bytes_sent: 11,
      bytes_received: 0,
      request_id: 'r-1',
      route: 'api',
      reason: 'upstream connect error (ECONNREFUSED)',
      details: 'via_upstream',
      grpc_status: null,
    });
    assert.equal(JSON.parse(lines[1]!).upstream, null);
    accessLog.write({ ...entry, status: 200, grpc_status: 14 });
    assert.equal(JSON.parse(lines[2]!).grpc_status, 14);
  });

  test('access_log: off writes nothing', () => {
    const { lines, stream } = collector();
    const accessLog = createAccessLog('off', createLogger('info', stream));
    assert.equal(accessLog.enabled, false);
    accessLog.write(entry);
    assert.deepEqual(lines, []);
  });
});
