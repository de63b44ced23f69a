// Runs one `weft` CLI command (node bin/weft.js ...) to its end, for tests of client commands.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './repo.js';

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<CliOutcome> {
  return new Promise((resolveOutcome, reject) => {
    // WEFT_ADMIN_* from the environment of the test run must not leak into a test.
    const { WEFT_ADMIN_URL: _url, WEFT_ADMIN_TOKEN: _token, ...inherited } = process.env;
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'weft.js'), ...args], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveOutcome({ code, stdout, stderr });
    });
  });
}
