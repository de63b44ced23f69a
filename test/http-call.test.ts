// proxy_http_call on the host side (host/proxy/http-call.ts) against a real upstream, and the
// ABI's promise that a call's completion callback runs once.

import assert from 'node:assert/strict';
import { createServer as createH2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import type { HttpCallRequest, HttpCallResponse } from '../host/abi/host-api.js';
import { Clusters } from '../host/proxy/clusters.js';
import { makeHttpCall } from '../host/proxy/http-call.js';
import { callAnswer, streamRig, testFilter } from './helpers/stream-harness.js';
import { EchoUpstream } from './helpers/upstream.js';

describe('http_call to a cluster', () => {
  let upstream: EchoUpstream;
  let clusters: Clusters;

  before(async () => {
    upstream = await EchoUpstream.start();
    clusters = new Clusters([{ name: 'echo', endpoints: [{ host: '127.0.0.1', port: upstream.port, weight: 1 }], connect_timeout_ms: 1000, timeout_ms: 5000 }]);
  });
  after(async () => {
    await clusters?.close();
    await upstream?.stop();
  });

  const call = (maxResponseBytes: number, extra: Partial<HttpCallRequest> = {}) =>
    new Promise<{ result: WasmResult; response?: HttpCallResponse | null; failure?: string | undefined }>((resolve) => {
      const request: HttpCallRequest = {
        cluster: 'echo',
        headers: [[':method', 'POST'], [':path', '/callout'], [':authority', 'echo']],
        body: new TextEncoder().encode('ping'),
        trailers: [],
        timeoutMs: 2000,
        maxResponseBytes,
        ...extra,
      };
      const result = makeHttpCall(clusters)(request, (response, failure) => resolve({ result, response, failure }));
      if (result !== WasmResult.Ok) resolve({ result });
    });

  it('answers with the whole response within the limit', async () => {
    const { result, response } = await call(64 * 1024);
    assert.equal(result, WasmResult.Ok);
    const echoed = JSON.parse(Buffer.from(response!.body).toString());
    assert.equal(echoed.body, 'ping');
    assert.equal(echoed.path, '/callout');
  });

  it('fails a call whose response body passes the filter\'s http_call_response_bytes quota, saying why', async () => {
    const { result, response, failure } = await call(16);
    assert.equal(result, WasmResult.Ok);
    assert.equal(response, null);
    assert.equal(failure, "response body larger than 16 bytes (the filter's http_call_response_bytes quota)");
  });

  it('refuses a call with trailers (undici cannot send them) instead of sending it without them', async () => {
    const seen = upstream.requests.length;
    const { result } = await call(1024, { trailers: [['x-checksum', 'abc']] });
    assert.equal(result, WasmResult.BadArgument);
    assert.equal(upstream.requests.length, seen);
  });
});

describe('http_call to an h2c cluster', () => {
  it('goes over HTTP/2 and brings back the status, headers, body and trailers', async () => {
    const upstream = createH2Server();
    const seen: Array<{ path: string; authority: string; body: string }> = [];
    upstream.on('stream', (stream, headers) => {
      let body = '';
      stream.on('data', (chunk: Buffer) => (body += chunk));
      stream.on('end', () => {
        seen.push({ path: String(headers[':path']), authority: String(headers[':authority']), body });
        stream.respond({ ':status': 201, 'x-h2': 'yes' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': '1' }));
        stream.end('pong');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    const clusters = new Clusters([{ name: 'h2', protocol: 'h2c', endpoints: [{ host: '127.0.0.1', port, weight: 1 }], connect_timeout_ms: 1000, timeout_ms: 5000 }]);
    try {
      const request: HttpCallRequest = {
        cluster: 'h2',
        headers: [[':method', 'POST'], [':path', '/callout'], [':authority', 'svc']],
        body: new TextEncoder().encode('ping'),
        trailers: [],
        timeoutMs: 2000,
        maxResponseBytes: 1024,
      };
      const answer = await new Promise<HttpCallResponse | null>((resolve) => assert.equal(makeHttpCall(clusters)(request, resolve), WasmResult.Ok));
      assert.deepEqual(seen, [{ path: '/callout', authority: 'svc', body: 'ping' }]);
      assert.equal(Buffer.from(answer!.body).toString(), 'pong');
      assert.deepEqual(answer!.headers.find(([name]) => name === ':status'), [':status', '201']);
      assert.deepEqual(answer!.headers.find(([name]) => name === 'x-h2'), ['x-h2', 'yes']);
      assert.deepEqual(answer!.trailers, [['x-done', '1']]);
    } finally {
      await clusters.close();
      upstream.close();
    }
  });
});

describe('http_call completion', () => {
  it('runs the callback once, even when the host answers twice', async () => {
    const caller = testFilter('caller', (f) => ({
      request_headers: '(call $call_out) (i32.const 1)',
      http_call_response: `(call $say ${f.str('answered')})`,
    }));
    const rig = await streamRig([caller]);
    rig.stream.start(true);
    rig.calls[0]!.done(callAnswer(200));
    rig.calls[0]!.done(null);
    assert.deepEqual(rig.log, ['caller:http_call=0', 'caller:answered']);
  });
});
