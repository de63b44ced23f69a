// Runs the ABI micro-benchmarks (bench/abi-micro.ts) and the in-process chain costs
// (bench/chain-micro.ts), each in a process of its own on the proxy core.
import path from 'node:path';
import { repoRoot } from './options.js';
import { runToCompletion } from './processes.js';
import type { Spread } from './stats.js';

export type MicroResult =
  | { skipped: string }
  | { iterations: number; repeats: number; benchmarks: { name: string; nsPerOp: Spread }[] };

/** The line abi-micro.js prints its result on. */
export const microResultPrefix = 'MICRO_RESULT ';

export async function runMicroBenchmarks(iterations: number, core: number): Promise<MicroResult> {
  const script = path.join(repoRoot, 'dist', 'bench', 'abi-micro.js');
  const stdout = await runToCompletion('abi-micro', 'taskset', ['-c', String(core), process.execPath, script, String(iterations)], 600_000);
  const line = stdout.split('\n').find((l) => l.startsWith(microResultPrefix));
  if (!line) throw new Error(`abi-micro printed no result line:\n${stdout.trim()}`);
  return JSON.parse(line.slice(microResultPrefix.length)) as MicroResult;
}

export type ChainMicroResult =
  | { skipped: string }
  | { requests: number; samples: number; results: { name: string; nsPerRequest: Spread }[] };

/** The line chain-micro.js prints its result on. */
export const chainMicroResultPrefix = 'CHAIN_MICRO_RESULT ';

export async function runChainMicro(requests: number, core: number): Promise<ChainMicroResult> {
  const script = path.join(repoRoot, 'dist', 'bench', 'chain-micro.js');
  const stdout = await runToCompletion('chain-micro', 'taskset', ['-c', String(core), process.execPath, script, String(requests)], 600_000);
  const line = stdout.split('\n').find((l) => l.startsWith(chainMicroResultPrefix));
  if (!line) throw new Error(`chain-micro printed no result line:\n${stdout.trim()}`);
  return JSON.parse(line.slice(chainMicroResultPrefix.length)) as ChainMicroResult;
}
