// Weft under test: a manifest written to the temp folder, `node bin/weft.js run -c MANIFEST`.
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from './options.js';
import { spawnPinned, waitForPort, type Pinned } from './processes.js';

/** The no-op filter (test/filters/noop), built by `npm run build`. */
export const noopFilterWasm = path.join(repoRoot, 'test', 'filters', 'noop', 'build', 'noop.wasm');
const weftCli = path.join(repoRoot, 'bin', 'weft.js');
const compiledCli = path.join(repoRoot, 'dist', 'host', 'cli.js');

export interface WeftStart {
  name: string;
  folder: string;
  port: number;
  adminPort: number;
  upstreamPort: number;
  core: number;
  noopFilters: number;
}

export async function startWeft(start: WeftStart): Promise<Pinned> {
  if (!existsSync(compiledCli)) {
    throw new Error(`weft is not built: ${path.relative(repoRoot, compiledCli)} is missing (run npm run build)`);
  }
  if (start.noopFilters > 0 && !existsSync(noopFilterWasm)) {
    throw new Error(`the no-op filter is not built: ${path.relative(repoRoot, noopFilterWasm)} is missing (run npm run build)`);
  }
  mkdirSync(start.folder, { recursive: true });
  const manifest = {
    listen: `127.0.0.1:${start.port}`,
    admin: { listen: `127.0.0.1:${start.adminPort}` },
    clusters: [{ name: 'up', endpoints: [`127.0.0.1:${start.upstreamPort}`] }],
    default_cluster: 'up',
    filters: Array.from({ length: start.noopFilters }, (_, i) => ({
      name: `noop${i + 1}`,
      module: noopFilterWasm,
      config: '',
    })),
    access_log: 'off',
  };
  const manifestFile = path.join(start.folder, 'weft.yaml');
  writeFileSync(manifestFile, stringify(manifest));
  const proc = spawnPinned(start.name, start.core, process.execPath, [weftCli, 'run', '-c', manifestFile], path.join(start.folder, 'weft.log'), repoRoot);
  await waitForPort(proc, start.port);
  return proc;
}
