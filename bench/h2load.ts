// One h2load run (nghttp2's HTTP/2 load generator), pinned to the load core, reported in wrk's
// terms so that the harness measures and reports it like any other run. h2load speaks h2c by
// prior knowledge to an http:// URL. Its summary has no percentiles, so latencies come from its
// per-request log (--log-file: start µs, status, µs until the response ended).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runToCompletion } from './processes.js';
import { requestHeaders, type Scenario } from './scenarios.js';
import type { WrkResult, WrkRun } from './wrk.js';

export async function runH2load(run: WrkRun): Promise<WrkResult> {
  const log = path.join(run.folder, `h2load-${run.scenario.id}.log`);
  const headers = [...requestHeaders, ...run.scenario.extraHeaders].flatMap((h) => ['-H', h]);
  const streams = run.scenario.streams ?? 1;
  const args = ['-c', String(run.core), 'h2load', '-t1', `-c${run.connections}`, `-m${streams}`, `-D${run.durationS}`, `--log-file=${log}`, ...headers,
    `http://127.0.0.1:${run.port}${run.scenario.path}`];
  const stdout = await runToCompletion('h2load', 'taskset', args, (run.durationS + 30) * 1000);
  return parseH2load(stdout, readFileSync(log, 'utf8'), run.scenario);
}

/** The summary lines ("finished in 4.00s", "requests: ...", "status codes: ...", "traffic: ...") and the per-request log. */
export function parseH2load(stdout: string, requestLog: string, scenario: Scenario): WrkResult {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(stdout);
    if (match === null) throw new Error(`h2load printed no ${what} (${scenario.id}):\n${stdout.trim()}`);
    return Number(match[1]);
  };
  const durationS = number(/finished in ([\d.]+)s/, 'duration');
  const succeeded = number(/requests: .*?(\d+) succeeded/, 'request count');
  const failed = number(/requests: .*?(\d+) failed/, 'failure count');
  const errored = number(/requests: .*?(\d+) errored/, 'error count');
  const timeouts = number(/requests: .*?(\d+) timeout/, 'timeout count');
  const bytes = number(/traffic: .*?\((\d+)\) total/, 'byte count');
  const latencies: number[] = [];
  for (const line of requestLog.split('\n')) {
    const [, status, micros] = line.split('\t');
    if (status !== undefined && micros !== undefined && Number(status) > 0) latencies.push(Number(micros));
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const mean = latencies.reduce((sum, value) => sum + value, 0) / Math.max(1, latencies.length);
  return {
    requests: succeeded,
    durationS,
    bytes,
    // h2load's "failed" counts the non-2xx/3xx answers, the errored (a reset stream or connection) and the timed out.
    errors: { connect: 0, read: errored, write: 0, status: failed - errored - timeouts, timeout: timeouts },
    latencyUs: { mean, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: latencies.at(-1) ?? 0 },
  };
}
