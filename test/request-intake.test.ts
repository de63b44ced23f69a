// The request path before any filter runs (host/proxy/request-intake.ts), against a real
// `weft run`: one normalized path that the auth filter and the upstream both see, framing the
// host refuses, Expect: 100-continue, trusted forwarding, identity headers a client cannot
// forge, and headers a filter cannot use to split a message. Each test asserts what the client
// got and what the upstream saw (or that it saw nothing).

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { effectiveEngine } from './helpers/engine.js';
import { eventually } from './helpers/eventually.js';
import { header, rawRequest, request } from './helpers/http.js';
import { read, TestCa } from './helpers/pki.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';
import { join } from 'node:path';

const KEY = { 'x-api-key': 'k1' };

const auth = {
  name: 'auth',
  module: builtModule(join(repoRoot, 'filters', 'auth')),
  config: {
    api_key: { header: 'x-api-key', keys: [{ key: 'k1', name: 'alice' }] },
    rules: [
      { prefix: '/private/', ignore_case: true, methods: ['api_key'] },
      { prefix: '/admin/', methods: ['api_key'] },
    ],
    default: { methods: [] },
  },
};

/** The status line and the body of a raw HTTP response. */
function statusOf(text: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return match === null ? 0 : Number(match[1]);
}

function bodyOf(text: string): string {
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

/**
 * POST /hello with `Expect: 100-continue`, sending the 5-byte body only once `100 Continue`
 * came (as curl does); resolves with everything the server sent.
 */
function postExpectingContinue(port: number, tlsCa?: Buffer): Promise<string> {
  return new Promise<string>((resolveText, reject) => {
    const head = 'POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n';
    const socket = tlsCa === undefined ? connect(port, '127.0.0.1', () => socket.write(head)) : tlsConnect({ port, host: '127.0.0.1', ca: tlsCa }, () => socket.write(head));
    let received = '';
    let sentBody = false;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (!sentBody && received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sentBody = true;
        socket.write('hello');
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolveText(received));
  });
}

/** The upstream's JSON echo inside a raw response (whatever its framing). */
function echoOf(text: string): { path: string; body: string; headers: Record<string, string | undefined> } {
  const body = bodyOf(text);
  return JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1));
}

describe('request intake: one path, checked framing, trusted headers', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      clusters: [{ name: 'echo', endpoints: [upstream.address] }],
      filters: [auth, { name: 'props', module: fixtureModule('set-props') }],
      chains: {
        open: [{ name: 'props', module: fixtureModule('set-props') }],
        setter: [{ name: 'setter', module: fixtureModule('header-setter'), config: { name: 'x-a', value: 'b\r\nx-b: c' } }],
      },
      routes: [
        { path_prefix: '/open/', chain: 'open' },
        { path_prefix: '/setter/', chain: 'setter' },
      ],
    });
  });
  after(async () => {
    await weft.stop();
    await upstream.stop();
  });

  /** What the upstream saw of the requests made during `run`. */
  async function seenDuring(run: () => Promise<void>): Promise<EchoUpstream['requests']> {
    const before = upstream.requests.length;
    await run();
    return upstream.requests.slice(before);
  }

  // The curl block of issue 12, line by line.
  const spellings = ['/x/../private/x', '/%70rivate/x', '//private/x', '/PRIVATE/x', '/private/./x', '/%2e%2e/private/x'];
  for (const spelling of spellings) {
    test(`${spelling} is /private/x to auth and upstream: 401 without a key, upstream gets /private/x with one`, async () => {
      const seen = await seenDuring(async () => {
        const denied = await rawRequest(weft.port, `GET ${spelling} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
        assert.equal(statusOf(denied), 401, denied);
      });
      assert.equal(seen.length, 0, 'the upstream saw a request auth should have stopped');
      const allowed = await rawRequest(weft.port, `GET ${spelling} HTTP/1.1\r\nHost: a\r\nx-api-key: k1\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(allowed), 200, allowed);
      // The case of the path is the client's (only the rule ignores case).
      assert.equal(echoOf(allowed).path, spelling === '/PRIVATE/x' ? '/PRIVATE/x' : '/private/x');
    });
  }

  test('/private%2fx: 400 naming the escaped slash, the upstream sees nothing', async () => {
    const seen = await seenDuring(async () => {
      const res = await request(`${weft.url}/private%2fx`, { headers: KEY });
      assert.equal(res.status, 400);
      assert.equal(res.body, 'escaped slash (%2F) in path\n');
    });
    assert.equal(seen.length, 0);
    const backslash = await rawRequest(weft.port, 'GET /private\\x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(backslash), 400, backslash);
    assert.match(bodyOf(backslash), /backslash in path/);
    await eventually(async () => weft.accessLog().some((line) => line.status === 400 && line.flags === 'DPE'), Boolean, 'a 400 DPE access log line');
  });

  test('the query is kept as sent; matrix parameters stay, but /public/..;/admin/ is /admin/ to auth', async () => {
    // Raw: node's own client would resolve the dots itself.
    const query = await rawRequest(weft.port, 'GET /open/a/../b?x=/../%2F&y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(echoOf(query).path, '/open/b?x=/../%2F&y');
    const seen = await seenDuring(async () => {
      const denied = await rawRequest(weft.port, 'GET /public/..;/admin/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      assert.equal(statusOf(denied), 401, denied);
    });
    assert.equal(seen.length, 0);
    const allowed = await rawRequest(weft.port, 'GET /public/..;/admin/ HTTP/1.1\r\nHost: a\r\nx-api-key: k1\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(allowed), 200, allowed);
    assert.equal(echoOf(allowed).path, '/public/..;/admin/');
  });

  test('Expect: 100-continue: the client gets 100 Continue, then the upstream answer; the upstream gets the body', async () => {
    const text = await postExpectingContinue(weft.port);
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    const echoed = echoOf(text.slice(text.indexOf('HTTP/1.1 200')));
    assert.equal(echoed.body, 'hello');
    assert.equal(echoed.headers.expect, undefined);
    const line = await eventually(async () => weft.accessLog().find((entry) => entry.method === 'POST' && entry.path === '/hello'), (entry) => entry !== undefined, 'the access log line');
    assert.equal(line!.status, 200);
    assert.equal(line!.flags, '');
  });

  test('an expectation other than 100-continue: 417 naming it, nothing sent upstream', async () => {
    const seen = await seenDuring(async () => {
      const res = await request(`${weft.url}/hello`, { headers: { expect: 'something-else' } });
      assert.equal(res.status, 417);
      assert.equal(res.body, 'unsupported Expect header: something-else\n');
    });
    assert.equal(seen.length, 0);
  });

  test('Host twice: 400, the upstream sees nothing', async () => {
    const seen = await seenDuring(async () => {
      const text = await rawRequest(weft.port, 'GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
      assert.equal(statusOf(text), 400, text);
      assert.equal(bodyOf(text), 'duplicate Host header\n');
    });
    assert.equal(seen.length, 0);
  });

  test('two different Content-Lengths: 400; two equal ones are one', async () => {
    const seen = await seenDuring(async () => {
      const text = await rawRequest(weft.port, 'POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxx');
      assert.equal(statusOf(text), 400, text);
      assert.equal(bodyOf(text), 'conflicting Content-Length headers\n');
    });
    assert.equal(seen.length, 0);
    const same = await rawRequest(weft.port, 'POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxy');
    if (effectiveEngine() === 'node') {
      // node's parser refuses any repeated Content-Length, equal or not (RFC 9112 6.3 allows either).
      assert.equal(statusOf(same), 400, same);
      assert.equal(bodyOf(same), 'conflicting Content-Length headers\n');
      return;
    }
    assert.equal(statusOf(same), 200, same);
    const echoed = echoOf(same);
    assert.equal(echoed.body, 'xy');
    assert.equal(echoed.headers['content-length'], '2');
  });

  test('Content-Length with Transfer-Encoding, and bad header characters, never reach the upstream', async () => {
    const seen = await seenDuring(async () => {
      // uWebSockets.js refuses this one itself (it closes the connection); either way nothing goes on.
      const both = await rawRequest(weft.port, 'POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n');
      assert.notEqual(statusOf(both), 200, both);
      // DEL is no field-vchar; uWebSockets.js passes it on (it never answers lower control characters at all).
      const control = await rawRequest(weft.port, 'GET /hello HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\nConnection: close\r\n\r\n');
      assert.equal(statusOf(control), 400, control);
      assert.equal(bodyOf(control), 'invalid character in header x-a\n');
    });
    assert.equal(seen.length, 0);
  });

  test('a forged x-consumer (or x-weft-*) on a route whose chain skips auth is removed; auth still sets its own', async () => {
    const open = await request(`${weft.url}/open/x`, { headers: { 'x-consumer': 'admin', 'x-weft-role': 'root' } });
    assert.equal(open.status, 200);
    const seen = JSON.parse(open.body);
    assert.equal(seen.path, '/open/x');
    assert.equal(seen.headers['x-consumer'], undefined);
    assert.equal(seen.headers['x-weft-role'], undefined);
    const keyed = await request(`${weft.url}/private/x`, { headers: { ...KEY, 'x-consumer': 'admin' } });
    assert.equal(JSON.parse(keyed.body).headers['x-consumer'], 'alice');
  });

  test('x-forwarded-for, Forwarded and X-Real-IP from the client are replaced by the peer address', async () => {
    const res = await request(`${weft.url}/open/x`, {
      headers: { 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-get-prop': 'source.address' },
    });
    const seen = JSON.parse(res.body);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers.forwarded, undefined);
    assert.equal(seen.headers['x-real-ip'], undefined);
    assert.match(header(res, 'x-prop-source.address') ?? '', /^127\.0\.0\.1/);
  });

  test('a filter setting "x-a: b\\r\\nx-b: c" gets BadArgument every way; neither side sees x-a or x-b', async () => {
    const res = await request(`${weft.url}/setter/x`);
    assert.equal(res.status, 200);
    const refused = 'add=BadArgument,replace=BadArgument,set_pairs=BadArgument';
    assert.equal(header(res, 'x-setter-status'), `request:${refused};response:${refused}`);
    assert.equal(res.headers['x-a'], undefined);
    assert.equal(res.headers['x-b'], undefined);
    const seen = JSON.parse(res.body);
    assert.equal(seen.headers['x-a'], undefined);
    assert.equal(seen.headers['x-b'], undefined);
    await weft.waitForOutput((text) => text.includes('proxy_add_header_map_value: refused header \\"x-a\\"'), 'the log line of the refused header');
  });
});

describe('request intake: settings', () => {
  let upstream: EchoUpstream;

  before(async () => {
    upstream = await EchoUpstream.start();
  });
  after(async () => {
    await upstream.stop();
  });

  test('escaped_slashes: decode reads %2F and \\ as /; merge_slashes: false keeps //', async () => {
    const weft = await startWeft({
      clusters: [{ name: 'echo', endpoints: [upstream.address] }],
      filters: [auth],
      http: { escaped_slashes: 'decode', merge_slashes: false },
    });
    try {
      const denied = await request(`${weft.url}/private%2Fx`);
      assert.equal(denied.status, 401);
      const allowed = await request(`${weft.url}/private%2Fx`, { headers: KEY });
      assert.equal(JSON.parse(allowed.body).path, '/private/x');
      const doubled = await rawRequest(weft.port, 'GET /a//b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      assert.equal(echoOf(doubled).path, '/a//b');
    } finally {
      await weft.stop();
    }
  });

  test('xff_trusted_hops: 1 keeps the last hop, makes it source.address, and keeps Forwarded', async () => {
    const weft = await startWeft({
      clusters: [{ name: 'echo', endpoints: [upstream.address] }],
      filters: [{ name: 'props', module: fixtureModule('set-props') }],
      http: { xff_trusted_hops: 1 },
    });
    try {
      const res = await request(`${weft.url}/x`, { headers: { 'x-forwarded-for': '6.6.6.6, 10.1.2.3', forwarded: 'for=10.1.2.3', 'x-get-prop': 'source.address' } });
      const seen = JSON.parse(res.body);
      assert.equal(seen.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
      assert.equal(seen.headers.forwarded, 'for=10.1.2.3');
      assert.equal(header(res, 'x-prop-source.address'), '10.1.2.3');
    } finally {
      await weft.stop();
    }
  });

  test('a bad http setting is refused at start with its place', async () => {
    const { code, stderr } = await runWeftExpectingExit({
      clusters: [{ name: 'echo', endpoints: [upstream.address] }],
      http: { escaped_slashes: 'ignore', identity_headers: ['x user'] },
    });
    assert.notEqual(code, 0);
    assert.match(stderr, /http\.escaped_slashes.*must be reject, keep or decode, not "ignore"/);
    assert.match(stderr, /http\.identity_headers\[0\]: "x user" is not a header name/);
  });
});

describe('request intake on the TLS listener', () => {
  const ca = TestCa.create();
  const server = ca.server('weft-intake');
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({ listenTls: { cert: server.cert, key: server.key }, clusters: [{ name: 'echo', endpoints: [upstream.address] }], filters: [auth] });
  });
  after(async () => {
    await weft.stop();
    await upstream.stop();
  });

  test('an absolute-form target becomes origin-form, and its host wins over Host', async () => {
    const text = await rawRequest(weft.port, 'GET https://target.example/x/../hello?q=1 HTTP/1.1\r\nHost: wrong.example\r\nConnection: close\r\n\r\n', { tlsCa: read(ca.cert) });
    assert.equal(statusOf(text), 200, text);
    const seen = echoOf(text);
    assert.equal(seen.path, '/hello?q=1');
    assert.equal(seen.headers.host, 'target.example');
    const denied = await rawRequest(weft.port, 'GET https://target.example/%70rivate/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { tlsCa: read(ca.cert) });
    assert.equal(statusOf(denied), 401, denied);
  });

  test('Expect: 100-continue works here too', async () => {
    const text = await postExpectingContinue(weft.port, read(ca.cert));
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    const echoed = echoOf(text.slice(text.indexOf('HTTP/1.1 200')));
    assert.equal(echoed.body, 'hello');
    assert.equal(echoed.headers.expect, undefined);
  });

  test('Host twice and two Content-Lengths: 400 here too', async () => {
    const seen = upstream.requests.length;
    const hosts = await rawRequest(weft.port, 'GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n', { tlsCa: read(ca.cert) });
    assert.equal(statusOf(hosts), 400, hosts);
    const lengths = await rawRequest(weft.port, 'POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxx', { tlsCa: read(ca.cert) });
    assert.equal(statusOf(lengths), 400, lengths);
    assert.equal(upstream.requests.length, seen);
  });
});
