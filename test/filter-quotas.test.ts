// Filters that misbehave without trapping, against a real `weft run` (test/filters/abuser): a
// queue delivery that enqueues again forever, a 1 ms tick that spins, memory.fill of 32 MiB in a
// loop, shared data filled past its quota, a log flood. The proxy keeps answering other requests
// at its normal latency, and each limit shows in /metrics. Also: shared data is namespaced by
// vm_id. One proxy serves every case, each abuser in a chain of its own picked by path prefix.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from './helpers/eventually.js';
import { header, request } from './helpers/http.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const VALUE_BYTES = 64 * 1024;

describe('filter quotas and budgets', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    const abuser = fixtureModule('abuser');
    const peek = fixtureModule('breaker-peek');
    weft = await startWeft({
      // One thread: the abuser fixture counts its keys, deliveries and CPU budget per VM, and each
      // worker thread has VMs of its own.
      workers: 1,
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [],
      chains: {
        // Both run in the background from the start, whatever path is asked for.
        requeue: [{ name: 'requeuer', module: abuser, config: 'requeue', on_error: 'fail_open', cpu_budget_ms_per_s: 50 }],
        tick: [{ name: 'ticker', module: abuser, config: 'tick', on_error: 'fail_open', cpu_budget_ms_per_s: 50 }],
        fill: [{ name: 'filler', module: abuser, config: 'fill', on_error: 'fail_closed' }],
        // Three 64 KiB values fit in 200,000 bytes; the fourth does not.
        shared: [{ name: 'hoarder', module: abuser, config: 'shared', quotas: { shared_data_bytes: 200_000 } }],
        log: [{ name: 'flooder', module: abuser, config: 'log', quotas: { log_lines_per_s: 50 } }],
        // Same vm_id: the peek sees what the writer wrote; its own vm_id (the default): it does not.
        'ns-same': [{ name: 'writer', module: abuser, config: 'shared', vm_id: 'team' }, { name: 'peek', module: peek, vm_id: 'team' }],
        'ns-other': [{ name: 'writer-2', module: abuser, config: 'shared' }, { name: 'peek-2', module: peek }],
      },
      routes: [
        { path_prefix: '/requeue/', chain: 'requeue' },
        { path_prefix: '/tick/', chain: 'tick' },
        { path_prefix: '/fill/', chain: 'fill' },
        { path_prefix: '/shared/', chain: 'shared' },
        { path_prefix: '/log/', chain: 'log' },
        { path_prefix: '/ns-same/', chain: 'ns-same' },
        { path_prefix: '/ns-other/', chain: 'ns-other' },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  const metrics = async () => (await request(`${weft.adminUrl}/metrics`)).body;
  const exceeded = (text: string, filter: string, quota: string) =>
    Number(new RegExp(`^weft_filter_quota_exceeded_total\\{filter="${filter}",quota="${quota}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);

  it('answers other requests at its normal latency while one filter re-enqueues forever and another ticks every 1 ms', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const started = performance.now();
      const response = await request(`${weft.url}/plain/${i}`);
      latencies.push(performance.now() - started);
      assert.equal(response.status, 200);
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[20]!;
    // The ticker spins each tick until its CPU budget stops it; nothing waits longer than a tick.
    assert.ok(median < 25, `median ${median.toFixed(1)} ms`);
    assert.ok(latencies[39]! < 250, `slowest ${latencies[39]!.toFixed(1)} ms`);
    // The re-enqueuing filter did run: its deliveries were served between requests, not before them.
    const deliveries = Number(header(await request(`${weft.url}/requeue/x`), 'x-abuser-deliveries'));
    assert.ok(deliveries > 0 || (await metrics()).includes('filter="requeuer",quota="cpu_budget_ms_per_s"'), 'no delivery happened');
  });

  it('raises a tick period below 10 ms to 10 ms, logged once', async () => {
    await weft.waitForOutput(() => weft.logLines().some((line) => line.filter === 'ticker' && String(line.msg).includes('ticks come at most every 10 ms')), 'the tick warning');
  });

  it('puts a filter that spends its CPU budget into its cool-down, visible in /metrics', async () => {
    const text = await eventually(metrics, (body) => exceeded(body, 'ticker', 'cpu_budget_ms_per_s') > 0 && exceeded(body, 'requeuer', 'cpu_budget_ms_per_s') > 0, 'CPU budgets spent', 10_000, 100);
    assert.match(text, /^weft_filter_cooldowns_total\{filter="ticker"\} [1-9]/m);
    assert.match(text, /^weft_filter_cooldowns_total\{filter="requeuer"\} [1-9]/m);
    // The log line travels through stdout, the metric through the admin API: either may come first.
    await weft.waitForOutput(() => weft.logLines().some((line) => line.filter === 'ticker' && String(line.msg).includes('spent its CPU budget')), 'the ticker\'s CPU budget line');
  });

  it('charges memory.fill by the byte: a loop of 32 MiB fills runs out of fuel (500) instead of running on', async () => {
    const started = performance.now();
    const response = await request(`${weft.url}/fill/x`, { headers: { 'x-fill': '1' } });
    const ms = performance.now() - started;
    assert.equal(response.status, 500);
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
    // The line travels through stdout, the 500 through its socket: either may arrive first.
    await weft.waitForOutput(() => weft.logLines().some((line) => line.filter === 'filler' && String(line.msg).includes('ran out of fuel')), 'the filler\'s out-of-fuel line');
    assert.equal((await request(`${weft.url}/plain/after-fill`)).status, 200);
  });

  it('refuses shared data past the filter\'s shared_data_bytes quota with InternalFailure, and counts it', async () => {
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await request(`${weft.url}/shared/${i}`);
      assert.equal(response.status, 200);
      results.push(header(response, 'x-shared-result') ?? '');
    }
    assert.deepEqual(results, ['0', '0', '0', '10'], `values of ${VALUE_BYTES} bytes against a quota of 200,000`);
    assert.equal(exceeded(await metrics(), 'hoarder', 'shared_data_bytes'), 1);
  });

  it('drops log lines past log_lines_per_s, and counts them', async () => {
    assert.equal((await request(`${weft.url}/log/x`)).status, 200);
    const dropped = exceeded(await eventually(metrics, (body) => exceeded(body, 'flooder', 'log_lines_per_s') > 0, 'dropped log lines'), 'flooder', 'log_lines_per_s');
    assert.equal(dropped, 950);
    await weft.waitForOutput(() => weft.logLines().filter((line) => line.filter === 'flooder').length >= 50, 'the kept lines');
    assert.equal(weft.logLines().filter((line) => line.filter === 'flooder' && String(line.msg).startsWith('abuser line')).length, 50);
  });

  it('keeps shared data per vm_id: filters see each other\'s keys only with the same vm_id', async () => {
    const same = await request(`${weft.url}/ns-same/x`, { headers: { 'x-peek': 'abuser.0' } });
    assert.equal(same.status, 200);
    assert.equal(JSON.parse(same.body).found, true, 'peek shares vm_id "team" with writer');
    const other = await request(`${weft.url}/ns-other/x`, { headers: { 'x-peek': 'abuser.0' } });
    assert.equal(other.status, 200);
    assert.equal(JSON.parse(other.body).found, false, 'peek-2 has a namespace of its own');
  });
});
