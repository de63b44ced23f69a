// The benchmark harness must not rot: run it once with tiny durations (1 round, 1 s per run,
// 4 connections) and check that every configuration produced numbers in every scenario, that
// the hot swap part measured every figure it reports (one pair of 1 s runs, then 1,000 swaps:
// about 8 s of the run), and that the ABI micro-benchmarks ran. No speed is asserted here;
// targets live in bench/. Needs nginx, its echo module, wrk and h2load (scripts/ensure-system-deps.sh).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BenchResult } from '../bench/report.js';
import type { HotSwapResult } from '../bench/hot-swap.js';
import type { OverloadResult } from '../bench/overload.js';
import { freePortRange } from './helpers/ports.js';
import { repoRoot } from './helpers/repo.js';

let outDir: string;
let exit: { code: number | null; output: string };
let result: BenchResult;
let markdown: string;

before(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'weft-bench-test-'));
  exit = await runHarness([
    '--rounds', '1', '--duration', '1', '--warmup', '0', '--connections', '4',
    '--quiet-max-wait', '0', '--micro-iterations', '10000', '--port-base', String(await freePortRange(40)), '--out', outDir,
  ]);
  const files = await readdir(path.join(outDir, 'results')).catch(() => []);
  assert.equal(files.length, 1, `the harness wrote no results JSON; its output:\n${exit.output}`);
  result = JSON.parse(await readFile(path.join(outDir, 'results', files[0]!), 'utf8')) as BenchResult;
  markdown = await readFile(path.join(outDir, 'RESULTS.md'), 'utf8');
});

after(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

function runHarness(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'bench', 'run.js'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGTERM'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test('every configuration produced numbers in every scenario it serves (HTTP/1.1 or h2c)', () => {
  const runnable = result.configurations.filter((c) => !c.pending);
  assert.ok(runnable.length >= 8, `expected the 8 runnable configurations, got ${runnable.map((c) => c.id).join(', ')}`);
  // The node:http engine is measured on every machine, uWS or not.
  assert.ok(runnable.some((c) => c.id === 'weft-empty-node'), 'weft-empty-node runs');
  assert.ok(runnable.some((c) => c.h2c === true) && result.settings.scenarios.some((s) => s.protocol === 'h2c'), 'the h2c scenario and configurations run');
  const missing: string[] = [];
  for (const config of runnable) {
    for (const scenario of result.settings.scenarios) {
      if ((scenario.protocol === 'h2c') !== (config.h2c === true)) continue;
      const run = result.runs.find((r) => r.config === config.id && r.scenario === scenario.id && r.ok);
      const measuresProxy = config.id !== 'direct';
      const numbers = run && [run.reqPerSec, run.p50Ms, run.p99Ms, ...(measuresProxy ? [run.cpuPerReqUs, run.rssMiB] : [])];
      if (!numbers || !numbers.every((n) => typeof n === 'number' && Number.isFinite(n) && n > 0)) {
        const why = result.failures.filter((f) => f.config === config.id && (f.scenario === scenario.id || f.scenario === null));
        missing.push(`${config.id} / ${scenario.id}: ${why.map((f) => f.error).join('; ') || JSON.stringify(run)}`);
      }
    }
  }
  assert.deepEqual(missing, [], `configurations without numbers:\n${missing.join('\n')}`);
  assert.equal(exit.code, 0, `the harness exited ${exit.code}:\n${exit.output}`);
});

test('the ABI micro-benchmarks produced numbers', () => {
  assert.ok(!('skipped' in result.micro), `skipped: ${'skipped' in result.micro ? result.micro.skipped : ''}`);
  assert.ok(result.micro.benchmarks.length >= 4);
  for (const b of result.micro.benchmarks) assert.ok(b.nsPerOp.median > 0, `${b.name}: ${JSON.stringify(b.nsPerOp)}`);
});

test('the ratios are computed within the round', () => {
  const noop = result.ratios.find((r) => r.id === 'noop1-added' && r.scenario === 'get');
  assert.ok(noop, 'the CPU added by one no-op filter is reported');
  assert.equal(noop.spread?.n, 1);
});

test('hot swap under load: loaded runs with and without swaps, time to the new version, RSS across 1,000 swaps', () => {
  const hotSwap: HotSwapResult | undefined = result.hotSwap;
  assert.ok(hotSwap, `no hot swap result; the harness said:\n${exit.output}`);
  assert.deepEqual(hotSwap.failures, []);
  assert.ok(!result.pending.some((p) => p.id === 'hot-swap'), 'hot swap is measured, not pending');

  for (const kind of ['steady', 'swapping'] as const) {
    const run = hotSwap.runs.find((r) => r.kind === kind);
    assert.ok(run?.record.ok, `${kind}: ${JSON.stringify(run)}`);
    for (const n of [run.record.reqPerSec, run.record.p99Ms, run.record.cpuPerReqUs]) assert.ok(typeof n === 'number' && n > 0, `${kind}: ${JSON.stringify(run.record)}`);
  }
  assert.ok(hotSwap.load.swapping.swaps >= 1, 'the chain was swapped during the loaded run');
  assert.equal(hotSwap.swapsUnderLoad.length, hotSwap.load.swapping.swaps);
  assert.ok(hotSwap.swapsUnderLoad.every((t) => t.staleResponses === 0 && t.visibleMs > 0 && t.putMs > 0), JSON.stringify(hotSwap.swapsUnderLoad));

  assert.equal(hotSwap.settings.swaps, 1000, 'a run without --quick compares RSS after the issue\'s 1,000 swaps');
  assert.equal(hotSwap.settings.note, undefined);
  assert.equal(hotSwap.rss?.swaps, 1000);
  assert.ok(hotSwap.rss.afterBaselineMiB > 0 && hotSwap.rss.afterMiB > 0 && hotSwap.rss.lightLoadRequests > 0, JSON.stringify(hotSwap.rss));

  const measure = (id: string) => hotSwap.measures.find((m) => m.id === id);
  const expected = { 'p99-swapping/steady': 1, 'req/s-swapping/steady': 1, 'visible-under-load': hotSwap.load.swapping.swaps, 'visible-light-load': 1000, 'put-light-load': 1000, 'rss-after/baseline': 1 };
  for (const [id, n] of Object.entries(expected)) {
    const m = measure(id);
    assert.equal(m?.spread?.n, n, `${id}: ${JSON.stringify(m)}`);
    assert.ok(Number.isFinite(m.spread.median) && m.spread.median > 0, `${id}: ${JSON.stringify(m)}`);
  }
  // Each target is judged (whether it is met is the full run's business, not this test's).
  for (const [id, target] of [['p99-swapping/steady', '≤ 2'], ['visible-under-load', '< 50 ms'], ['visible-light-load', '< 50 ms'], ['rss-after/baseline', '0.90–1.10']]) {
    assert.equal(measure(id!)?.target, target);
    assert.equal(typeof measure(id!)?.met, 'boolean', id);
  }
  assert.match(markdown, /### Hot swap under load/);
  assert.match(markdown, /\| p99 while swapping every second ÷ steady p99 \(within each pair\) \| [\d.]+ \| .* \| ≤ 2 \| (yes|\*\*no\*\*) \|/);
  assert.match(markdown, /\| RSS after 1,000 swaps ÷ after 10 \| [\d.]+ \|/);
});

test('overload: adaptive concurrency at 4x an upstream\'s capacity produced every figure', () => {
  const overload: OverloadResult | undefined = result.overload;
  assert.ok(overload, `no overload result; the harness said:\n${exit.output}`);
  assert.deepEqual(overload.failures, []);
  const { loaded, unloaded, light } = overload;
  assert.ok(loaded && unloaded && light, JSON.stringify(overload));
  for (const n of [overload.minRttMs, unloaded.p50Ms, loaded.admittedPerSec, loaded.refusedPerSec, loaded.admittedP99Ms, loaded.limit.median, light.limitAfter]) {
    assert.ok(typeof n === 'number' && Number.isFinite(n) && n > 0, JSON.stringify(overload));
  }
  assert.equal(typeof loaded.met, 'boolean');
  assert.match(markdown, /### Overload: adaptive concurrency/);
  assert.match(markdown, /\| admitted p99 ÷ unloaded p50 \| [\d.]+ \(target ≤ 2: (met|\*\*not met\*\*)\) \|/);
});
