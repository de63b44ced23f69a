// The benchmark harness must not rot: run it once with tiny durations (1 round, 1 s per run,
// 4 connections) and check that every configuration produced numbers in every scenario, and
// that the ABI micro-benchmarks ran. No speed is asserted here; targets live in bench/.
// Needs nginx, its echo module and wrk (scripts/ensure-system-deps.sh). Ports 19350-19389.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BenchResult } from '../bench/report.js';
import { repoRoot } from './helpers/repo.js';

let outDir: string;
let exit: { code: number | null; output: string };
let result: BenchResult;

before(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'weft-bench-test-'));
  exit = await runHarness([
    '--rounds', '1', '--duration', '1', '--warmup', '0', '--connections', '4',
    '--quiet-max-wait', '0', '--micro-iterations', '10000', '--port-base', '19350', '--out', outDir,
  ]);
  const files = await readdir(path.join(outDir, 'results')).catch(() => []);
  assert.equal(files.length, 1, `the harness wrote no results JSON; its output:\n${exit.output}`);
  result = JSON.parse(await readFile(path.join(outDir, 'results', files[0]!), 'utf8')) as BenchResult;
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

test('every configuration produced numbers in every scenario', () => {
  const runnable = result.configurations.filter((c) => !c.pending);
  assert.ok(runnable.length >= 8, `expected the 8 runnable configurations, got ${runnable.map((c) => c.id).join(', ')}`);
  const missing: string[] = [];
  for (const config of runnable) {
    for (const scenario of result.settings.scenarios) {
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

test('the ratios are computed within the round and the pending parts are reported', () => {
  const noop = result.ratios.find((r) => r.id === 'noop1-added' && r.scenario === 'get');
  assert.ok(noop, 'the CPU added by one no-op filter is reported');
  assert.equal(noop.spread?.n, 1);
  assert.ok(result.pending.some((p) => p.id === 'hot-swap'));
});
