// `npm run bench`: every configuration against the same upstream, in rounds, on loopback.
// Layout: wrk and the upstream nginx on core 0, the proxy under test alone on core 1.
// Headline: the proxy's CPU time per request. See bench/RESULTS.md for the numbers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkAnswers, checkH2cAnswers } from './check.js';
import { configurations, type Configuration } from './configurations.js';
import { hotSwapConfigId, hotSwapId, hotSwapSettings, runHotSwap, type HotSwapResult, type LoadedRun } from './hot-swap.js';
import { machineInfo, versions } from './machine.js';
import { runChainMicro, runMicroBenchmarks, type ChainMicroResult, type MicroResult } from './micro-runner.js';
import { overloadId, overloadSettings, runOverload, type OverloadResult } from './overload.js';
import { upstreamNginx } from './nginx.js';
import { parseOptions, type BenchOptions } from './options.js';
import { exitReport, killAllStarted, stop, type Pinned } from './processes.js';
import { treeCpuTime, treeRssMiB, waitForQuietMachine } from './proc-stats.js';
import { renderMarkdown, summarize, writeJson, writeResultsMarkdown, type BenchResult, type Failure } from './report.js';
import { pendingScenarios, requestHeaders, scenarios, type Scenario } from './scenarios.js';
import { computeRatios, type RunRecord } from './stats.js';
import { runH2load } from './h2load.js';
import { runWrk, type WrkResult, type WrkRun } from './wrk.js';

const loadCore = 0;
const proxyCore = 1;
/** The run's temp folder, removed however the run ends. */
let tempDir: string | undefined;

interface Context {
  options: BenchOptions;
  tempDir: string;
  upstream: Pinned;
  upstreamPort: number;
  scenarios: Scenario[];
  runs: RunRecord[];
  failures: Failure[];
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const selected = select(configurations, options.only, 'configuration');
  const runnable = selected.filter((c) => !c.pending);
  // `--scenarios` picks wrk scenarios and, by its id, the hot swap part; none named runs them all.
  const chosenScenarios = select(scenarios, options.scenarios, 'scenario', [hotSwapId, overloadId]);
  const runsHotSwap = options.scenarios.length === 0 || options.scenarios.includes(hotSwapId);
  const runsOverload = options.scenarios.length === 0 || options.scenarios.includes(overloadId);
  checkTools(chosenScenarios.some((scenario) => scenario.protocol === 'h2c'));
  // The harness itself waits on core 0 too, so nothing but the proxy runs on core 1.
  execFileSync('taskset', ['-a', '-p', '-c', String(loadCore), String(process.pid)], { stdio: 'ignore' });
  const date = new Date().toISOString();
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'weft-bench-'));
  const upstreamPort = options.portBase;
  log(`weft bench: ${options.rounds} round(s) × ${runnable.length} configurations × ${chosenScenarios.length} scenarios, ${options.durationS} s each; temp ${tempDir}`);
  if (runsHotSwap) {
    const hs = hotSwapSettings(options);
    log(`then hot swap: ${hs.pairs} pair(s) of ${hs.runS} s runs (steady, swapping every second), then RSS after ${hs.baselineSwaps} and ${hs.swaps} swaps${hs.note ? ` (${hs.note})` : ''}`);
  }
  if (runsOverload) log(`then overload: adaptive concurrency at 4x an upstream's capacity for ${overloadSettings(options).loadedS} s`);

  const runs: RunRecord[] = [];
  const failures: Failure[] = [];
  let micro: MicroResult;
  let chainMicro: ChainMicroResult;
  let hotSwap: HotSwapResult | undefined;
  let overload: OverloadResult | undefined;
  let upstream: Pinned | undefined;
  try {
    upstream = await upstreamNginx(tempDir, upstreamPort, loadCore);
    await checkAnswers('upstream nginx', upstreamPort);
    const ctx: Context = { options, tempDir, upstream, upstreamPort, scenarios: chosenScenarios, runs, failures };
    for (let round = 1; round <= options.rounds && chosenScenarios.length > 0; round++) {
      // Rotate the order each round so no configuration always runs first or last.
      const shift = (round - 1) % runnable.length;
      const order = [...runnable.slice(shift), ...runnable.slice(0, shift)];
      for (const config of order) await runConfiguration(ctx, config, round, configurations.indexOf(config));
    }
    if (runsHotSwap) hotSwap = await hotSwapPart(ctx);
    if (runsOverload) overload = await overloadPart(ctx);
    micro = await microBenchmarks(options.microIterations);
    chainMicro = await chainMicroBenchmark();
  } finally {
    if (upstream) await stop(upstream);
    removeTempDir();
  }

  const scenarioIds = chosenScenarios.map((s) => s.id);
  const runnableIds = runnable.map((c) => c.id);
  const result: BenchResult = {
    schema: 1,
    date,
    command: commandLine(),
    quick: options.quick,
    settings: {
      rounds: options.rounds,
      durationS: options.durationS,
      warmupS: options.warmupS,
      connections: options.connections,
      quietIdle: options.quietIdle,
      quietMaxWaitS: options.quietMaxWaitS,
      layout: `wrk and the upstream nginx (1 worker) pinned to core ${loadCore}, the proxy under test alone on core ${proxyCore}, all on 127.0.0.1`,
      headers: requestHeaders,
      scenarios: chosenScenarios.map((s) => ({ id: s.id, title: s.title, path: s.path, connections: s.connections ?? options.connections, ...(s.protocol ? { protocol: s.protocol } : {}) })),
    },
    machine: machineInfo(),
    versions: versions(),
    configurations: selected.map((c) => ({ id: c.id, description: c.description, ...(c.pending ? { pending: c.pending } : {}), ...(c.h2c ? { h2c: true } : {}) })),
    runs,
    failures,
    summary: summarize(runs, failures, scenarioIds, runnableIds),
    ratios: computeRatios(runs, scenarioIds, runnableIds),
    micro,
    chainMicro,
    ...(hotSwap ? { hotSwap } : {}),
    ...(overload ? { overload } : {}),
    pending: [
      ...selected.filter((c) => c.pending).map((c) => ({ id: c.id, what: c.description, waitsFor: c.pending! })),
      ...pendingScenarios,
    ],
  };
  const jsonFile = writeJson(result, options.outDir);
  const markdown = renderMarkdown(result, jsonFile);
  log(`\n${markdown}\n`);
  log(`results: ${jsonFile}`);
  // Quick runs are too short to stand as the record; only full runs rewrite RESULTS.md.
  if (!options.quick) log(`results: ${writeResultsMarkdown(markdown, options.outDir)}`);
  const failed = failures.length + (hotSwap?.failures.length ?? 0) + (overload?.failures.length ?? 0);
  if (failed) log(`${failed} failure(s); see "Failures", "Hot swap" and "Overload" above`);
  return failed ? 1 : 0;
}

/** Starts one configuration, checks its answers, warms it up, measures every scenario, stops it. */
async function runConfiguration(ctx: Context, config: Configuration, round: number, index: number): Promise<void> {
  const { options } = ctx;
  // An h2c configuration runs the h2c scenarios, the others the HTTP/1.1 ones.
  const served = ctx.scenarios.filter((scenario) => (scenario.protocol === 'h2c') === (config.h2c === true));
  if (served.length === 0) return;
  const folder = path.join(ctx.tempDir, `round-${round}`, config.id);
  mkdirSync(folder, { recursive: true });
  let proc: Pinned | undefined;
  try {
    proc = config.start
      ? await config.start({ folder, port: options.portBase + 1 + index, adminPort: options.portBase + 20 + index, upstreamPort: ctx.upstreamPort, core: proxyCore })
      : undefined;
    const port = proc ? options.portBase + 1 + index : ctx.upstreamPort;
    if (config.h2c === true) await checkH2cAnswers(config.id, port);
    else await checkAnswers(config.id, port);
    if (options.warmupS > 0) {
      await runLoad({ scenario: served[0]!, port, connections: options.connections, durationS: options.warmupS, core: loadCore, folder });
    }
    for (const scenario of served) {
      if (proc?.exit) {
        ctx.failures.push({ round, config: config.id, scenario: scenario.id, error: `not run: ${config.id} had exited` });
        continue;
      }
      try {
        const record = await measure(ctx, { configId: config.id, scenario, round, port, proc, folder, durationS: options.durationS });
        ctx.runs.push(record);
        if (!record.ok) ctx.failures.push({ round, config: config.id, scenario: scenario.id, error: record.error! });
        log(progressLine(record));
      } catch (error) {
        ctx.failures.push({ round, config: config.id, scenario: scenario.id, error: (error as Error).message });
        log(`round ${round} ${config.id} ${scenario.id}: FAILED ${(error as Error).message}`);
      }
    }
  } catch (error) {
    ctx.failures.push({ round, config: config.id, scenario: null, error: (error as Error).message });
    log(`round ${round} ${config.id}: FAILED ${(error as Error).message}`);
  } finally {
    if (proc) await stop(proc);
  }
}

/** One measured wrk run; `during` (the hot swaps) runs beside wrk and fails the run if it throws. */
interface Measurement {
  configId: string;
  scenario: Scenario;
  round: number;
  port: number;
  proc: Pinned | undefined;
  folder: string;
  durationS: number;
  during?: () => Promise<void>;
}

async function measure(ctx: Context, m: Measurement): Promise<RunRecord> {
  const { options } = ctx;
  const { scenario, round, proc } = m;
  const quiet = await waitForQuietMachine(options.quietIdle, options.quietMaxWaitS * 1000);
  const connections = scenario.connections ?? options.connections;
  const proxyBefore = proc ? treeCpuTime(proc.pid) : undefined;
  const upstreamBefore = treeCpuTime(ctx.upstream.pid);
  const started = process.hrtime.bigint();
  const [load, beside] = await Promise.allSettled([
    runLoad({ scenario, port: m.port, connections, durationS: m.durationS, core: loadCore, folder: m.folder }),
    m.during?.(),
  ]);
  if (load.status === 'rejected') {
    if (proc?.exit) throw new Error(`during the run, ${exitReport(proc)}`);
    throw load.reason;
  }
  if (beside.status === 'rejected') throw beside.reason;
  const wrk: WrkResult = load.value;
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const upstreamAfter = treeCpuTime(ctx.upstream.pid);
  if (proc?.exit) throw new Error(`during the run, ${exitReport(proc)}`);
  const proxyAfter = proc ? treeCpuTime(proc.pid) : undefined;
  const requests = wrk.requests;
  const perReq = (ms: number) => (requests > 0 ? (ms * 1000) / requests : null);
  const userMs = proxyBefore && proxyAfter ? proxyAfter.userMs - proxyBefore.userMs : null;
  const sysMs = proxyBefore && proxyAfter ? proxyAfter.sysMs - proxyBefore.sysMs : null;
  const upstreamMs = upstreamAfter.userMs + upstreamAfter.sysMs - upstreamBefore.userMs - upstreamBefore.sysMs;
  const socketErrors = wrk.errors.connect + wrk.errors.read + wrk.errors.write + wrk.errors.timeout;
  const problems = [
    requests === 0 ? 'no request completed' : '',
    wrk.errors.status + socketErrors > 0 ? `${wrk.errors.status} non-2xx/3xx answers, ${socketErrors} socket errors (${JSON.stringify(wrk.errors)})` : '',
  ].filter(Boolean);
  return {
    round,
    config: m.configId,
    scenario: scenario.id,
    ok: problems.length === 0,
    ...(problems.length ? { error: problems.join('; ') } : {}),
    connections,
    requests,
    durationS: wrk.durationS,
    reqPerSec: requests / wrk.durationS,
    cpuPerReqUs: userMs !== null && sysMs !== null ? perReq(userMs + sysMs) : null,
    userPerReqUs: userMs !== null ? perReq(userMs) : null,
    sysPerReqUs: sysMs !== null ? perReq(sysMs) : null,
    proxyCoreBusy: userMs !== null && sysMs !== null ? (userMs + sysMs) / wallMs : null,
    upstreamCpuPerReqUs: perReq(upstreamMs) ?? 0,
    p50Ms: wrk.latencyUs.p50 / 1000,
    p90Ms: wrk.latencyUs.p90 / 1000,
    p99Ms: wrk.latencyUs.p99 / 1000,
    maxMs: wrk.latencyUs.max / 1000,
    rssMiB: proc ? treeRssMiB(proc.pid) : null,
    socketErrors,
    non2xx: wrk.errors.status,
    idleBefore: quiet.idle,
    quietWaitMs: quiet.waitedMs,
    quiet: quiet.quiet,
  };
}

/** wrk for HTTP/1.1 scenarios, h2load for h2c ones; both report in wrk's terms. */
function runLoad(run: WrkRun): Promise<WrkResult> {
  return run.scenario.protocol === 'h2c' ? runH2load(run) : runWrk(run);
}

/** Hot swap under load (bench/hot-swap.ts), on its own ports: the proxy at P+10, its admin API at P+30. */
function hotSwapPart(ctx: Context): Promise<HotSwapResult> {
  const { options } = ctx;
  const folder = path.join(ctx.tempDir, hotSwapId);
  return runHotSwap({
    options,
    folder,
    port: options.portBase + 10,
    adminPort: options.portBase + 30,
    upstreamPort: ctx.upstreamPort,
    proxyCore,
    loadCore,
    measure: (run: LoadedRun) => measure(ctx, { ...run, configId: hotSwapConfigId, scenario: scenarios[0]! }),
    log,
  });
}

/** Overload (bench/overload.ts), on its own ports: the proxy at P+11, its admin API at P+31. */
async function overloadPart(ctx: Context): Promise<OverloadResult> {
  const { options } = ctx;
  const folder = path.join(ctx.tempDir, overloadId);
  mkdirSync(folder, { recursive: true });
  try {
    return await runOverload({ options, folder, port: options.portBase + 11, adminPort: options.portBase + 31, proxyCore, log });
  } catch (error) {
    log(`overload: FAILED ${(error as Error).message}`);
    return { settings: overloadSettings(options), failures: [(error as Error).message] };
  }
}

async function microBenchmarks(iterations: number): Promise<MicroResult> {
  try {
    return await runMicroBenchmarks(iterations, proxyCore);
  } catch (error) {
    return { skipped: `the micro-benchmark process failed: ${(error as Error).message}` };
  }
}

async function chainMicroBenchmark(): Promise<ChainMicroResult> {
  try {
    return await runChainMicro(2000, proxyCore);
  } catch (error) {
    return { skipped: `the chain micro-benchmark process failed: ${(error as Error).message}` };
  }
}

function progressLine(r: RunRecord): string {
  const cpu = r.cpuPerReqUs === null ? '' : `  ${r.cpuPerReqUs.toFixed(1)} µs/req`;
  const flag = r.ok ? '' : `  FAILED ${r.error}`;
  const noisy = r.quiet ? '' : `  (machine not quiet: ${Math.round(r.idleBefore * 100)}% idle)`;
  return `round ${r.round} ${r.config.padEnd(18)} ${r.scenario.padEnd(8)} ${Math.round(r.reqPerSec).toString().padStart(7)} req/s${cpu}  p99 ${r.p99Ms.toFixed(2)} ms${flag}${noisy}`;
}

/** The items named by `ids` (all when none is named); `alsoKnown` are valid ids that are not items. */
function select<T extends { id: string }>(all: T[], ids: string[], kind: string, alsoKnown: string[] = []): T[] {
  if (ids.length === 0) return all;
  const known = [...all.map((item) => item.id), ...alsoKnown];
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length) throw new Error(`unknown ${kind} ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return all.filter((item) => ids.includes(item.id));
}

/** What the chosen scenarios run; h2load (nghttp2-client) only when an h2c scenario is among them. */
function checkTools(needsH2load: boolean): void {
  const tools = needsH2load ? ['nginx', 'wrk', 'h2load', 'taskset'] : ['nginx', 'wrk', 'taskset'];
  const missing = tools.filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run scripts/ensure-system-deps.sh (as root it installs them)`);
  if (os.cpus().length < 2) throw new Error('the benchmark needs 2 cores: one for wrk and the upstream, one for the proxy');
}

/** The command as the user typed it, as far as we can tell. */
function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  if (process.env['npm_lifecycle_event'] === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node dist/bench/run.js${args ? ` ${args}` : ''}`;
}

function removeTempDir(): void {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllStarted();
    removeTempDir();
    process.exit(130);
  });
}
process.on('exit', killAllStarted);

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`bench: ${error.message}`);
    killAllStarted();
    removeTempDir();
    process.exit(1);
  },
);
