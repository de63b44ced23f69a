// A filter that traps, under both on_error policies. The trapper fixture counts the
// requests its VM has seen in response header x-trapper-vm, so "1" after a trap shows
// that a fresh VM serves the next request.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { header, request, type RequestOptions } from './helpers/http.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

/** A request that traps in `phase`; waits until the trap's message is in the proxy's output. */
async function trapIn(weft: WeftProcess, phase: string, options: RequestOptions = {}) {
  const message = `trapper: trapping in ${phase}`;
  const logged = weft.text.split(message).length - 1;
  const headers = { 'x-trap-in': phase, ...options.headers };
  const response = await request(`${weft.url}/trap/${phase}`, { ...options, headers }).catch((error: Error) => error);
  await weft.waitForOutput((text) => text.split(message).length - 1 > logged, `"${message}" in the log`);
  return response;
}

async function vmCount(weft: WeftProcess): Promise<string | undefined> {
  const response = await request(`${weft.url}/count`);
  assert.equal(response.status, 200);
  return header(response, 'x-trapper-vm');
}

describe('a trapping filter with on_error: fail_closed', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      // One thread: x-trapper-vm numbers the VMs of one worker, and each worker thread has VMs of its own.
      workers: 1,
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [{ name: 'trapper', module: fixtureModule('trapper'), on_error: 'fail_closed' }],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('answers 500 and serves the next request from a fresh VM', async () => {
    assert.equal(await vmCount(weft), '1');
    assert.equal(await vmCount(weft), '2');
    const seen = upstream.requests.length;
    const trapped = await trapIn(weft, 'request_headers');
    assert.ok(!(trapped instanceof Error), `request failed: ${String(trapped)}`);
    assert.equal(trapped.status, 500);
    assert.equal(upstream.requests.length, seen, 'a failed filter stops the request');
    assert.equal(await vmCount(weft), '1');
    assert.equal(await vmCount(weft), '2');
  });

  it('logs a line that names the filter and the trap', () => {
    assert.ok(
      weft.text.split('\n').some((line) => line.includes('trapper') && /unreachable|trap/i.test(line)),
      `no trap line naming the filter in:\n${weft.text}`,
    );
  });

  it('answers 500 for a trap in the request body', async () => {
    await vmCount(weft);
    const trapped = await trapIn(weft, 'request_body', { method: 'POST', body: 'some body' });
    assert.ok(!(trapped instanceof Error), `request failed: ${String(trapped)}`);
    assert.equal(trapped.status, 500);
    assert.equal(await vmCount(weft), '1');
  });

  it('answers 500 for a trap in the response headers', async () => {
    await vmCount(weft);
    const trapped = await trapIn(weft, 'response_headers');
    assert.ok(!(trapped instanceof Error), `request failed: ${String(trapped)}`);
    assert.equal(trapped.status, 500);
    assert.equal(await vmCount(weft), '1');
  });

  it('answers 500 for a bare unreachable instruction too', async () => {
    await vmCount(weft);
    const response = await request(`${weft.url}/bare`, { headers: { 'x-trap-in': 'request_headers', 'x-trap-kind': 'unreachable' } });
    assert.equal(response.status, 500);
    assert.equal(await vmCount(weft), '1');
  });

  for (const phase of ['response_body', 'log']) {
    it(`replaces the VM after a trap in ${phase}`, async () => {
      await vmCount(weft);
      await vmCount(weft);
      // The response may already be on its way when this phase traps, so only the next
      // request is checked.
      await trapIn(weft, phase);
      assert.equal(await vmCount(weft), '1');
    });
  }
});

describe('a trapping filter with on_error: fail_open', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      // One thread: x-trapper-vm numbers the VMs of one worker, and each worker thread has VMs of its own.
      workers: 1,
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [
        { name: 'trapper', module: fixtureModule('trapper'), on_error: 'fail_open' },
        { name: 'after-trapper', module: fixtureModule('tagger'), config: { name: 'after' } },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('skips the filter for that request and the rest of the chain still runs', async () => {
    assert.equal(await vmCount(weft), '1');
    assert.equal(await vmCount(weft), '2');
    const trapped = await trapIn(weft, 'request_headers');
    assert.ok(!(trapped instanceof Error), `request failed: ${String(trapped)}`);
    assert.equal(trapped.status, 200);
    assert.equal(JSON.parse(trapped.body).headers['x-chain'], 'after');
    assert.equal(header(trapped, 'x-chain-resp'), 'after');
    assert.equal(header(trapped, 'x-trapper-vm'), undefined, 'the trapped filter is skipped in the response too');
  });

  it('serves the next request from a fresh VM', async () => {
    assert.equal(await vmCount(weft), '1');
  });
});
