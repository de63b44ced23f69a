// The machine and the versions a result was measured with, recorded beside the numbers.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './options.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  nginx: string;
  wrk: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nginx: toolOutput('nginx', ['-v']).replace(/^nginx version: /, ''),
    wrk: toolOutput('wrk', ['-v']).split(' Copyright')[0] ?? '',
  };
}

/** First line a tool prints about itself, wherever it prints it and whatever it exits with. */
function toolOutput(tool: string, args: string[]): string {
  const { stdout, stderr } = spawnSync(tool, args, { encoding: 'utf8' });
  return `${stdout ?? ''}${stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}

const measuredPackages = ['uws-20.57', 'uws-20.30', 'undici', 'fastify', '@fastify/http-proxy', '@fastify/reply-from', 'http-proxy'];

/** Versions of the packages under test as installed, and Weft's own version and commit. */
export function versions(): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of measuredPackages) result[name] = packageVersion(path.join(repoRoot, 'node_modules', name, 'package.json'));
  result['weft'] = packageVersion(path.join(repoRoot, 'package.json'));
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    result['weft commit'] = dirty ? `${commit} (uncommitted changes)` : commit;
  } catch {
    result['weft commit'] = 'unknown (no git commit)';
  }
  return result;
}

function packageVersion(file: string): string {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}
