// HTTP/2 on the downstream side (listen.protocols): h2c by prior knowledge on a plain listener,
// h2 by ALPN on the TLS listener, and HTTP/1.1 still served beside h2 where both are listed.
// The client is node:http2; the upstream is a plain HTTP/1.1 server that echoes what reached it.
// Then the upstream side (cluster protocol h2c): requests multiplexed on one connection.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createH2Server, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from './helpers/http.js';
import { read, TestCa } from './helpers/pki.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

interface H2Answer {
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders;
}

function h2Request(session: ClientHttp2Session, path: string, method = 'GET', body?: string, extra: Record<string, string> = {}): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path, ...extra }, { endStream: body === undefined });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    let text = '';
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => (text += chunk));
    stream.on('end', () => resolve({ headers, body: text, trailers }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

describe('HTTP/2 listeners', () => {
  const ca = TestCa.create();
  const cert = ca.server('weft-listener');
  let upstream: Server;
  let h2c: WeftProcess;
  let both: WeftProcess;
  let tls: WeftProcess;

  before(async () => {
    // Node's own 16 KiB header limit would answer the big-header test's 431 itself.
    upstream = createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
        res.write(`${req.method} ${req.url} host=${req.headers.host} http=${req.httpVersion} body=${body}`);
        res.addTrailers({ 'x-sum': String(body.length) });
        res.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    const manifest = { workers: 1, clusters: [{ name: 'up', endpoints: [`127.0.0.1:${port}`] }], filters: [], limits: { max_request_headers_kb: 128 } };
    [h2c, both, tls] = await Promise.all([
      startWeft({ ...manifest, listenProtocols: ['h2'] }),
      startWeft({ ...manifest, listenProtocols: ['http1', 'h2'] }),
      startWeft({ ...manifest, listenTls: { cert: cert.cert, key: cert.key }, listenProtocols: ['http1', 'h2'] }),
    ]);
  });
  after(async () => {
    await Promise.all([h2c?.stop(), both?.stop(), tls?.stop()]);
    await new Promise((resolve) => upstream?.close(resolve));
  });

  test('h2c by prior knowledge: requests with and without bodies, several streams on one connection', async () => {
    const session = connect(h2c.url);
    try {
      const [get, post] = await Promise.all([h2Request(session, '/a?x=1'), h2Request(session, '/b', 'POST', 'hello')]);
      assert.equal(get.headers[':status'], 200);
      assert.equal(get.body, `GET /a?x=1 host=127.0.0.1:${h2c.port} http=1.1 body=`);
      assert.equal(post.body, `POST /b host=127.0.0.1:${h2c.port} http=1.1 body=hello`);
    } finally {
      session.close();
    }
  });

  test('a plain listener with http1 and h2 serves both on one port', async () => {
    const session = connect(both.url);
    try {
      const answer = await h2Request(session, '/h2');
      assert.equal(answer.headers[':status'], 200);
      assert.match(answer.body, /^GET \/h2 /);
    } finally {
      session.close();
    }
    const h1 = await request(`${both.url}/h1`);
    assert.equal(h1.status, 200);
    assert.match(h1.body, /^GET \/h1 /);
  });

  test('response trailers reach an h2 client', async () => {
    const session = connect(h2c.url);
    try {
      const post = await h2Request(session, '/b', 'POST', 'hello');
      assert.equal(post.trailers['x-sum'], '5');
    } finally {
      session.close();
    }
  });

  test('the TLS listener negotiates h2 by ALPN', async () => {
    const session = connect(`https://127.0.0.1:${tls.port}`, { ca: read(ca.cert) });
    try {
      const answer = await h2Request(session, '/tls', 'POST', 'abc');
      assert.equal(session.alpnProtocol, 'h2');
      assert.equal(answer.headers[':status'], 200);
      assert.match(answer.body, /^POST \/tls .* body=abc$/);
    } finally {
      session.close();
    }
  });

  test('limits.max_request_headers_kb holds on h2, plain and TLS: 125 KiB of headers pass, 150 KiB get the 431', async () => {
    // node:http2 would not send a header block over 64 KiB without maxSendHeaderBlockLength.
    const sessions = [
      connect(`http://127.0.0.1:${h2c.port}`, { maxSendHeaderBlockLength: 1 << 20 }),
      connect(`https://127.0.0.1:${tls.port}`, { ca: read(ca.cert), maxSendHeaderBlockLength: 1 << 20 }),
    ];
    try {
      for (const session of sessions) {
        for (const [count, status] of [[5, 200], [6, 431]] as const) {
          const headers: Record<string, string> = {};
          for (let i = 0; i < count; i++) headers[`x-big-${i}`] = 'a'.repeat(25 * 1024);
          const answer = await h2Request(session, '/big', 'GET', undefined, headers);
          assert.equal(answer.headers[':status'], status, `${count} × 25 KiB of headers: ${answer.body.slice(0, 200)}`);
          if (status === 431) assert.equal(answer.body, 'request headers too large\n');
        }
      }
    } finally {
      for (const session of sessions) session.close();
    }
  });
});

describe('draining an HTTP/2 listener', () => {
  test('SIGTERM: the client gets GOAWAY, its stream in flight finishes, the proxy exits 0', async () => {
    const upstream = createServer((_req, res) => setTimeout(() => res.end('slow answer'), 500));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    const weft = await startWeft({ workers: 1, listenProtocols: ['h2'], clusters: [{ name: 'up', endpoints: [`127.0.0.1:${port}`] }] });
    const session = connect(weft.url);
    try {
      const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
      const inFlight = h2Request(session, '/slow');
      await new Promise((resolve) => setTimeout(resolve, 150)); // the stream is at the upstream
      weft.signal('SIGTERM');
      await goaway;
      const answer = await inFlight;
      assert.equal(answer.headers[':status'], 200);
      assert.equal(answer.body, 'slow answer');
      assert.equal(await weft.waitForExit(), 0);
    } finally {
      session.destroy();
      await weft.stop();
      upstream.close();
    }
  });
});

describe('HTTP/2 upstreams', () => {
  test('a cluster of protocol h2 whose upstream offers only HTTP/1.1 in ALPN: 502, saying so', async () => {
    const ca = TestCa.create('alpn-ca');
    const cert = ca.server('h1-only');
    const upstream = createHttpsServer({ cert: read(cert.cert), key: read(cert.key) }, (_req, res) => res.end('h1'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    const weft = await startWeft({ workers: 1, clusters: [{ name: 'up', protocol: 'h2', tls: { ca: ca.cert }, endpoints: [`127.0.0.1:${port}`] }] });
    try {
      const response = await request(`${weft.url}/x`);
      assert.equal(response.status, 502);
      assert.match(response.body, /did not agree to HTTP\/2 in the TLS handshake \(ALPN: http\/1\.1\)/);
      assert.equal((await request(`${weft.url}/again`)).status, 502, 'and the proxy keeps serving');
    } finally {
      await weft.stop();
      upstream.close();
    }
  });

  test('a cluster of protocol h2c: 50 concurrent requests share one HTTP/2 connection, trailers come back', async () => {
    let sessions = 0;
    let inFlight = 0;
    let mostInFlight = 0;
    const upstream = createH2Server();
    upstream.on('session', () => sessions++);
    upstream.on('stream', (stream, headers) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      // Held until all 50 are in, so that they overlap.
      setTimeout(() => {
        inFlight--;
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-upstream-trailer': 'yes' }));
        stream.end(`h2 ${String(headers[':path'])}`);
      }, 200);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    const weft = await startWeft({ workers: 1, listenProtocols: ['h2'], clusters: [{ name: 'up', protocol: 'h2c', endpoints: [`127.0.0.1:${port}`] }] });
    const session = connect(weft.url);
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => h2Request(session, `/m/${i}`)));
      assert.deepEqual(answers.map((answer) => answer.body), answers.map((_, i) => `h2 /m/${i}`));
      assert.deepEqual(new Set(answers.map((answer) => answer.trailers['x-upstream-trailer'])), new Set(['yes']));
      assert.equal(mostInFlight, 50, 'all 50 at the upstream at once');
      assert.equal(sessions, 1, 'one HTTP/2 connection to the upstream');
    } finally {
      session.close();
      await weft.stop();
      upstream.close();
    }
  });
});
