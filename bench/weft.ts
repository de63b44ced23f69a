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
  /** A number of no-op filters, or the quickstart chain. */
  filters: number | 'quickstart';
  /** Keys added to the `up` cluster (the overload part's adaptive_concurrency). */
  cluster?: Record<string, unknown>;
  /** Write the access log to the log file (default off, as the rounds measure without it). */
  accessLog?: boolean;
  /** Forces the listener engine (default: auto, uWebSockets.js where a binary loads). */
  engine?: 'node';
  /** Worker threads (default 1: the single-thread figures stay comparable whatever `workers: auto` gives here). */
  workers?: number;
  /** The listener speaks h2c only (listen.protocols [h2]). */
  h2c?: boolean;
}

const builtIn = (name: string) => path.join(repoRoot, 'filters', name, 'build', `${name}.wasm`);

/**
 * The quickstart chain (examples/quickstart/weft.yaml) pointed at the bench upstream: the same
 * filters doing the same work per request, with the rate limit set high enough never to refuse
 * a benchmark request (its buckets are still taken from and written back every request).
 */
function quickstartChain() {
  return [
    { name: 'router', module: builtIn('router'), config: { routes: [{ name: 'health', match: { path: '/healthz' }, direct_response: { status: 200 } }, { name: 'api', match: { prefix: '/' }, cluster: 'up', timeout_ms: 5000, retry: { attempts: 1, on: ['gateway-error', 'connect-failure', 'reset'] } }] } },
    { name: 'auth', module: builtIn('auth'), config: { api_key: { keys: [{ key: 'demo-key', name: 'bench' }] }, rules: [{ prefix: '/private/', methods: ['api_key'] }], default: { methods: [] } } },
    { name: 'ratelimit', module: builtIn('ratelimit'), config: { rules: [{ name: 'per-client', key: 'source_address', rate: 100_000_000, per: 'second', burst: 100_000_000 }] } },
    { name: 'breaker', module: builtIn('breaker'), config: { consecutive_5xx: 3, max_ejection_percent: 50 }, vm_id: 'mesh' },
    { name: 'lb', module: builtIn('lb'), config: { default_policy: 'least_request' }, vm_id: 'mesh' },
    { name: 'telemetry', module: builtIn('telemetry'), config: { response_header: 'x-trace-id' } },
  ];
}

export async function startWeft(start: WeftStart): Promise<Pinned> {
  if (!existsSync(compiledCli)) {
    throw new Error(`weft is not built: ${path.relative(repoRoot, compiledCli)} is missing (run npm run build)`);
  }
  const filters =
    start.filters === 'quickstart'
      ? quickstartChain()
      : Array.from({ length: start.filters }, (_, i) => ({ name: `noop${i + 1}`, module: noopFilterWasm, config: '' }));
  for (const filter of filters) {
    if (!existsSync(filter.module)) throw new Error(`filter ${filter.name} is not built: ${path.relative(repoRoot, filter.module)} is missing (run npm run build)`);
  }
  mkdirSync(start.folder, { recursive: true });
  const manifest = {
    listen:
      start.engine === undefined && start.h2c !== true
        ? `127.0.0.1:${start.port}`
        : { address: `127.0.0.1:${start.port}`, ...(start.engine === undefined ? {} : { engine: start.engine }), ...(start.h2c === true ? { protocols: ['h2'] } : {}) },
    // A throwaway proxy on loopback whose admin API the harness itself calls (hot swap, /stats).
    admin: { listen: `127.0.0.1:${start.adminPort}`, auth: 'none' },
    clusters: [{ name: 'up', endpoints: [`127.0.0.1:${start.upstreamPort}`], ...start.cluster }],
    default_cluster: 'up',
    filters,
    access_log: start.accessLog ? 'stdout' : 'off',
    workers: start.workers ?? 1,
  };
  const manifestFile = path.join(start.folder, 'weft.yaml');
  writeFileSync(manifestFile, stringify(manifest));
  const proc = spawnPinned(start.name, start.core, process.execPath, [weftCli, 'run', '-c', manifestFile], path.join(start.folder, 'weft.log'), repoRoot);
  await waitForPort(proc, start.port);
  return proc;
}
