// Overload (issue 17): Weft with adaptive concurrency in front of an upstream whose latency
// rises past 20 requests in flight (bench/overload-load.ts), driven by the harness's own
// closed-loop clients on 127.0.0.1 (wrk cannot back off after a 503):
//  1. minRTT (2 clients, right after the start, as in production), then unloaded latency;
//  2. 4× the upstream's concurrency (80 clients; a refused client waits one service time):
//     the limit after it settled, admitted p50/p99 against unloaded, refusals and how long the
//     proxy took for them (access log duration_ms);
//  3. light load (10 clients): refusals and the limit when the load dropped.
// Latencies are the proxy's (access log), so the harness's own scheduling does not count.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import type { BenchOptions } from './options.js';
import { quantile, runClosedLoop, spawnQueueingUpstream } from './overload-load.js';
import { stop, type Pinned } from './processes.js';
import { sleep } from './proc-stats.js';
import { startWeft } from './weft.js';

/** The id `--scenarios overload` selects this part by. */
export const overloadId = 'overload';

const capacity = 20;
const serviceMs = 100;
/** A window holds a few round trips (see README, Adaptive concurrency). */
const updateIntervalMs = 500;
const minRttRequests = 30;
const settleMs = 4000;

export interface OverloadSettings {
  upstream: string;
  adaptiveConcurrency: Record<string, number>;
  loadedS: number;
  loadedClients: number;
  lightClients: number;
}

/** Everything but settings and failures is absent when the part could not run. */
export interface OverloadResult {
  settings: OverloadSettings;
  minRttMs?: number;
  unloaded?: { requests: number; p50Ms: number; p99Ms: number };
  loaded?: {
    admitted: number;
    admittedPerSec: number;
    refused: number;
    refusedPerSec: number;
    admittedP50Ms: number;
    admittedP99Ms: number;
    /** admitted p99 ÷ unloaded p50; the target is ≤ 2 (judged in `met`, not a failure of the run). */
    p99OverUnloaded: number;
    met: boolean;
    refusalMs: { p50: number; p99: number; max: number };
    limit: { median: number; min: number; max: number };
  };
  light?: { requests: number; refusedAfter1s: number; limitAfter: number };
  failures: string[];
}

export interface OverloadDeps {
  options: BenchOptions;
  folder: string;
  port: number;
  adminPort: number;
  proxyCore: number;
  log: (line: string) => void;
}

export function overloadSettings(options: BenchOptions): OverloadSettings {
  return {
    upstream: `${capacity} workers, ${serviceMs} ms per request up to ${capacity} in flight, then ${serviceMs} ms × in-flight/${capacity} (its own process, on either core)`,
    adaptiveConcurrency: { update_interval_ms: updateIntervalMs, min_rtt_request_count: minRttRequests },
    loadedS: Math.max(options.durationS, 4) + settleMs / 1000,
    loadedClients: 4 * capacity,
    lightClients: capacity / 2,
  };
}

export async function runOverload(deps: OverloadDeps): Promise<OverloadResult> {
  const settings = overloadSettings(deps.options);
  const url = `http://127.0.0.1:${deps.port}`;
  const failures: string[] = [];
  const upstream = await spawnQueueingUpstream(capacity, serviceMs);
  // The upstream may run on either core: on the load core alone, behind the 80 clients, its
  // timers fired late and its lateness became the admitted requests' p99 (345 ms against 183 ms
  // when it may use both cores, at the same limit). Its few % of CPU beside the proxy matter
  // less here than a true latency curve, and this part reports no CPU per request.
  execFileSync('taskset', ['-a', '-p', '-c', '0,1', String(upstream.pid)], { stdio: 'ignore' });
  let proc: Pinned | undefined;
  try {
    proc = await startWeft({
      name: 'weft-overload',
      filters: 0,
      folder: deps.folder,
      port: deps.port,
      adminPort: deps.adminPort,
      upstreamPort: upstream.port,
      core: deps.proxyCore,
      accessLog: true,
      cluster: { adaptive_concurrency: settings.adaptiveConcurrency },
    });
    const logFile = proc.logFile;
    const stats = async () => {
      const response = await request(`http://127.0.0.1:${deps.adminPort}/stats`);
      const body = (await response.body.json()) as { overload: { clusters: Array<{ adaptive_concurrency: { limit: number; min_rtt_ms: number; measuring_min_rtt: boolean } }> } };
      return body.overload.clusters[0]!.adaptive_concurrency;
    };

    // 1. minRTT at low concurrency, then the unloaded latency.
    await runClosedLoop({ url, concurrency: 2, durationMs: 30_000, maxRequests: minRttRequests + 2, backoffMs: 0 });
    const measured = await stats();
    if (measured.measuring_min_rtt) failures.push('minRTT was still being measured after its requests');
    let from = Date.now();
    await runClosedLoop({ url, concurrency: 2, durationMs: 2000, maxRequests: 1000, backoffMs: 0 });
    const unloaded = accessLines(logFile, from, Date.now());
    const unloadedOk = unloaded.filter((l) => l.status === 200).map((l) => l.duration_ms);

    // 2. Four times the upstream's concurrency.
    const limits: number[] = [];
    let polling = true;
    const loadStart = Date.now();
    const poll = (async () => {
      while (polling) {
        if (Date.now() - loadStart > settleMs) limits.push((await stats()).limit);
        await sleep(200);
      }
    })();
    await runClosedLoop({ url, concurrency: settings.loadedClients, durationMs: settings.loadedS * 1000, maxRequests: 1_000_000, backoffMs: serviceMs });
    polling = false;
    await poll;
    const steadyFrom = loadStart + settleMs;
    const steadyS = (Date.now() - steadyFrom) / 1000;
    const steady = accessLines(logFile, steadyFrom, Date.now());
    const admitted = steady.filter((l) => l.status === 200).map((l) => l.duration_ms);
    const refusals = steady.filter((l) => l.flags === 'AC').map((l) => l.duration_ms);
    const other = steady.filter((l) => l.status !== 200 && l.flags !== 'AC');
    if (other.length > 0) failures.push(`${other.length} answers under load were neither 200 nor a 503 AC`);

    // 3. The load drops.
    from = Date.now();
    await runClosedLoop({ url, concurrency: settings.lightClients, durationMs: 3000, maxRequests: 100_000, backoffMs: serviceMs });
    const light = accessLines(logFile, from, Date.now());
    const limitAfter = (await stats()).limit;

    const unloadedP50 = quantile(unloadedOk, 0.5);
    const admittedP99 = quantile(admitted, 0.99);
    const loaded = {
      admitted: admitted.length,
      admittedPerSec: admitted.length / steadyS,
      refused: refusals.length,
      refusedPerSec: refusals.length / steadyS,
      admittedP50Ms: quantile(admitted, 0.5),
      admittedP99Ms: admittedP99,
      p99OverUnloaded: admittedP99 / unloadedP50,
      met: admittedP99 / unloadedP50 <= 2,
      refusalMs: { p50: quantile(refusals, 0.5), p99: quantile(refusals, 0.99), max: Math.max(...refusals) },
      limit: { median: quantile(limits, 0.5), min: Math.min(...limits), max: Math.max(...limits) },
    };
    const lightLoad = { requests: light.length, refusedAfter1s: light.filter((l) => l.status !== 200 && l.time > from + 1000).length, limitAfter };
    deps.log(
      `overload: minRTT ${measured.min_rtt_ms} ms; unloaded p50 ${unloadedP50} ms; at 4x: limit ${loaded.limit.median} (${loaded.limit.min}–${loaded.limit.max}), ` +
        `${loaded.admittedPerSec.toFixed(0)} admitted/s p99 ${admittedP99} ms, ${loaded.refusedPerSec.toFixed(0)} refused/s in p99 ${loaded.refusalMs.p99} ms; ` +
        `light load: ${lightLoad.refusedAfter1s} refused, limit ${limitAfter}`,
    );
    return { settings, minRttMs: measured.min_rtt_ms, unloaded: { requests: unloadedOk.length, p50Ms: unloadedP50, p99Ms: quantile(unloadedOk, 0.99) }, loaded, light: lightLoad, failures };
  } finally {
    if (proc) await stop(proc);
    await upstream.stop();
  }
}

interface AccessLine {
  time: number;
  status: number;
  duration_ms: number;
  flags: string;
}

/** The access-log lines Weft wrote to its log between two times (pino's `time`). */
function accessLines(logFile: string, fromMs: number, toMs: number): AccessLine[] {
  const lines: AccessLine[] = [];
  for (const line of readFileSync(path.resolve(logFile), 'utf8').split('\n')) {
    if (!line.includes('"msg":"access"')) continue;
    const entry = JSON.parse(line) as AccessLine;
    if (entry.time >= fromMs && entry.time <= toMs) lines.push(entry);
  }
  return lines;
}
