// A filter whose proxy_on_vm_start or proxy_on_configure answers false keeps `weft run`
// from starting, and the error names the filter.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from './helpers/http.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft } from './helpers/weft.js';

describe('filter start-up results', () => {
  let upstream: EchoUpstream;

  before(async () => {
    upstream = await EchoUpstream.start();
  });
  after(async () => {
    await upstream?.stop();
  });

  const manifest = (filter: Record<string, unknown>) => ({
    clusters: [{ name: 'web', endpoints: [upstream.address] }],
    filters: [filter],
  });

  it('refuses to start when proxy_on_vm_start returns false', async () => {
    const { code, stderr, stdout } = await runWeftExpectingExit(manifest({ name: 'never-starts', module: fixtureModule('vm-start-false') }));
    assert.equal(code, 1);
    assert.match(stderr, /never-starts/, `stderr does not name the filter:\n${stderr}${stdout}`);
    assert.match(stderr, /vm_start|vm start/i);
  });

  it('refuses to start when proxy_on_configure returns false', async () => {
    const { code, stderr, stdout } = await runWeftExpectingExit(
      manifest({ name: 'picky', module: fixtureModule('configure-false'), config: 'reject' }),
    );
    assert.equal(code, 1);
    assert.match(stderr, /picky/, `stderr does not name the filter:\n${stderr}${stdout}`);
    assert.match(stderr, /configure/i);
  });

  it('starts when proxy_on_configure returns true', async () => {
    const weft = await startWeft(manifest({ name: 'picky', module: fixtureModule('configure-false'), config: 'accept' }));
    try {
      const response = await request(`${weft.url}/fine`);
      assert.equal(response.status, 200);
      assert.equal(JSON.parse(response.body).path, '/fine');
    } finally {
      await weft.stop();
    }
  });
});
