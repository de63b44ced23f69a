// Pause and resume through http_call: the pauser fixture holds each request while it asks
// an "auth" cluster (a second real upstream), then resumes, denies or fails it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { header, request } from './helpers/http.js';
import { freePort } from './helpers/ports.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

describe('a filter paused on an http_call', () => {
  let web: EchoUpstream;
  let auth: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    web = await EchoUpstream.start();
    auth = await EchoUpstream.start();
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [web.address] },
        { name: 'auth', endpoints: [auth.address] },
      ],
      default_cluster: 'web',
      filters: [{ name: 'pauser', module: fixtureModule('pauser'), config: { cluster: 'auth', path: '/auth', deny_status: 401 } }],
    });
  });
  after(async () => {
    await weft?.stop();
    await web?.stop();
    await auth?.stop();
  });

  it('resumes the request from the callback, with what the callout answered', async () => {
    auth.status = 204;
    auth.delayMs = 0;
    const authBefore = auth.requests.length;
    const response = await request(`${weft.url}/resource?id=7`);
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.path, '/resource?id=7');
    assert.equal(echoed.headers['x-callout-status'], '204');
    const callouts = auth.since(authBefore);
    assert.equal(callouts.length, 1);
    assert.equal(callouts[0]!.method, 'GET');
    assert.equal(callouts[0]!.path, '/auth');
    assert.equal(callouts[0]!.headers['x-original-path'], '/resource?id=7');
  });

  it('holds several requests at once and resumes each with its own callout', async () => {
    auth.status = 200;
    auth.delayMs = 100;
    const paths = [0, 1, 2, 3, 4].map((i) => `/parallel/${i}`);
    const responses = await Promise.all(paths.map((path) => request(`${weft.url}${path}`)));
    for (const [i, response] of responses.entries()) {
      assert.equal(response.status, 200);
      const echoed = JSON.parse(response.body);
      assert.equal(echoed.path, paths[i]);
      assert.equal(echoed.headers['x-callout-status'], '200');
    }
  });

  it('answers 403 from the callback when the callout says deny_status', async () => {
    auth.status = 401;
    auth.delayMs = 0;
    const webBefore = web.requests.length;
    const response = await request(`${weft.url}/forbidden`);
    assert.equal(response.status, 403);
    assert.equal(response.body, 'denied by callout');
    assert.equal(web.requests.length, webBefore);
  });
});

describe('an http_call that fails', () => {
  let web: EchoUpstream;
  let failClosed: WeftProcess;
  let carryOn: WeftProcess;

  before(async () => {
    web = await EchoUpstream.start();
    const clusters = [
      { name: 'web', endpoints: [web.address] },
      { name: 'dead', endpoints: [`127.0.0.1:${await freePort()}`], connect_timeout_ms: 1000 }, // nothing listens there
    ];
    const pauser = (config: Record<string, unknown>) => [{ name: 'pauser', module: fixtureModule('pauser'), config }];
    failClosed = await startWeft({ clusters, default_cluster: 'web', filters: pauser({ cluster: 'dead', fail_on_callout_error: true }) });
    carryOn = await startWeft({ clusters, default_cluster: 'web', filters: pauser({ cluster: 'dead' }) });
  });
  after(async () => {
    await failClosed?.stop();
    await carryOn?.stop();
    await web?.stop();
  });

  it('reaches the callback as a failure, which can answer 503', async () => {
    const webBefore = web.requests.length;
    const response = await request(`${failClosed.url}/needs-auth`);
    assert.equal(response.status, 503);
    assert.equal(response.body, 'callout failed');
    assert.equal(web.requests.length, webBefore);
  });

  it('reaches the callback as a failure, which can let the request go on', async () => {
    const response = await request(`${carryOn.url}/best-effort`);
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).headers['x-callout-status'], 'failed');
    assert.equal(header(response, 'content-type'), 'application/json');
  });
});
