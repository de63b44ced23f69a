// Which engine serves the plain listener, through a real `weft run`: auto takes uWebSockets.js
// where a binary loads and node:http where none does, saying why once at start; a forced `uws`
// that cannot load is refused with every build's reason; `node` is taken as asked.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadUws } from '../host/proxy/uws-loader.js';
import { request } from './helpers/http.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft } from './helpers/weft.js';
import { freePort } from './helpers/ports.js';

// This process runs on the same Node as the weft it starts, so the loader answers the same here.
const uws = loadUws();

describe('listener engine', () => {
  let upstream: EchoUpstream;
  before(async () => {
    upstream = await EchoUpstream.start();
  });
  after(async () => {
    await upstream.stop();
  });
  const clusters = () => [{ name: 'echo', endpoints: [`127.0.0.1:${upstream.port}`] }];

  test('auto: uWS where a build loads, else node:http with every build\'s reason, logged once', async () => {
    const weft = await startWeft({ clusters: clusters(), filters: [] });
    try {
      const expected = uws.ok ? `listener engine: uWebSockets.js (${uws.build})` : `listener engine: node:http (${uws.reason})`;
      assert.ok(weft.text.includes(expected), `expected "${expected}" in:\n${weft.text}`);
      assert.equal(weft.text.split('listener engine:').length - 1, 1);
      if (!uws.ok) assert.match(uws.reason, /^uWS 20\.57: .+; uWS 20\.30: .+$/);
      assert.equal((await request(`${weft.url}/x`)).status, 200);
    } finally {
      await weft.stop();
    }
  });

  test('node: taken as asked, and the admin API answers', async () => {
    const weft = await startWeft({ listenEngine: 'node', clusters: clusters(), filters: [] });
    try {
      assert.ok(weft.text.includes('listener engine: node:http (listen.engine: node)'), weft.text);
      assert.equal((await request(`${weft.url}/x`)).status, 200);
      assert.equal((await request(`${weft.adminUrl}/healthz`)).body, 'ok');
    } finally {
      await weft.stop();
    }
  });

  test('uws where no build loads: refused at start with each build\'s reason', { skip: uws.ok ? `a uWS build loads here (${uws.ok && uws.build})` : false }, async () => {
    const port = await freePort();
    const { code, stderr } = await runWeftExpectingExit({ listen: { address: `127.0.0.1:${port}`, engine: 'uws' }, clusters: clusters(), filters: [] });
    assert.equal(code, 1);
    assert.match(stderr, /listen\.engine is uws, but no uWebSockets\.js build loads here \(uWS 20\.57: .+; uWS 20\.30: .+\); use auto or node/);
  });

  test('uws where a build loads: taken as asked', { skip: uws.ok ? false : `no uWS build loads here (${uws.ok || uws.reason})` }, async () => {
    const weft = await startWeft({ listenEngine: 'uws', clusters: clusters(), filters: [] });
    try {
      assert.ok(weft.text.includes(`listener engine: uWebSockets.js (listen.engine: uws, ${uws.ok && uws.build})`), weft.text);
      assert.equal((await request(`${weft.url}/x`)).status, 200);
    } finally {
      await weft.stop();
    }
  });
});
