// TLS and mutual TLS with certificates the test makes: the listener (plain TLS, mTLS accepted and
// refused, the caller's identity visible to a filter), TLS and mTLS to the upstream, and
// certificate reload under load without a failed request.

import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest, createServer as createHttpsServer, type RequestOptions, type Server } from 'node:https';
import { createSecureServer as createSecureHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { fixtureModule } from './helpers/repo.js';
import { read, TestCa } from './helpers/pki.js';
import { request } from './helpers/http.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  peerFingerprint: string;
}

function httpsGet(url: string, options: RequestOptions & { headers?: Record<string, string> } = {}): Promise<TlsResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent: false, ...options }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerFingerprint: fingerprint }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS listener', () => {
  const ca = TestCa.create();
  const otherCa = TestCa.create('other-ca');
  const server = ca.server('weft-listener');
  const client = ca.client('svc-a');
  const stranger = otherCa.client('mallory');
  let upstream: EchoUpstream;
  let mtls: WeftProcess;
  let plain: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    const clusters = [{ name: 'echo', endpoints: [`127.0.0.1:${upstream.port}`] }];
    const filters = [{ name: 'props', module: fixtureModule('set-props') }];
    mtls = await startWeft({ listenTls: { cert: server.cert, key: server.key, ca: ca.cert, require_client_cert: true }, clusters, filters });
    plain = await startWeft({ listenTls: { cert: server.cert, key: server.key }, clusters, filters });
  });
  after(async () => {
    await Promise.all([mtls.stop(), plain.stop()]);
    await upstream.stop();
  });

  test('plain TLS: served over https, the upstream sees x-forwarded-proto https', async () => {
    const res = await httpsGet(`https://127.0.0.1:${plain.port}/hello`, { ca: read(ca.cert) });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).headers['x-forwarded-proto'], 'https');
    const props = await httpsGet(`https://127.0.0.1:${plain.port}/p`, { ca: read(ca.cert), headers: { 'x-get-prop': 'connection.mtls,request.scheme,source.principal' } });
    assert.equal(props.headers['x-prop-connection.mtls'], 'hex:00');
    assert.equal(props.headers['x-prop-request.scheme'], 'https');
    assert.equal(props.headers['x-prop-source.principal'], 'missing');
  });

  test('plain TLS: source.address is ip:port of the peer, source.port, destination.address, connection.id per connection (Envoy forms)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: read(ca.cert) });
    const names = 'source.address,source.port,destination.address,connection.id';
    const ask = () =>
      new Promise<{ headers: Record<string, unknown>; clientPort: number }>((resolve, reject) => {
        const req = httpsRequest(`https://127.0.0.1:${plain.port}/props`, { agent, headers: { 'x-get-prop': names } }, (res) => {
          const clientPort = res.socket.localPort!;
          res.resume();
          res.on('end', () => resolve({ headers: res.headers, clientPort }));
        });
        req.on('error', reject);
        req.end();
      });
    const int = (hex: unknown) => Number(Buffer.from(String(hex).slice(4), 'hex').readBigUInt64LE(0));
    try {
      const first = await ask();
      const second = await ask();
      assert.equal(second.clientPort, first.clientPort, 'one keep-alive connection');
      assert.equal(first.headers['x-prop-source.address'], `127.0.0.1:${first.clientPort}`);
      assert.equal(int(first.headers['x-prop-source.port']), first.clientPort);
      assert.equal(first.headers['x-prop-destination.address'], `127.0.0.1:${plain.port}`);
      assert.equal(second.headers['x-prop-connection.id'], first.headers['x-prop-connection.id']);
      const other = await httpsGet(`https://127.0.0.1:${plain.port}/props`, { ca: read(ca.cert), headers: { 'x-get-prop': names } });
      assert.notEqual(other.headers['x-prop-connection.id'], first.headers['x-prop-connection.id']);
    } finally {
      agent.destroy();
    }
  });

  test("mTLS: a client certificate from the CA is accepted and its identity reaches filters", async () => {
    const res = await httpsGet(`https://127.0.0.1:${mtls.port}/who`, {
      ca: read(ca.cert),
      cert: read(client.cert),
      key: read(client.key),
      headers: { 'x-get-prop': 'connection.mtls,source.principal,connection.uri_san_peer_certificate,connection.subject_peer_certificate,connection.tls_version' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-prop-connection.mtls'], 'hex:01');
    assert.equal(res.headers['x-prop-source.principal'], 'spiffe://weft.test/svc-a');
    assert.equal(res.headers['x-prop-connection.uri_san_peer_certificate'], 'spiffe://weft.test/svc-a');
    assert.equal(res.headers['x-prop-connection.subject_peer_certificate'], 'O=weft,CN=svc-a');
    assert.match(String(res.headers['x-prop-connection.tls_version']), /^TLSv1\.[23]$/);
  });

  test('mTLS: no client certificate, or one from another CA, is refused', async () => {
    await assert.rejects(httpsGet(`https://127.0.0.1:${mtls.port}/x`, { ca: read(ca.cert) }));
    await assert.rejects(httpsGet(`https://127.0.0.1:${mtls.port}/x`, { ca: read(ca.cert), cert: read(stranger.cert), key: read(stranger.key) }));
  });
});

describe('TLS to the upstream', () => {
  const ca = TestCa.create();
  const upstreamCert = ca.server('upstream');
  const proxyIdentity = ca.client('weft-sidecar');
  let server: Server;
  let port: number;

  before(async () => {
    // An upstream that requires a client certificate and answers with the caller's identity.
    server = createHttpsServer({ cert: read(upstreamCert.cert), key: read(upstreamCert.key), ca: read(ca.cert), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(JSON.stringify({ caller: peer.subject?.CN ?? null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  test('the proxy presents its client certificate (mTLS upstream)', async () => {
    const weft = await startWeft({ clusters: [{ name: 'secure', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert, cert: proxyIdentity.cert, key: proxyIdentity.key } }], filters: [] });
    try {
      const res = await fetch(`${weft.url}/x`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { caller: 'weft-sidecar' });
    } finally {
      await weft.stop();
    }
  });

  test('a new client certificate is used once its files change, without a restart', async () => {
    const renewed = ca.client('weft-sidecar-renewed');
    const live = { cert: join(ca.dir, 'sidecar-live.crt'), key: join(ca.dir, 'sidecar-live.key') };
    copyFileSync(proxyIdentity.cert, live.cert);
    copyFileSync(proxyIdentity.key, live.key);
    const weft = await startWeft({ clusters: [{ name: 'secure', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert, ...live } }], filters: [] });
    try {
      assert.deepEqual(await (await fetch(`${weft.url}/x`)).json(), { caller: 'weft-sidecar' });
      copyFileSync(renewed.key, live.key);
      copyFileSync(renewed.cert, live.cert);
      // Every worker thread reloads its own pools: wait for each one's line.
      await weft.waitForOutput((text) => text.split('upstream tls certificate reloaded').length - 1 >= weft.workers, 'the reload log line of every worker', 5000);
      assert.deepEqual(await (await fetch(`${weft.url}/x`)).json(), { caller: 'weft-sidecar-renewed' });
      writeFileSync(live.cert, 'not a certificate');
      await weft.waitForOutput((text) => text.split('upstream tls certificate refused').length - 1 >= weft.workers, 'the refusal log line of every worker', 5000);
      assert.deepEqual(await (await fetch(`${weft.url}/x`)).json(), { caller: 'weft-sidecar-renewed' }, 'the previous certificate keeps serving');
    } finally {
      await weft.stop();
    }
  });

  test('without a client certificate the upstream refuses: 502 UF naming the alert, logged and counted', async () => {
    const weft = await startWeft({ clusters: [{ name: 'secure', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert } }], filters: [] });
    try {
      const res = await fetch(`${weft.url}/x`);
      assert.equal(res.status, 502);
      assert.equal(await res.text(), 'upstream TLS handshake failed, refused by the upstream: tlsv13 alert certificate required\n');
      await weft.waitForOutput((text) => text.includes('"msg":"upstream tls handshake failed"'), 'the handshake log line');
      const logged = weft.logLines().find((line) => line.msg === 'upstream tls handshake failed')!;
      assert.deepEqual([logged.cluster, logged.endpoint, logged.side, logged.detail], ['secure', `127.0.0.1:${port}`, 'upstream', 'tlsv13 alert certificate required']);
      await weft.waitForOutput((text) => text.includes('"flags":"UF"'), 'the access-log line');
      assert.equal(weft.accessLog().at(-1)!.reason, 'upstream TLS handshake failed, refused by the upstream: tlsv13 alert certificate required');
    } finally {
      await weft.stop();
    }
  });

  test('a client certificate the upstream does not trust: 502 UF saying so, in the log, the access log and /metrics', async () => {
    const stranger = TestCa.create('stranger-ca').client('weft-impostor');
    const weft = await startWeft({ clusters: [{ name: 'secure', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert, cert: stranger.cert, key: stranger.key } }], filters: [] });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${weft.url}/x/${i}`);
        assert.equal(res.status, 502);
        // A Node upstream refuses a TLS 1.3 client certificate by closing, without an alert.
        assert.match(await res.text(), /^upstream TLS handshake failed, refused by the upstream: it closed the connection after the handshake without accepting it/);
      }
      await weft.waitForOutput((text) => text.includes('"msg":"upstream tls handshake failed"'), 'the handshake log line (once a second at most)');
      const line = weft.accessLog().find((entry) => entry.path === '/x/0')!;
      assert.equal(line.flags, 'UF');
      assert.match(line.reason ?? '', /refused by the upstream: it closed the connection after the handshake without accepting it/);
      const metrics = await (await fetch(`${weft.adminUrl}/metrics`)).text();
      assert.match(metrics, /^weft_upstream_tls_failures_total\{cluster="secure",side="upstream"\} 2$/m);
    } finally {
      await weft.stop();
    }
  });
});

test('an HTTP/2 upstream that does not trust the client certificate: 502 UF saying so, not a reset', async () => {
  const ca = TestCa.create();
  const upstreamCert = ca.server('h2-upstream');
  const stranger = TestCa.create('stranger-ca').client('weft-impostor');
  const server = createSecureHttp2Server({ cert: read(upstreamCert.cert), key: read(upstreamCert.key), ca: read(ca.cert), requestCert: true, rejectUnauthorized: true }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const weft = await startWeft({ clusters: [{ name: 'secure-h2', protocol: 'h2', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert, cert: stranger.cert, key: stranger.key } }], filters: [] });
  try {
    const res = await fetch(`${weft.url}/x`);
    assert.equal(res.status, 502);
    assert.match(await res.text(), /^upstream TLS handshake failed, refused by the upstream: it closed the connection after the handshake without accepting it/);
    await weft.waitForOutput((text) => text.includes('"flags":"UF"'), 'the access-log line');
  } finally {
    await weft.stop();
    server.close();
  }
});

test('an upstream that accepted the client certificate (its session tickets came) and then drops the request is a reset, not a TLS failure', async () => {
  const ca = TestCa.create();
  const upstreamCert = ca.server('dropper');
  const proxyIdentity = ca.client('weft-sidecar');
  const dropper = createHttpsServer({ cert: read(upstreamCert.cert), key: read(upstreamCert.key), ca: read(ca.cert), requestCert: true, rejectUnauthorized: true }, (req) => {
    setTimeout(() => req.socket.destroy(), 50);
  });
  await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
  const port = (dropper.address() as AddressInfo).port;
  const weft = await startWeft({ clusters: [{ name: 'secure', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert, cert: proxyIdentity.cert, key: proxyIdentity.key } }], filters: [] });
  try {
    const res = await request(`${weft.url}/drop`);
    assert.equal(res.status, 502);
    assert.equal(res.body, 'upstream reset the connection\n');
    await weft.waitForOutput((text) => text.includes('"flags":"UR"'), 'the UR access-log line');
    assert.ok(!weft.text.includes('upstream tls handshake failed'));
  } finally {
    await weft.stop();
    dropper.close();
  }
});

describe('the name an upstream certificate is checked against', () => {
  const ca = TestCa.create();
  const upstreamCert = ca.server('upstream-internal', 'DNS:upstream.internal');
  const proxyIdentity = ca.client('weft-sidecar');
  let server: Server;
  let port: number;

  before(async () => {
    // Answers with the name the proxy asked for (SNI), which must be the cluster's servername.
    server = createHttpsServer({ cert: read(upstreamCert.cert), key: read(upstreamCert.key), ca: read(ca.cert), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.end(JSON.stringify({ sni: (req.socket as TLSSocket).servername, host: req.headers.host }));
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());
  let handshakes = 0;

  function clusterWith(servername: string) {
    return { name: 'secure', endpoints: [`127.0.0.1:${port}`], tls: { ca: ca.cert, cert: proxyIdentity.cert, key: proxyIdentity.key, servername } };
  }

  test("is the cluster's servername, whatever Host the client sends", async () => {
    const weft = await startWeft({ clusters: [clusterWith('upstream.internal')], filters: [] });
    try {
      const before = handshakes;
      for (const host of ['localhost', 'upstream.internal', 'evil.example', 'localhost']) {
        const res = await request(`${weft.url}/x`, { headers: { host } });
        assert.equal(res.status, 200, `Host: ${host}: ${res.body}`);
        assert.deepEqual(JSON.parse(res.body), { sni: 'upstream.internal', host });
      }
      // Each worker thread keeps its own upstream connections: at most one each.
      assert.ok(handshakes - before >= 1 && handshakes - before <= weft.workers, `${handshakes - before} TLS connections for ${weft.workers} workers: one kept alive per worker, whatever the Host`);
    } finally {
      await weft.stop();
    }
  });

  test('a client cannot make a wrong servername pass by sending the name the certificate has', async () => {
    const weft = await startWeft({ clusters: [clusterWith('other.internal')], filters: [] });
    try {
      const res = await request(`${weft.url}/x`, { headers: { host: 'upstream.internal' } });
      assert.equal(res.status, 502, res.body);
      assert.match(res.body, /^upstream TLS handshake failed, refused by weft \(the upstream's certificate does not verify\): ERR_TLS_CERT_ALTNAME_INVALID: .*other\.internal/);
      await weft.waitForOutput((text) => text.includes('"side":"weft"'), 'the handshake log line');
      const metrics = await (await fetch(`${weft.adminUrl}/metrics`)).text();
      assert.match(metrics, /^weft_upstream_tls_failures_total\{cluster="secure",side="weft"\} 1$/m);
    } finally {
      await weft.stop();
    }
  });
});

describe('certificate reload', () => {
  test('a new certificate is served without a restart and without a failed request; a bad one is refused', async () => {
    const ca = TestCa.create();
    const first = ca.server('first');
    const second = ca.server('second');
    const live = { cert: join(ca.dir, 'live.crt'), key: join(ca.dir, 'live.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    const upstream = await EchoUpstream.start();
    const weft = await startWeft({ listenTls: { cert: live.cert, key: live.key }, clusters: [{ name: 'echo', endpoints: [`127.0.0.1:${upstream.port}`] }], filters: [] });
    const url = `https://127.0.0.1:${weft.port}/r`;
    const caBytes = read(ca.cert);
    try {
      const before = (await httpsGet(url, { ca: caBytes })).peerFingerprint;
      // Load: new connections back to back while the files change underneath.
      let failures = 0;
      let served = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          try {
            const res = await httpsGet(url, { ca: caBytes });
            if (res.status === 200) served++;
            else failures++;
          } catch {
            failures++;
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      copyFileSync(second.key, live.key);
      copyFileSync(second.cert, live.cert);
      await weft.waitForOutput((text) => text.includes('tls certificate reloaded'), 'the reload log line', 5000);
      await new Promise((r) => setTimeout(r, 300));
      running = false;
      await load;
      assert.equal(failures, 0, `${failures} requests failed during the reload (${served} served)`);
      assert.ok(served > 10, `only ${served} requests were served`);
      const after = (await httpsGet(url, { ca: caBytes })).peerFingerprint;
      assert.notEqual(after, before, 'the new certificate is served');

      writeFileSync(live.cert, 'not a certificate');
      await weft.waitForOutput((text) => text.includes('tls certificate refused'), 'the refusal log line', 5000);
      const still = await httpsGet(url, { ca: caBytes });
      assert.equal(still.status, 200);
      assert.equal(still.peerFingerprint, after, 'the previous certificate keeps serving');
    } finally {
      await weft.stop();
      await upstream.stop();
    }
  });
});
