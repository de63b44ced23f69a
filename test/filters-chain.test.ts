// Chains of real filters behind a real `weft run`: order of the request and response
// phases, a local response that ends the chain, and the hello-filter example's manifest.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { header, request } from './helpers/http.js';
import { fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type ManifestInput, type WeftProcess } from './helpers/weft.js';

function tagger(name: string) {
  return { name, module: fixtureModule('tagger'), config: { name } };
}

describe('a chain of three filters', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [tagger('a'), tagger('b'), tagger('c')],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('runs the request phase top to bottom and the response phase bottom to top', async () => {
    const response = await request(`${weft.url}/chain`);
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.path, '/chain');
    assert.equal(echoed.headers['x-chain'], 'a,b,c');
    assert.equal(header(response, 'x-chain-resp'), 'c,b,a');
  });

  it('lets each filter see what the ones before it did', async () => {
    const response = await request(`${weft.url}/chain-again`, { headers: { 'x-chain': 'client' } });
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).headers['x-chain'], 'client,a,b,c');
  });

  it('writes one access-log line per request', async () => {
    await weft.waitForOutput((text) => text.includes('"path":"/chain-again"'), 'the access-log line of /chain-again');
    const line = weft.accessLog().find((entry) => entry.path === '/chain-again');
    assert.ok(line, 'access-log line for /chain-again');
    assert.equal(line.method, 'GET');
    assert.equal(line.status, 200);
    assert.equal(line.upstream, upstream.address);
    assert.equal(line.flags, '');
  });
});

describe('a local response in the middle of a chain', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [
        tagger('a'),
        { name: 'responder', module: fixtureModule('responder'), config: { status: 200, body: 'answered by responder' } },
        tagger('c'),
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('answers the client and reaches neither the later filters nor the upstream', async () => {
    const response = await request(`${weft.url}/stop-here`);
    assert.equal(response.status, 200);
    assert.equal(response.body, 'answered by responder');
    assert.equal(header(response, 'content-type'), 'text/plain');
    // The responder saw only filter a's tag: filter c's request phase never ran.
    assert.equal(header(response, 'x-responder-saw-chain'), 'a');
    // Filter a, before the responder, still sees the response on its way out, last.
    assert.match(header(response, 'x-chain-resp') ?? '', /(^|,)a$/);
    assert.equal(upstream.requests.length, 0);
  });
});

describe('examples/hello-filter', () => {
  const exampleDir = join(repoRoot, 'examples', 'hello-filter');
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    // The example's own manifest, with its addresses swapped for free ports and its module
    // path made absolute (the test writes the manifest elsewhere).
    const manifest = parse(readFileSync(join(exampleDir, 'weft.yaml'), 'utf8')) as ManifestInput & {
      clusters: Array<{ endpoints: string[] }>;
      filters: Array<{ module: string }>;
    };
    delete manifest.listen;
    delete manifest.admin;
    manifest.clusters[0]!.endpoints = [upstream.address];
    for (const filter of manifest.filters) filter.module = resolve(exampleDir, filter.module);
    weft = await startWeft(manifest);
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('adds x-hello from its config to every response', async () => {
    const response = await request(`${weft.url}/`);
    assert.equal(response.status, 200);
    assert.equal(header(response, 'x-hello'), 'hi');
    assert.equal(JSON.parse(response.body).path, '/');
  });

  it('answers 403 itself when x-hello-deny is 1', async () => {
    const seen = upstream.requests.length;
    const response = await request(`${weft.url}/private`, { headers: { 'x-hello-deny': '1' } });
    assert.equal(response.status, 403);
    assert.equal(response.body, 'hello-filter says no\n');
    assert.equal(upstream.requests.length, seen);
  });

  it('logs its configuration through the host', () => {
    assert.match(weft.text, /hello-filter configured with greeting 'hi'/);
  });
});

describe('stream contexts behind a real proxy (context-probe)', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [
        { name: 'every', module: fixtureModule('context-probe'), config: '' },
        { name: 'early', module: fixtureModule('context-probe'), config: 'request-headers' },
        { name: 'late', module: fixtureModule('context-probe'), config: 'headers' },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('creates one context per request and filter and deletes each once, whether the SDK or the host ends it', async () => {
    for (let i = 0; i < 4; i++) {
      const response = await request(`${weft.url}/probe/${i}`);
      assert.equal(response.status, 200);
      assert.match(header(response, 'x-probe-context') ?? '', /^\d+$/);
    }
    const declined = await request(`${weft.url}/probe/declined`, { headers: { 'x-decline': '1' } });
    assert.equal(declined.status, 200);
    assert.equal(header(declined, 'x-probe-context'), undefined);
    const metrics = (await request(`${weft.adminUrl}/metrics`)).body;
    const count = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    for (const filter of ['every', 'early', 'late']) {
      assert.equal(count(`${filter}_contexts_created`), 4, `${filter} created`);
      assert.equal(count(`${filter}_contexts_declined`), 1, `${filter} declined`);
      assert.equal(count(`${filter}_request_headers`), 4, `${filter} request headers`);
      assert.equal(count(`${filter}_contexts_deleted`), 4, `${filter} deleted`);
    }
    assert.equal(count('every_contexts_logged'), 4, 'the filter that declares on_log gets it');
    assert.equal(count('late_contexts_logged'), 0);
    const errors = weft.logLines().filter((line) => (line.level as number) >= 50);
    assert.deepEqual(errors, [], 'no filter trapped or complained');
  });
});
