// One wrk run, pinned to the load core, and what it reports.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './options.js';
import { runToCompletion } from './processes.js';
import { requestHeaders, type Scenario } from './scenarios.js';

export interface WrkResult {
  requests: number;
  durationS: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { mean: number; p50: number; p90: number; p99: number; max: number };
}

export interface WrkRun {
  scenario: Scenario;
  port: number;
  connections: number;
  durationS: number;
  core: number;
  /** Folder for the generated Lua script. */
  folder: string;
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const script = path.join(run.folder, `wrk-${run.scenario.id}.lua`);
  writeFileSync(script, run.scenario.lua + readFileSync(path.join(repoRoot, 'bench', 'wrk', 'report.lua'), 'utf8'));
  const headers = [...requestHeaders, ...run.scenario.extraHeaders].flatMap((h) => ['-H', h]);
  const args = ['-c', String(run.core), 'wrk', '-t1', `-c${run.connections}`, `-d${run.durationS}s`, '--timeout', '5s', '-s', script, ...headers,
    `http://127.0.0.1:${run.port}${run.scenario.path}`];
  const stdout = await runToCompletion('wrk', 'taskset', args, (run.durationS + 30) * 1000);
  const line = stdout.split('\n').find((l) => l.startsWith('WRK_RESULT '));
  if (!line) throw new Error(`wrk printed no result line:\n${stdout.trim()}`);
  const raw = JSON.parse(line.slice('WRK_RESULT '.length)) as {
    requests: number;
    duration_us: number;
    bytes: number;
    errors: WrkResult['errors'];
    latency_us: WrkResult['latencyUs'];
  };
  return { requests: raw.requests, durationS: raw.duration_us / 1e6, bytes: raw.bytes, errors: raw.errors, latencyUs: raw.latency_us };
}

