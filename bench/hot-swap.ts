// Hot swap under load (issue 6): Weft serving one tag-version filter whose chain is swapped
// between two versions (config v1 and v2, so each swap starts a fresh VM) through PUT /chain.
// Measured, each beside the issue's target:
//  1. wrk GET load with the chain swapped every second against the same load without swaps, in
//     interleaved pairs: req/s and p99, and their ratios within each pair (p99 ≤ 2× steady);
//  2. the time from a PUT's 200 to the first response tagged by the new version, found by a small
//     loop of requests from the harness right after each 200 (< 50 ms, every swap);
//  3. RSS after 1,000 swaps against after 10, under light load once the load runs have warmed the
//     process up (within 10%).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, request } from 'undici';
import { checkAnswers } from './check.js';
import { repoRoot, type BenchOptions } from './options.js';
import { exitReport, stop, type Pinned } from './processes.js';
import { sleep, treeRssMiB } from './proc-stats.js';
import { scenarios } from './scenarios.js';
import { spread, type RunRecord, type Spread } from './stats.js';
import { startWeft } from './weft.js';
import { runWrk } from './wrk.js';

/** The id `--scenarios hot-swap` selects this part by. */
export const hotSwapId = 'hot-swap';
/** The configuration id its runs and failures are reported under. */
export const hotSwapConfigId = 'weft-hot-swap';

/** The fixture filter that sets `x-filter-version` from its config (test/filters/tag-version). */
const tagVersionWasm = path.join(repoRoot, 'test', 'filters', 'tag-version', 'build', 'tag-version.wasm');
const filterName = 'tag';
const versionHeader = 'x-filter-version';
type Version = 'v1' | 'v2';

const recordSwaps = 1000;
const quickSwaps = 100;
const baselineSwaps = 10;
const swapIntervalMs = 1000;
/** The first swap of a loaded run waits for wrk's connections to be up and busy. */
const firstSwapMs = 500;
/** No swap starts this close to the end of a loaded run, so its probe still sees the load. */
const lastSwapMarginMs = 300;
const lightLoadConnections = 4;
const lightLoadWarmupMs = 1000;
const visibleTimeoutMs = 5000;
/** A request that hangs fails the measure instead of the run. */
const timeouts = { headersTimeout: 10_000, bodyTimeout: 10_000 };

export interface HotSwapSettings {
  filter: string;
  /** Pairs of loaded runs (one steady, one swapping; the order alternates per pair). */
  pairs: number;
  runS: number;
  connections: number;
  swapIntervalMs: number;
  /** The RSS phase: RSS after `baselineSwaps` swaps against after `swaps`, under `lightLoadConnections`. */
  baselineSwaps: number;
  swaps: number;
  lightLoadConnections: number;
  /** Set when RSS is compared after fewer swaps than the issue's 1,000. */
  note?: string;
}

export interface SwapTiming {
  to: Version;
  /** PUT /chain sent → its 200 received. */
  putMs: number;
  /** The PUT's 200 → the first response tagged by the new version. */
  visibleMs: number;
  /** Responses the probe got after the 200 that still carried the old version (the contract says 0). */
  staleResponses: number;
}

export interface LoadSummary {
  runsOk: number;
  swaps: number;
  reqPerSec: Spread | null;
  cpuPerReqUs: Spread | null;
  p50Ms: Spread | null;
  p99Ms: Spread | null;
  maxMs: Spread | null;
}

export interface HotSwapMeasure {
  id: string;
  label: string;
  unit: 'ratio' | 'ms';
  spread: Spread | null;
  target: string | null;
  /** What the target is judged on: the median over pairs (as the issue's ratios) or the worst swap. */
  judgedOn: 'median' | 'max' | null;
  met: boolean | null;
}

export interface HotSwapResult {
  settings: HotSwapSettings;
  /** Every loaded run; `round` is the pair. */
  runs: { kind: 'steady' | 'swapping'; swaps: number; record: RunRecord }[];
  load: { steady: LoadSummary; swapping: LoadSummary };
  /** Each swap of the swapping runs. */
  swapsUnderLoad: SwapTiming[];
  rss: {
    afterBaselineMiB: number;
    afterMiB: number;
    swaps: number;
    lightLoadRequests: number;
    /** RSS along the way (after every tenth of the swaps): a leak climbs steadily, a heap settling does not. */
    samples: { swaps: number; rssMiB: number }[];
  } | null;
  measures: HotSwapMeasure[];
  failures: string[];
}

export interface LoadedRun {
  round: number;
  proc: Pinned;
  port: number;
  folder: string;
  durationS: number;
  /** Runs beside wrk, started with it; the run fails if it throws. */
  during?: () => Promise<void>;
}

export interface HotSwapDeps {
  options: BenchOptions;
  folder: string;
  port: number;
  adminPort: number;
  upstreamPort: number;
  proxyCore: number;
  loadCore: number;
  /** The harness's measured wrk run (quiet-machine wait, proxy CPU, wrk's numbers). */
  measure: (run: LoadedRun) => Promise<RunRecord>;
  log: (line: string) => void;
}

export function hotSwapSettings(options: BenchOptions): HotSwapSettings {
  const swaps = options.quick ? quickSwaps : recordSwaps;
  return {
    filter: 'test/filters/tag-version, config {"version": "v1"} ⇄ {"version": "v2"}',
    pairs: options.rounds,
    // A quick run's 1 s runs would see a single swap each; 4 s see four.
    runS: options.quick ? Math.max(options.durationS, 4) : options.durationS,
    connections: options.connections,
    swapIntervalMs,
    baselineSwaps,
    swaps,
    lightLoadConnections,
    ...(swaps < recordSwaps ? { note: `RSS compared after ${swaps} swaps, not the issue's ${recordSwaps.toLocaleString('en-US')}: a --quick run` } : {}),
  };
}

export async function runHotSwap(deps: HotSwapDeps): Promise<HotSwapResult> {
  const { options, folder, port, log } = deps;
  const settings = hotSwapSettings(options);
  const runs: HotSwapResult['runs'] = [];
  const swapsUnderLoad: SwapTiming[] = [];
  const lightLoad: SwapTiming[] = [];
  const failures: string[] = [];
  let rss: HotSwapResult['rss'] = null;
  mkdirSync(folder, { recursive: true });
  let proc: Pinned | undefined;
  let swapper: ChainSwapper | undefined;
  try {
    if (!existsSync(tagVersionWasm)) throw new Error(`tag-version is not built: ${path.relative(repoRoot, tagVersionWasm)} is missing (run npm run build)`);
    proc = await startWeft({ name: hotSwapConfigId, filters: 0, folder, port, adminPort: deps.adminPort, upstreamPort: deps.upstreamPort, core: deps.proxyCore });
    const chain = await ChainSwapper.start(`http://127.0.0.1:${deps.adminPort}`, `http://127.0.0.1:${port}`);
    swapper = chain;
    await checkAnswers(hotSwapConfigId, port);
    if (options.warmupS > 0) {
      await runWrk({ scenario: scenarios[0]!, port, connections: settings.connections, durationS: options.warmupS, core: deps.loadCore, folder });
    }
    for (let pair = 1; pair <= settings.pairs; pair++) {
      // Alternate which run goes first, so drift over the pair does not favour one side.
      const kinds = pair % 2 === 1 ? (['steady', 'swapping'] as const) : (['swapping', 'steady'] as const);
      for (const kind of kinds) {
        if (proc.exit) throw new Error(exitReport(proc));
        const timings: SwapTiming[] = [];
        const during = kind === 'swapping' ? () => swapEverySecond(chain, settings.runS * 1000, timings) : undefined;
        try {
          const record = await deps.measure({ round: pair, proc, port, folder, durationS: settings.runS, ...(during ? { during } : {}) });
          runs.push({ kind, swaps: timings.length, record });
          swapsUnderLoad.push(...timings);
          if (!record.ok) failures.push(`pair ${pair}, ${kind}: ${record.error}`);
          log(progressLine(kind, pair, record, timings));
        } catch (error) {
          failures.push(`pair ${pair}, ${kind}: ${(error as Error).message}`);
          log(`hot swap pair ${pair} ${kind}: FAILED ${(error as Error).message}`);
        }
      }
    }
    if (proc.exit) throw new Error(exitReport(proc));
    const phase = await rssAcrossSwaps(proc, chain, settings, `http://127.0.0.1:${port}`, lightLoad);
    rss = { ...phase, swaps: settings.swaps };
    log(`hot swap RSS: ${rss.afterBaselineMiB.toFixed(1)} MiB after ${settings.baselineSwaps} swaps, ${rss.afterMiB.toFixed(1)} MiB after ${settings.swaps}${settings.note ? ` (${settings.note})` : ''}`);
  } catch (error) {
    const message = proc?.exit ? exitReport(proc) : (error as Error).message;
    failures.push(message);
    log(`hot swap: FAILED ${message}`);
  } finally {
    await swapper?.close();
    if (proc) await stop(proc);
  }
  const stale = [...swapsUnderLoad, ...lightLoad].reduce((sum, t) => sum + t.staleResponses, 0);
  if (stale > 0) failures.push(`${stale} response(s) requested after a PUT /chain 200 still carried the old version`);
  return {
    settings,
    runs,
    load: { steady: summarizeLoad(runs, 'steady'), swapping: summarizeLoad(runs, 'swapping') },
    swapsUnderLoad,
    rss,
    measures: measures(runs, swapsUnderLoad, lightLoad, rss, settings),
    failures,
  };
}

/** Swaps the chain every second of a loaded run, timing each swap. */
async function swapEverySecond(swapper: ChainSwapper, durationMs: number, timings: SwapTiming[]): Promise<void> {
  const started = performance.now();
  for (let at = firstSwapMs; at <= durationMs - lastSwapMarginMs; at += swapIntervalMs) {
    await sleep(started + at - performance.now());
    timings.push(await swapper.swap());
  }
}

/**
 * RSS after the first 10 swaps and after all of them, while a few connections from the harness
 * keep requests flowing (so old generations drain and are torn down as in real use).
 */
async function rssAcrossSwaps(
  proc: Pinned,
  swapper: ChainSwapper,
  settings: HotSwapSettings,
  origin: string,
  timings: SwapTiming[],
): Promise<Omit<NonNullable<HotSwapResult['rss']>, 'swaps'>> {
  const load = new LightLoad(origin, settings.lightLoadConnections);
  try {
    await sleep(lightLoadWarmupMs);
    const samples: { swaps: number; rssMiB: number }[] = [];
    const sampleEvery = Math.max(1, Math.round(settings.swaps / 10));
    for (let i = 1; i <= settings.swaps; i++) {
      timings.push(await swapper.swap());
      if (i === settings.baselineSwaps || i % sampleEvery === 0 || i === settings.swaps) samples.push({ swaps: i, rssMiB: treeRssMiB(proc.pid) });
    }
    const at = (swaps: number) => samples.find((s) => s.swaps === swaps)!.rssMiB;
    return { afterBaselineMiB: at(settings.baselineSwaps), afterMiB: at(settings.swaps), samples, lightLoadRequests: await load.stop() };
  } finally {
    await load.stop().catch(() => undefined); // already stopped, or the swap's error is the one to report
  }
}

/** Back-to-back GETs over a few keep-alive connections of the harness; stop() reports the first failure. */
class LightLoad {
  private running = true;
  private requests = 0;
  private failure: Error | undefined;
  private stopped: Promise<number> | undefined;
  private readonly clients: Client[];
  private readonly loops: Promise<void>[];

  constructor(origin: string, connections: number) {
    this.clients = Array.from({ length: connections }, () => new Client(origin, timeouts));
    this.loops = this.clients.map((client) => this.loop(client));
  }

  private async loop(client: Client): Promise<void> {
    try {
      while (this.running) {
        const { statusCode, body } = await client.request({ method: 'GET', path: '/' });
        await body.dump();
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        this.requests++;
      }
    } catch (error) {
      this.failure ??= error as Error;
    }
  }

  /** Stops the load (once, however often called) and returns the requests it completed. */
  stop(): Promise<number> {
    this.stopped ??= (async () => {
      this.running = false;
      await Promise.all(this.loops);
      await Promise.all(this.clients.map((client) => client.close()));
      if (this.failure) throw new Error(`light load: ${this.failure.message}`);
      return this.requests;
    })();
    return this.stopped;
  }
}

/** Uploads tag-version, puts v1 in service, then swaps between v1 and v2, probing after each 200. */
class ChainSwapper {
  private serving: Version = 'v1';

  private constructor(
    private readonly adminOrigin: string,
    private readonly probe: Client,
  ) {}

  static async start(adminOrigin: string, proxyOrigin: string): Promise<ChainSwapper> {
    const upload = await request(`${adminOrigin}/filters/${filterName}`, {
      method: 'POST',
      headers: { 'content-type': 'application/wasm' },
      body: readFileSync(tagVersionWasm),
      ...timeouts,
    });
    const text = await upload.body.text();
    if (upload.statusCode !== 201 && upload.statusCode !== 200) throw new Error(`POST /filters/${filterName}: ${upload.statusCode} ${text}`);
    const swapper = new ChainSwapper(adminOrigin, new Client(proxyOrigin, timeouts));
    await swapper.firstResponseOf('v1', await swapper.put('v1'));
    return swapper;
  }

  async swap(): Promise<SwapTiming> {
    const to: Version = this.serving === 'v1' ? 'v2' : 'v1';
    const sent = performance.now();
    const acked = await this.put(to);
    this.serving = to;
    return { to, putMs: acked - sent, ...(await this.firstResponseOf(to, acked)) };
  }

  /** PUT /chain with `version`'s spec; returns when its 200 arrived. */
  private async put(version: Version): Promise<number> {
    const reply = await request(`${this.adminOrigin}/chain`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filters: [{ name: filterName, config: { version } }] }),
      ...timeouts,
    });
    const acked = performance.now();
    const text = await reply.body.text();
    if (reply.statusCode !== 200) throw new Error(`PUT /chain (${version}): ${reply.statusCode} ${text}`);
    return acked;
  }

  /** Requests one after another until a response carries `version`. */
  private async firstResponseOf(version: Version, acked: number): Promise<{ visibleMs: number; staleResponses: number }> {
    let staleResponses = 0;
    for (;;) {
      const { statusCode, headers, body } = await this.probe.request({ method: 'GET', path: '/' });
      const answered = performance.now();
      await body.dump();
      if (statusCode !== 200) throw new Error(`probe after PUT /chain (${version}): status ${statusCode}`);
      if (headers[versionHeader] === version) return { visibleMs: answered - acked, staleResponses };
      staleResponses++;
      if (answered - acked > visibleTimeoutMs) {
        throw new Error(`no response tagged ${version} within ${visibleTimeoutMs} ms of the PUT's 200 (last: ${versionHeader} ${String(headers[versionHeader])})`);
      }
    }
  }

  close(): Promise<void> {
    return this.probe.close();
  }
}

function summarizeLoad(runs: HotSwapResult['runs'], kind: 'steady' | 'swapping'): LoadSummary {
  const ok = runs.filter((r) => r.kind === kind && r.record.ok);
  const of = (pick: (r: RunRecord) => number | null) => spread(ok.map((r) => pick(r.record)).filter((v): v is number => v !== null));
  return {
    runsOk: ok.length,
    swaps: ok.reduce((sum, r) => sum + r.swaps, 0),
    reqPerSec: of((r) => r.reqPerSec),
    cpuPerReqUs: of((r) => r.cpuPerReqUs),
    p50Ms: of((r) => r.p50Ms),
    p99Ms: of((r) => r.p99Ms),
    maxMs: of((r) => r.maxMs),
  };
}

/** swapping ÷ steady of one metric, within each pair where both runs were clean. */
function pairRatios(runs: HotSwapResult['runs'], metric: 'p99Ms' | 'reqPerSec'): Spread | null {
  const values: number[] = [];
  for (const swapping of runs.filter((r) => r.kind === 'swapping' && r.record.ok)) {
    const steady = runs.find((r) => r.kind === 'steady' && r.record.ok && r.record.round === swapping.record.round);
    if (steady && steady.record[metric] > 0) values.push(swapping.record[metric] / steady.record[metric]);
  }
  return spread(values);
}

function measures(
  runs: HotSwapResult['runs'],
  underLoad: SwapTiming[],
  lightLoad: SwapTiming[],
  rss: HotSwapResult['rss'],
  settings: HotSwapSettings,
): HotSwapMeasure[] {
  const judged = (s: Spread | null, on: 'median' | 'max', ok: (v: number) => boolean) => (s ? ok(s[on]) : null);
  const p99 = pairRatios(runs, 'p99Ms');
  const visibleLoaded = spread(underLoad.map((t) => t.visibleMs));
  const visibleLight = spread(lightLoad.map((t) => t.visibleMs));
  const rssRatio = rss ? spread([rss.afterMiB / rss.afterBaselineMiB]) : null;
  return [
    { id: 'p99-swapping/steady', label: 'p99 while swapping every second ÷ steady p99 (within each pair)', unit: 'ratio', spread: p99, target: '≤ 2', judgedOn: 'median', met: judged(p99, 'median', (v) => v <= 2) },
    { id: 'req/s-swapping/steady', label: 'req/s while swapping every second ÷ steady req/s (within each pair)', unit: 'ratio', spread: pairRatios(runs, 'reqPerSec'), target: null, judgedOn: null, met: null },
    { id: 'visible-under-load', label: `PUT 200 → first response of the new version, under ${settings.connections}-connection load (ms)`, unit: 'ms', spread: visibleLoaded, target: '< 50 ms', judgedOn: 'max', met: judged(visibleLoaded, 'max', (v) => v < 50) },
    { id: 'visible-light-load', label: `PUT 200 → first response of the new version, light load (ms; the ${settings.swaps} swaps of the RSS phase)`, unit: 'ms', spread: visibleLight, target: '< 50 ms', judgedOn: 'max', met: judged(visibleLight, 'max', (v) => v < 50) },
    { id: 'put-under-load', label: `PUT /chain round trip, under ${settings.connections}-connection load (ms)`, unit: 'ms', spread: spread(underLoad.map((t) => t.putMs)), target: null, judgedOn: null, met: null },
    { id: 'put-light-load', label: 'PUT /chain round trip, light load (ms)', unit: 'ms', spread: spread(lightLoad.map((t) => t.putMs)), target: null, judgedOn: null, met: null },
    { id: 'rss-after/baseline', label: `RSS after ${settings.swaps.toLocaleString('en-US')} swaps ÷ after ${settings.baselineSwaps}`, unit: 'ratio', spread: rssRatio, target: '0.90–1.10', judgedOn: 'median', met: judged(rssRatio, 'median', (v) => Math.abs(v - 1) <= 0.1) },
  ];
}

function progressLine(kind: 'steady' | 'swapping', pair: number, r: RunRecord, timings: SwapTiming[]): string {
  const cpu = r.cpuPerReqUs === null ? '' : `  ${r.cpuPerReqUs.toFixed(1)} µs/req`;
  const visible = timings.length ? `  ${timings.length} swaps, new version after ${Math.max(...timings.map((t) => t.visibleMs)).toFixed(1)} ms at most` : '';
  const flag = r.ok ? '' : `  FAILED ${r.error}`;
  return `hot swap pair ${pair} ${kind.padEnd(8)} ${Math.round(r.reqPerSec).toString().padStart(7)} req/s${cpu}  p99 ${r.p99Ms.toFixed(2)} ms${visible}${flag}`;
}
