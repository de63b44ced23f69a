// HTTP/1.1 chunked trailers through a real `weft run`: an upstream that ends its body with
// trailers, a client that reads them. The TLS listener (node:https) writes trailers; the plain
// listener (uWebSockets.js) has no API to, so there the body arrives whole and the trailers
// stop at the filters (README: Trailers).

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from './helpers/http.js';
import { read, TestCa } from './helpers/pki.js';
import { fixtureModule } from './helpers/repo.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

describe('response trailers', () => {
  const ca = TestCa.create();
  const cert = ca.server('weft-listener');
  let upstream: Server;
  let tls: WeftProcess;
  let plain: WeftProcess;

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('abc');
      res.addTrailers({ 'x-checksum': 'c1' });
      res.end();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as AddressInfo).port;
    const manifest = { clusters: [{ name: 'up', endpoints: [`127.0.0.1:${port}`] }], filters: [{ name: 'props', module: fixtureModule('set-props') }] };
    tls = await startWeft({ ...manifest, listenTls: { cert: cert.cert, key: cert.key } });
    plain = await startWeft(manifest);
  });
  after(async () => {
    await Promise.all([tls?.stop(), plain?.stop()]);
    await new Promise((resolve) => upstream?.close(resolve));
  });

  test('the TLS listener hands the upstream\'s trailers to the client after the body', async () => {
    const answer = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      const req = httpsRequest(`https://127.0.0.1:${tls.port}/t`, { ca: read(ca.cert), agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk));
        res.on('end', () => resolve({ body, trailers: res.trailers }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(answer.body, 'abc');
    assert.deepEqual(answer.trailers, { 'x-checksum': 'c1' });
  });

  test('the plain listener delivers the whole body (uWS cannot write trailers)', async () => {
    const response = await request(`${plain.url}/t`);
    assert.equal(response.status, 200);
    assert.equal(response.body, 'abc');
  });
});
