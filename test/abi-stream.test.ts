// The chain's side of the ABI in its corners: pauses and continues, local responses at awkward
// moments, what each filter is handed. Real VMs (small WAT filters, test/helpers/stream-harness.ts)
// in a real chain; a recording owner stands in for the proxy. Each expectation names the spec
// line or the Envoy behaviour it follows.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
