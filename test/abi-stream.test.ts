// The chain's side of the ABI in its corners: pauses and continues, local responses at awkward
// moments, what each filter is handed. Real VMs (small WAT filters, test/helpers/stream-harness.ts)
// in a real chain; a recording owner stands in for the proxy. Each expectation names the spec
// line or the Envoy behaviour it follows.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeaderMap } from '../host/abi/header-map.js';
import { callAnswer, responseHeaders, streamRig, testFilter } from './helpers/stream-harness.js';

const text = (value: string) => new TextEncoder().encode(value);

/** A filter that pauses a direction on an http_call and continues it from the callback. */
function calloutThenContinue(name: string, phase: 'request_headers' | 'response_headers', direction: 0 | 1) {
  return testFilter(name, () => ({
    [phase]: '(call $call_out) (i32.const 1)',
    http_call_response: `(call $resume_stream) (call $continue (i32.const ${direction}))`,
  }));
}

describe('proxy_continue_stream', () => {
  // Envoy (context.cc continueStream): Request resumes decoding, Response resumes encoding; a
  // continue for a direction that is not stopped changes nothing.
  it('a continue made in a callback that then returns Continue is spent: the next pause waits for its own', async () => {
    const eager = testFilter('eager', () => ({ request_headers: '(call $continue (i32.const 0)) (i32.const 0)' }));
    const rig = await streamRig([eager, calloutThenContinue('waiter', 'request_headers', 0)]);
    rig.stream.start(true);
    await rig.settle();
    assert.equal(rig.calls.length, 1);
    assert.ok(!rig.log.includes('proxy:request-headers end'), `the request went on before the callout answered: ${rig.log.join(', ')}`);
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    assert.ok(rig.log.includes('proxy:request-headers end'), rig.log.join(', '));
  });

  it('a filter\'s continue releases only its own pause, not the one another filter made since', async () => {
    // Envoy: continueDecoding acts on the filter that calls it; one that is not stopped changes nothing.
    const fanOut = testFilter('fan-out', () => ({
      request_headers: '(call $call_out) (call $call_out) (i32.const 1)',
      http_call_response: '(call $resume_stream) (call $continue (i32.const 0))',
    }));
    const rig = await streamRig([fanOut, calloutThenContinue('second', 'request_headers', 0)]);
    rig.stream.start(true);
    rig.calls[0]!.done(callAnswer(200)); // fan-out continues: second runs and pauses on its own call
    await rig.settle();
    assert.equal(rig.calls.length, 3);
    rig.calls[1]!.done(callAnswer(200)); // fan-out's other answer continues again
    await rig.settle();
    assert.ok(!rig.log.includes('proxy:request-headers end'), `the second filter's pause was released by the first: ${rig.log.join(', ')}`);
    rig.calls[2]!.done(callAnswer(200));
    await rig.settle();
    assert.ok(rig.log.includes('proxy:request-headers end'), rig.log.join(', '));
  });

  it('continues only the direction it names', async () => {
    const wrongWay = calloutThenContinue('wrong-way', 'request_headers', 1);
    const rig = await streamRig([wrongWay]);
    rig.stream.start(true);
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    assert.ok(rig.log.includes('wrong-way:continue=0'), rig.log.join(', '));
    assert.ok(!rig.log.includes('proxy:request-headers end'), `continue(HttpResponse) resumed the request: ${rig.log.join(', ')}`);
  });

  it('a paused response resumes with continue(HttpResponse)', async () => {
    const rig = await streamRig([calloutThenContinue('resp', 'response_headers', 1)]);
    rig.stream.start(true);
    rig.stream.pushResponseHeaders(responseHeaders(200, 'content-length', '2'), false);
    rig.stream.pushResponseData(text('ok'), true);
    await rig.settle();
    assert.ok(!rig.log.some((line) => line.startsWith('proxy:response-headers')), rig.log.join(', '));
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    assert.deepEqual(rig.log.filter((line) => line.startsWith('proxy:response')), ['proxy:response-headers 200', 'proxy:response-body ok end']);
  });
});

describe('a stream that ends while a filter holds it', () => {
  it('after an endpoint failure (503) that ends the stream, held request body never reaches a filter again', async () => {
    // Spec: no callback for a context after proxy_on_delete (the Rust SDK panics on an unknown context).
    const filter = testFilter('holder', (f) => ({
      request_headers: '(call $call_out) (i32.const 1)',
      http_call_response: '(call $resume_stream) (call $continue (i32.const 0))',
      request_body: `(call $say ${f.str('body')}) (i32.const 0)`,
      delete: `(call $say ${f.str('deleted')})`,
    }));
    const rig = await streamRig([filter]);
    rig.owner.onRequestHeadersReady = () => rig.stream.finish(503, 'UH');
    rig.stream.start(false);
    rig.stream.pushRequestData(text('held'), true);
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    assert.deepEqual(rig.log, ['holder:http_call=0', 'holder:continue=0', 'proxy:request-headers', 'holder:deleted']);
  });

  it('a local reply sent while the response is paused drops the upstream bytes held behind it', async () => {
    // Envoy: sendLocalReply replaces the response; nothing of the upstream's reaches the client.
    const filter = testFilter('replier', (f) => ({
      // The local reply passes this filter's response phase too: it lets that one through.
      response_headers: `(if (global.get ${f.global('asked')}) (then (return (i32.const 0)))) (global.set $asked (i32.const 1)) (call $call_out) (i32.const 1)`,
      http_call_response: '(call $resume_stream) (call $local (i32.const 403))',
    }));
    const rig = await streamRig([filter]);
    rig.stream.start(true);
    rig.stream.pushResponseHeaders(responseHeaders(200), false);
    rig.stream.pushResponseData(text('upstream-bytes'), false);
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    rig.stream.pushResponseData(text('late-bytes'), true);
    const toClient = rig.log.filter((line) => line.startsWith('proxy:response'));
    assert.deepEqual(toClient, ['proxy:response-headers 403', 'proxy:response-body local end']);
  });
});

describe('what each filter is handed', () => {
  it('the header count reflects headers the filter before added', async () => {
    // Spec: proxy_on_request_headers(context_id, num_headers, end_of_stream): the map as it is now.
    const adder = testFilter('adder', (f) => ({ request_headers: `(call $add_header (i32.const 0) ${f.str('x-added')} ${f.str('1')}) (i32.const 0)` }));
    const counter = testFilter('counter', (f) => ({ request_headers: `(call $report ${f.str('count')} (local.get $n)) (i32.const 0)` }));
    const rig = await streamRig([adder, counter]);
    rig.stream.start(true);
    assert.ok(rig.log.includes('counter:count=5'), rig.log.join(', '));
  });
});

describe('proxy_send_local_response', () => {
  it('the first call wins; a second in the same stream gets BadArgument (Envoy: one local reply per stream)', async () => {
    const twice = testFilter('twice', () => ({ request_headers: '(call $local (i32.const 403)) (call $local (i32.const 500)) (i32.const 1)' }));
    const rig = await streamRig([twice]);
    rig.stream.start(true);
    await rig.settle();
    assert.deepEqual(rig.log, ['twice:local=0', 'twice:local=2', 'proxy:answered-locally', 'proxy:response-headers 403', 'proxy:response-body local end']);
  });

  it('after the response headers went out it answers Ok and resets the stream (Envoy)', async () => {
    const late = testFilter('late', () => ({ response_body: '(call $local (i32.const 500)) (i32.const 0)' }));
    const rig = await streamRig([late]);
    rig.stream.start(true);
    rig.stream.pushResponseHeaders(responseHeaders(200), false);
    rig.stream.pushResponseData(text('partial'), false);
    await rig.settle();
    assert.deepEqual(rig.log, ['proxy:request-headers end', 'proxy:response-headers 200', 'late:local=0', 'proxy:reset']);
  });

  it('takes any three-digit status, and refuses others', async () => {
    const odd = testFilter('odd', () => ({ request_headers: '(call $local (i32.const 1000)) (call $local (i32.const 99)) (call $local (i32.const 999)) (i32.const 1)' }));
    const rig = await streamRig([odd]);
    rig.stream.start(true);
    await rig.settle();
    assert.deepEqual(rig.log.slice(0, 3), ['odd:local=2', 'odd:local=2', 'odd:local=0']);
    assert.ok(rig.log.includes('proxy:response-headers 999'), rig.log.join(', '));
  });

  it('details become response.code_details (via_upstream for the upstream\'s own response)', async () => {
    const answer = testFilter('answer', () => ({ request_headers: '(call $local_details (i32.const 401) (i32.const -1)) (i32.const 1)' }));
    const rig = await streamRig([answer]);
    rig.stream.start(true);
    await rig.settle();
    assert.equal(Buffer.from(rig.stream.getProperty('response.code_details')!).toString(), 'by_test');
    const passing = await streamRig([testFilter('pass', () => ({ request_headers: '(i32.const 0)' }))]);
    passing.stream.start(true);
    assert.equal(passing.stream.getProperty('response.code_details'), undefined);
    passing.stream.pushResponseHeaders(responseHeaders(200), true);
    assert.equal(Buffer.from(passing.stream.getProperty('response.code_details')!).toString(), 'via_upstream');
  });

  it('to a gRPC request: a trailers-only gRPC reply, grpc-status as given or mapped from the HTTP status (Envoy)', async () => {
    const grpcRequest = [':method', 'POST', ':path', '/pkg.Svc/Call', ':authority', 'example.test', ':scheme', 'http', 'content-type', 'application/grpc'];
    const given = await streamRig([testFilter('deny', () => ({ request_headers: '(call $local_details (i32.const 403) (i32.const 16)) (i32.const 1)' }))], { requestHeaders: grpcRequest });
    given.stream.start(false);
    await given.settle();
    assert.deepEqual(given.stream.responseHeaders!.flat, [':status', '200', 'content-type', 'application/grpc', 'grpc-status', '16', 'grpc-message', 'local', 'content-length', '0']);
    assert.ok(given.log.includes('proxy:response-headers 200 end'), given.log.join(', '));
    assert.equal(given.stream.getProperty('response.grpc_status')![0], 16);
    const mapped = await streamRig([testFilter('unavailable', () => ({ request_headers: '(call $local (i32.const 503)) (i32.const 1)' }))], { requestHeaders: grpcRequest });
    mapped.stream.start(false);
    await mapped.settle();
    assert.equal(mapped.stream.responseHeaders!.get('grpc-status'), '14');
  });
});

describe('stream properties', () => {
  const int = (value: Uint8Array | undefined) => (value === undefined ? undefined : Number(Buffer.from(value).readBigInt64LE(0)));
  const str = (value: Uint8Array | undefined) => (value === undefined ? undefined : Buffer.from(value).toString());

  it('source, destination and connection as the transport tells them (Envoy attribute names and forms)', async () => {
    const rig = await streamRig([testFilter('any', () => ({ request_headers: '(i32.const 0)' }))]);
    Object.assign(rig.owner, { info: { remoteAddress: '10.1.2.3', remotePort: 51000, localAddress: '10.9.9.9', localPort: 8443, connectionId: 7, scheme: 'https', startTimeMs: Date.now() } });
    assert.equal(str(rig.stream.getProperty('source.address')), '10.1.2.3:51000');
    assert.equal(int(rig.stream.getProperty('source.port')), 51000);
    assert.equal(str(rig.stream.getProperty('destination.address')), '10.9.9.9:8443');
    assert.equal(int(rig.stream.getProperty('connection.id')), 7);
    Object.assign(rig.owner, { info: { remoteAddress: '::1', remotePort: 4000, localAddress: '::1', localPort: 80, scheme: 'http', startTimeMs: Date.now() } });
    assert.equal(str(rig.stream.getProperty('source.address')), '[::1]:4000');
    // A transport that does not tell the port (uWebSockets.js): the IP alone, no source.port, no connection.id.
    Object.assign(rig.owner, { info: { remoteAddress: '10.1.2.3', localAddress: '0.0.0.0', localPort: 80, scheme: 'http', startTimeMs: Date.now() } });
    assert.equal(str(rig.stream.getProperty('source.address')), '10.1.2.3');
    assert.equal(rig.stream.getProperty('source.port'), undefined);
    assert.equal(rig.stream.getProperty('connection.id'), undefined);
  });

  it('request and response sizes, and the headers as maps', async () => {
    const rig = await streamRig([testFilter('any', () => ({ request_headers: '(i32.const 0)' }))], {
      requestHeaders: [':method', 'POST', ':path', '/p', ':authority', 'h', ':scheme', 'http', 'content-length', '5'],
    });
    rig.stream.start(false);
    // Envoy: request.size is the body's size, content-length when there is one; total_size adds the headers' bytes.
    assert.equal(int(rig.stream.getProperty('request.size')), 5);
    const headerBytes = ':methodPOST:path/p:authorityh:schemehttpcontent-length5'.length;
    assert.equal(int(rig.stream.getProperty('request.total_size')), headerBytes + 5);
    assert.deepEqual(rig.stream.getProperty('request.headers'), rig.stream.requestHeaders.serialized());
    rig.stream.pushResponseHeaders(responseHeaders(200, 'grpc-status', '3'), false);
    rig.owner.bytesSent = 12;
    assert.equal(int(rig.stream.getProperty('response.size')), 12);
    assert.equal(int(rig.stream.getProperty('response.total_size')), ':status200grpc-status3'.length + 12);
    assert.equal(int(rig.stream.getProperty('response.grpc_status')), 3);
    assert.deepEqual(rig.stream.getProperty('response.headers'), rig.stream.responseHeaders!.serialized());
  });

  it('set_property on a host fact answers Ok and changes nothing', async () => {
    const rig = await streamRig([testFilter('any', () => ({ request_headers: '(i32.const 0)' }))]);
    assert.equal(rig.stream.setProperty('source.address', text('1.2.3.4')), 0);
    assert.equal(str(rig.stream.getProperty('source.address')), '127.0.0.1');
  });
});

describe('filter statuses', () => {
  // Envoy (filter.h): ContinueAndEndStream "continue headers iteration to remaining filters, but
  // ignore any subsequent data or trailers. This results in creating a header only request/response."
  it('ContinueAndEndStream on request headers: later filters see end_of_stream, the body is dropped, content-length becomes 0', async () => {
    const ender = testFilter('ender', () => ({ request_headers: '(i32.const 2)' }));
    const next = testFilter('next', (f) => ({
      request_headers: `(call $report ${f.str('eos')} (local.get $eos)) (i32.const 0)`,
      request_body: `(call $say ${f.str('body')}) (i32.const 0)`,
    }));
    const rig = await streamRig([ender, next], {
      requestHeaders: [':method', 'POST', ':path', '/', ':authority', 'h', ':scheme', 'http', 'content-length', '4'],
    });
    rig.stream.start(false);
    rig.stream.pushRequestData(text('body'), true);
    assert.deepEqual(rig.log, ['next:eos=1', 'proxy:request-headers end']);
    assert.equal(rig.stream.requestHeaders.get('content-length'), '0');
  });

  it('ContinueAndEndStream on response headers: a headers-only response, upstream body dropped', async () => {
    const ender = testFilter('ender', () => ({ response_headers: '(i32.const 2)' }));
    const rig = await streamRig([ender]);
    rig.stream.start(true);
    rig.stream.pushResponseHeaders(responseHeaders(200, 'content-length', '4'), false);
    rig.stream.pushResponseData(text('body'), true);
    assert.deepEqual(rig.log, ['proxy:request-headers end', 'proxy:response-headers 200 end']);
  });

  it('StopIterationNoBuffer drops the chunk instead of holding it: the next chunk arrives alone', async () => {
    // Envoy: "do not buffer data"; the filter keeps what it wants itself.
    const dropper = testFilter('dropper', (f) => ({
      request_body: `(call $report ${f.str('size')} (local.get $n)) (if (result i32) (local.get $eos) (then (i32.const 0)) (else (i32.const 3)))`,
    }));
    const rig = await streamRig([dropper], { requestHeaders: [':method', 'POST', ':path', '/', ':authority', 'h', ':scheme', 'http'] });
    rig.stream.start(false);
    rig.stream.pushRequestData(text('first'), false);
    rig.stream.pushRequestData(text('2nd'), true);
    assert.deepEqual(rig.log, ['proxy:request-headers', 'dropper:size=5', 'dropper:size=3', 'proxy:request-body 2nd end']);
  });
});

describe('bodies from an http_call callback', () => {
  it('the body a paused filter holds is readable and replaceable with the stream as effective context (ext-authz with the body)', async () => {
    // Envoy: a filter that buffered the body and paused reads and modifies it from its callout's callback.
    const authz = testFilter('authz', (f) => ({
      request_body: '(if (local.get $eos) (then (call $call_out))) (i32.const 1)',
      http_call_response: `(call $resume_stream)
        (call $report ${f.str('status')} (call $proxy_get_buffer_status (i32.const 0) (i32.const 0x1100) (i32.const 0x1104)))
        (call $report ${f.str('held')} (i32.load (i32.const 0x1100)))
        (call $report ${f.str('set')} (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (i32.load (i32.const 0x1100)) ${f.str('checked')}))
        (call $continue (i32.const 0))`,
    }));
    const rig = await streamRig([authz], { requestHeaders: [':method', 'POST', ':path', '/', ':authority', 'h', ':scheme', 'http'] });
    rig.stream.start(false);
    rig.stream.pushRequestData(text('abc'), false);
    rig.stream.pushRequestData(text('def'), true);
    assert.equal(rig.calls.length, 1);
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    assert.deepEqual(rig.log.slice(1), ['authz:http_call=0', 'authz:status=0', 'authz:held=6', 'authz:set=0', 'authz:continue=0', 'proxy:request-body checked end']);
  });
});

describe('trailers', () => {
  const post = [':method', 'POST', ':path', '/', ':authority', 'h', ':scheme', 'http'];
  const trailers = (...flat: string[]) => new HeaderMap(flat);

  it('response trailers reach on_response_trailers (map 3, changeable) and then the proxy', async () => {
    // Spec: proxy_on_response_trailers(context_id, num_trailers); map type 3 = response trailers.
    const stamp = testFilter('stamp', (f) => ({
      response_trailers: `(call $report ${f.str('count')} (local.get $n)) (call $add_header (i32.const 3) ${f.str('x-stamped')} ${f.str('yes')}) (i32.const 0)`,
    }));
    const rig = await streamRig([stamp]);
    rig.stream.start(true);
    rig.stream.pushResponseHeaders(responseHeaders(200), false);
    rig.stream.pushResponseData(text('body'), false);
    rig.stream.pushResponseTrailers(trailers('x-checksum', 'c1'));
    assert.deepEqual(rig.log.slice(1), ['proxy:response-headers 200', 'proxy:response-body body', 'stamp:count=1', 'proxy:response-trailers x-checksum c1 x-stamped yes']);
  });

  it('request trailers reach on_request_trailers (map 1); body a filter held waiting for an end goes on first', async () => {
    const holder = testFilter('holder', (f) => ({
      request_body: '(i32.const 1)', // buffers, waiting for an end of stream the body never carries
      request_trailers: `(call $report ${f.str('count')} (local.get $n)) (i32.const 0)`,
    }));
    const rig = await streamRig([holder], { requestHeaders: post });
    rig.stream.start(false);
    rig.stream.pushRequestData(text('abc'), false);
    rig.stream.pushRequestTrailers(trailers('x-t', '1', 'x-u', '2'));
    assert.deepEqual(rig.log, ['proxy:request-headers', 'holder:count=2', 'proxy:request-body abc', 'proxy:request-trailers x-t 1 x-u 2']);
    assert.equal(rig.stream.headerMap(1)?.get('x-u'), '2');
  });

  it('the last body callback may give a message trailers; filters after it see the body without end, then the trailers (Envoy addEncodedTrailers)', async () => {
    const after = testFilter('after', (f) => ({
      response_body: `(call $report ${f.str('eos')} (local.get $eos)) (i32.const 0)`,
      response_trailers: `(call $report ${f.str('trailers')} (local.get $n)) (i32.const 0)`,
    }));
    const adder = testFilter('adder', (f) => ({
      response_body: `(if (local.get $eos) (then (call $add_header (i32.const 3) ${f.str('x-sum')} ${f.str('3')}))) (i32.const 0)`,
    }));
    const rig = await streamRig([after, adder]); // the response runs adder, then after
    rig.stream.start(true);
    rig.stream.pushResponseHeaders(responseHeaders(200), false);
    rig.stream.pushResponseData(text('abc'), true);
    assert.deepEqual(rig.log.slice(2), ['after:eos=0', 'proxy:response-body abc', 'after:trailers=1', 'proxy:response-trailers x-sum 3']);
  });

  it('a filter that stops on trailers pauses them until it continues', async () => {
    const waiter = testFilter('waiter', () => ({
      request_trailers: '(call $call_out) (i32.const 1)',
      http_call_response: '(call $resume_stream) (call $continue (i32.const 0))',
    }));
    const rig = await streamRig([waiter], { requestHeaders: post });
    rig.stream.start(false);
    rig.stream.pushRequestTrailers(trailers('x-t', '1'));
    await rig.settle();
    assert.ok(!rig.log.some((line) => line.startsWith('proxy:request-trailers')), rig.log.join(', '));
    rig.calls[0]!.done(callAnswer(200));
    await rig.settle();
    assert.equal(rig.log.at(-1), 'proxy:request-trailers x-t 1');
  });

  it('response trailers are the property response.trailers (a map), and carry response.grpc_status', async () => {
    const rig = await streamRig([testFilter('any', () => ({ response_trailers: '(i32.const 0)' }))]);
    rig.stream.start(true);
    assert.equal(rig.stream.getProperty('response.trailers'), undefined);
    rig.stream.pushResponseHeaders(responseHeaders(200, 'content-type', 'application/grpc'), false);
    rig.stream.pushResponseTrailers(trailers('grpc-status', '5'));
    assert.deepEqual(rig.stream.getProperty('response.trailers'), trailers('grpc-status', '5').serialized());
    assert.equal(rig.stream.getProperty('response.grpc_status')![0], 5);
  });
});
