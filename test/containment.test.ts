// Containing misbehaving filters, through the real `weft run`: a filter that never returns is
// stopped by its fuel budget, one that allocates without end by its memory cap, and one that
// traps on every request is put in a cool-down instead of costing a VM rebuild per request.
// Both on_error policies apply to all of it. One proxy serves every case, each filter in a
// chain of its own picked by path prefix.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseManifest } from '../host/config/load.js';
import { AdminClient } from './helpers/admin.js';
import { header, request, type HttpResponse } from './helpers/http.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

/** Fuel of the loopers, and how long it can last: 1 unit per ns is below V8's slowest tier here (3.8). */
const LOOPER_FUEL = 20_000_000;
const LOOPER_BUDGET_MS = LOOPER_FUEL / 1e6;
const COOLDOWN = { traps: 3, window_ms: 10_000, cooldown_ms: 1500 };

describe('containing filters', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let admin: AdminClient;

  before(async () => {
    upstream = await EchoUpstream.start();
    const looper = fixtureModule('looper');
    const trapper = fixtureModule('trapper');
    weft = await startWeft({
      // One thread: a trap cool-down counts the traps of one VM, and each worker thread has VMs of its own.
      workers: 1,
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [{ name: 'looper', module: looper, on_error: 'fail_closed', fuel: LOOPER_FUEL }],
      chains: {
        open: [{ name: 'looper-open', module: looper, on_error: 'fail_open', fuel: LOOPER_FUEL }],
        hog: [{ name: 'hog', module: fixtureModule('hog'), on_error: 'fail_closed', max_memory_mb: 16 }],
        trap: [{ name: 'trapper', module: trapper, on_error: 'fail_closed', trap_cooldown: COOLDOWN }],
        'trap-open': [{ name: 'trapper-open', module: trapper, on_error: 'fail_open', trap_cooldown: COOLDOWN }],
      },
      routes: [
        { path_prefix: '/open/', chain: 'open' },
        { path_prefix: '/hog/', chain: 'hog' },
        { path_prefix: '/trap/', chain: 'trap' },
        { path_prefix: '/trap-open/', chain: 'trap-open' },
      ],
    });
    admin = new AdminClient(weft.adminUrl);
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  /** Log lines (pino, parsed) of one filter whose message contains `text`. */
  const logged = (filter: string, text: string) => weft.logLines().filter((line) => line.filter === filter && String(line.msg).includes(text));

  async function timed(path: string, headers: Record<string, string> = {}): Promise<{ response: HttpResponse; ms: number }> {
    const started = performance.now();
    const response = await request(`${weft.url}${path}`, { headers });
    return { response, ms: performance.now() - started };
  }

  it('answers 500 within 100 ms of the budget when a fail_closed filter loops forever, then serves the next request', async () => {
    assert.equal((await request(`${weft.url}/warm-up`)).status, 200);
    const seen = upstream.requests.length;
    const { response, ms } = await timed('/spin', { 'x-loop': '1' });
    assert.equal(response.status, 500);
    assert.ok(ms < LOOPER_BUDGET_MS + 100, `answered after ${ms.toFixed(0)} ms (budget at most ${LOOPER_BUDGET_MS} ms)`);
    assert.equal(upstream.requests.length, seen, 'a failed fail_closed filter stops the request');
    await weft.waitForOutput(() => logged('looper', `ran out of fuel (its budget is ${LOOPER_FUEL} units per call)`).length === 1, 'the out-of-fuel log line');
    assert.equal((await request(`${weft.url}/after`)).status, 200);
    await weft.waitForOutput(() => logged('looper', 'replaced a trapped VM').length === 1, 'a fresh VM for the next request');
    const access = weft.accessLog().find((line) => line.path === '/spin');
    assert.equal(access?.flags, 'WF');
  });

  it('keeps the limits in the chain spec; a swap that changes them starts the filter with the new ones', async () => {
    const { revision: _revision, ...spec } = await admin.chain();
    const looper = spec.filters[0] as Record<string, unknown>;
    assert.equal(looper.fuel, LOOPER_FUEL, 'the manifest import keeps fuel');
    const hog = ((spec.chains as Record<string, Array<Record<string, unknown>>>).hog)[0]!;
    assert.equal(hog.max_memory_mb, 16);
    assert.equal(hog.fuel, undefined, 'defaults are not written into the spec');
    const swapped = await admin.putChain({ ...spec, filters: [{ ...looper, fuel: LOOPER_FUEL / 2 }] });
    assert.equal(swapped.status, 200, swapped.text);
    assert.equal((await request(`${weft.url}/spin`, { headers: { 'x-loop': '1' } })).status, 500);
    await weft.waitForOutput(() => logged('looper', `its budget is ${LOOPER_FUEL / 2} units per call`).length === 1, 'the new budget in the trap line');
  });

  it('lets the request through when the looping filter is fail_open', async () => {
    const seen = upstream.requests.length;
    const { response, ms } = await timed('/open/spin', { 'x-loop': '1' });
    assert.equal(response.status, 200);
    assert.ok(ms < LOOPER_BUDGET_MS + 100, `answered after ${ms.toFixed(0)} ms`);
    assert.equal(upstream.requests.length, seen + 1);
    await weft.waitForOutput(() => logged('looper-open', 'ran out of fuel').length === 1, 'the out-of-fuel log line');
    assert.equal((await request(`${weft.url}/open/after`)).status, 200);
  });

  it('caps a filter that allocates without end at max_memory_mb: 500, then a fresh VM', async () => {
    const hogged = await request(`${weft.url}/hog/all`, { headers: { 'x-hog': 'forever' } });
    assert.equal(hogged.status, 500);
    await weft.waitForOutput(() => logged('hog', 'after max_memory_mb (16) refused to grow its memory').length === 1, 'the memory cap in the trap line');
    // 4 MiB fit under the cap in a fresh VM, which holds only those.
    const modest = await request(`${weft.url}/hog/some`, { headers: { 'x-hog': '4' } });
    assert.equal(modest.status, 200);
    assert.equal(header(modest, 'x-hog-kept-mb'), '4');
  });

  it('puts a fail_closed filter that traps on every request in a cool-down: 500 at once, no VM rebuilt, then a fresh VM', async () => {
    for (let i = 0; i < COOLDOWN.traps; i++) {
      assert.equal((await request(`${weft.url}/trap/x`, { headers: { 'x-trap-in': 'request_headers' } })).status, 500);
    }
    await weft.waitForOutput(() => logged('trapper', 'trapped 3 times within 10000 ms: cooling down for 1500 ms, requests get 500 (fail_closed)').length === 1, 'the cool-down log line');
    assert.equal(await admin.metric('weft_filter_cooldowns_total{filter="trapper"}'), 1);
    assert.equal(await admin.metric('weft_filters_cooling_down'), 1);
    const rebuilds = logged('trapper', 'replaced a trapped VM').length;
    const seen = upstream.requests.length;
    for (let i = 0; i < 5; i++) {
      const { response, ms } = await timed('/trap/calm');
      assert.equal(response.status, 500, 'the cool-down answers 500 without calling the filter');
      assert.ok(ms < 100, `took ${ms.toFixed(0)} ms`);
    }
    assert.equal(upstream.requests.length, seen);
    assert.equal(logged('trapper', 'replaced a trapped VM').length, rebuilds, 'no VM was rebuilt during the cool-down');
    assert.equal(await admin.metric('weft_filter_traps_total{filter="trapper"}'), COOLDOWN.traps, 'refused requests are not traps');

    await weft.waitForOutput(() => logged('trapper', 'cool-down over').length === 1, 'the end of the cool-down', COOLDOWN.cooldown_ms + 3000);
    assert.equal(await admin.metric('weft_filters_cooling_down'), 0);
    const served = await request(`${weft.url}/trap/calm`);
    assert.equal(served.status, 200);
    assert.equal(header(served, 'x-trapper-vm'), '1', 'a fresh VM serves after the cool-down');
  });

  it('skips a fail_open filter in its cool-down, then calls a fresh VM again', async () => {
    for (let i = 0; i < COOLDOWN.traps; i++) {
      assert.equal((await request(`${weft.url}/trap-open/x`, { headers: { 'x-trap-in': 'request_headers' } })).status, 200);
    }
    await weft.waitForOutput(() => logged('trapper-open', 'cooling down for 1500 ms, requests skip it (fail_open)').length === 1, 'the cool-down log line');
    assert.equal(await admin.metric('weft_filter_cooldowns_total{filter="trapper-open"}'), 1);
    const skipped = await request(`${weft.url}/trap-open/calm`);
    assert.equal(skipped.status, 200);
    assert.equal(header(skipped, 'x-trapper-vm'), undefined, 'the filter is skipped during its cool-down');
    await weft.waitForOutput(() => logged('trapper-open', 'cool-down over').length === 1, 'the end of the cool-down', COOLDOWN.cooldown_ms + 3000);
    const served = await request(`${weft.url}/trap-open/calm`);
    assert.equal(header(served, 'x-trapper-vm'), '1');
  });
});

describe("the manifest's containment keys", () => {
  const manifest = (filter: string) => `listen: 127.0.0.1:8080\nclusters: [{ name: web, endpoints: ['127.0.0.1:1'] }]\nfilters: [${filter}]\n`;
  const parse = (filter: string) => parseManifest(manifest(filter), { baseDir: '/', env: {} });

  it('are optional, and kept only when given', () => {
    const result = parse("{ name: f, module: /f.wasm, fuel: '5000', max_memory_mb: 8, trap_cooldown: { traps: 2 } }");
    assert.ok(result.ok, JSON.stringify(result));
    const [filter] = result.manifest.filters;
    assert.equal(filter!.fuel, 5000);
    assert.equal(filter!.max_memory_mb, 8);
    assert.deepEqual(filter!.trap_cooldown, { traps: 2 });
    const plain = parse('{ name: f, module: /f.wasm }');
    assert.ok(plain.ok);
    assert.ok(!('fuel' in plain.manifest.filters[0]!) && !('trap_cooldown' in plain.manifest.filters[0]!));
    assert.ok(!('vm_id' in plain.manifest.filters[0]!) && !('quotas' in plain.manifest.filters[0]!));
    const isolation = parse('{ name: f, module: /f.wasm, vm_id: mesh, cpu_budget_ms_per_s: 50, quotas: { queue_depth: 5, log_lines_per_s: 0 } }');
    assert.ok(isolation.ok, JSON.stringify(isolation));
    assert.equal(isolation.manifest.filters[0]!.vm_id, 'mesh');
    assert.equal(isolation.manifest.filters[0]!.cpu_budget_ms_per_s, 50);
    assert.deepEqual(isolation.manifest.filters[0]!.quotas, { queue_depth: 5, log_lines_per_s: 0 });
  });

  it('refuse values that are not limits, naming the key', () => {
    const result = parse("{ name: f, module: /f.wasm, fuel: 0, max_memory_mb: lots, trap_cooldown: { trap: 3 }, vm_id: '', quotas: { shared_data: 1, metrics: -1 } }");
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.errors, [
      'filters[0].fuel: must be an integer >= 1, not 0',
      'filters[0].max_memory_mb: must be an integer >= 1, not "lots"',
      'filters[0].trap_cooldown.trap: unknown key',
      'filters[0].vm_id: must not be empty',
      'filters[0].quotas.metrics: must be an integer >= 0, not -1',
      'filters[0].quotas.shared_data: unknown key',
    ]);
  });
});
