// The `weft` command (bin/weft.js imports this file, which runs it).
//
// Exit codes: 0 ok; 1 a bad manifest or filter, or a failed start/stop; 2 a usage error.
// Problems are printed to stderr one per line, exactly as loadManifest/checkFilters word them.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Readiness } from './admin/readiness.js';
import { startAdminServer, type AdminServer } from './admin/server.js';
import type { ServerInfo } from './admin/routes/server.js';
import { CONTROL_USAGE, isControlCommand, runControlCommand } from './cli/control-commands.js';
import { checkModuleFile } from './cli/module-check.js';
import { runDevCommand } from './cli/dev-command.js';
import { runStatsCommand, STATS_USAGE } from './cli/stats-command.js';
import { loadManifest } from './config/load.js';
import { assertAddressFree } from './net/address.js';
import type { Manifest } from './config/schema.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { WeftMetrics } from './telemetry/metrics.js';
import { checkFilters, startWeft, type Weft } from './weft.js';
import { workerCount } from './workers/worker-count.js';
import { startWorkers } from './workers/workers-weft.js';

const USAGE = `Usage: weft <command> [options]

Commands:
  run -c FILE         start the proxy the manifest FILE describes
  validate -c FILE    check the manifest FILE and its filters, imports included (exit 0 = ok, 1 = problems)
  filter ...          a filter project (init, build), or the registry of a running proxy (see below)
  dev                 build the filter project here, serve it, rebuild and hot-swap on save
  chain ...           the chain of a running proxy (see below)
  stats               traffic figures of a running proxy (see below)

Options:
  -c, --config FILE   the manifest, YAML or JSON
  -h, --help          show this help
  -v, --version       print the version

${CONTROL_USAGE}
${STATS_USAGE}`;

const USAGE_ERROR = 2;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number | 'running'> {
  // `weft filter ...` / `weft chain ...` are clients of a running proxy, with options of their own.
  if (isControlCommand(argv[0])) return runControlCommand(argv);
  if (argv[0] === 'stats') return runStatsCommand(argv.slice(1));
  if (argv[0] === 'dev') return runDevCommand(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    // Node's message adds advice about `--` after its first sentence; the first sentence is enough.
    throw new UsageError((error as Error).message.replace(/\. .*$/s, ''));
  }
  const { values, positionals } = parsed;

  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }

  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('no command given');
  if (command !== 'run' && command !== 'validate') throw new UsageError(`unknown command "${command}"`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.config === undefined) throw new UsageError(`${command} needs -c FILE`);

  if (command === 'validate') return validate(values.config);
  const manifest = await checkedManifest(values.config);
  if (manifest === undefined) return 1;
  return run(manifest);
}

/**
 * checkedManifest, then each filter module's imports: one the host does not implement is an
 * error (it links to a stub and fails at request time), or a warning when SDKs probe for it.
 */
async function validate(file: string): Promise<number> {
  const loaded = await loadManifest(file);
  if (!loaded.ok) {
    printProblems(loaded.errors);
    return 1;
  }
  const problems = await checkFilters(loaded.manifest);
  const warnings: string[] = [];
  for (const [index, filter] of loaded.manifest.filters.entries()) {
    const findings = await checkModuleFile(filter.module);
    const location = `filters[${index}] (${filter.name})`;
    problems.push(...findings.errors.map((error) => `${location}: ${error}`));
    warnings.push(...findings.warnings.map((warning) => `warning: ${location}: ${warning}`));
  }
  printProblems([...new Set(problems), ...warnings]);
  if (problems.length > 0) return 1;
  process.stdout.write(`ok: ${file}${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}\n`);
  return 0;
}

/** The manifest when it and its filters are sound; otherwise prints every problem. */
async function checkedManifest(file: string): Promise<Manifest | undefined> {
  const loaded = await loadManifest(file);
  if (!loaded.ok) {
    printProblems(loaded.errors);
    return undefined;
  }
  const problems = await checkFilters(loaded.manifest);
  if (problems.length > 0) {
    printProblems(problems);
    return undefined;
  }
  return loaded.manifest;
}

async function run(manifest: Manifest): Promise<number | 'running'> {
  const startedAtMs = Date.now();
  const logger = createLogger(manifest.log_level);
  const metrics = new WeftMetrics();

  let weft: Weft;
  let workerThreads = 1;
  try {
    // Nothing listens until both addresses are known to be free: a taken admin port must not
    // leave a proxy that served for a moment.
    await assertAddressFree(manifest.admin.host, manifest.admin.port).catch((error: Error) => {
      throw new Error(`admin: cannot listen on ${manifest.admin.host}:${manifest.admin.port} (${error.message})`);
    });
    const workers = workerCount(manifest);
    if (workers.reduced !== undefined) logger.warn({ workers: 1 }, workers.reduced);
    weft = workers.count > 1 ? await startWorkers(manifest, workers.count, { logger, metrics }) : await startWeft(manifest, { logger, metrics });
    workerThreads = workers.count;
  } catch (error) {
    printProblems(startupProblems(error));
    return 1;
  }

  const readiness = new Readiness(() => weft.degraded());
  let admin: AdminServer;
  try {
    const server = serverInfo(manifest, weft, startedAtMs, workerThreads);
    admin = await startAdminServer(manifest.admin, { readiness, server, registry: weft.registry, chains: weft.chains, services: weft.services, stats: weft.stats, metrics, logger });
  } catch (error) {
    printProblems([(error as Error).message]);
    await weft.stop();
    return 1;
  }
  logger.info({ host: admin.host, port: admin.port }, 'admin listening');
  readiness.serving();
  stopOnSignals(weft, admin, readiness, logger);
  return 'running';
}

/** What GET /server and the admin page's overview say about this process. */
function serverInfo(manifest: Manifest, weft: Weft, startedAtMs: number, workers: number): ServerInfo {
  const { listen, admin } = manifest;
  return {
    version: version(),
    startedAtMs,
    workers,
    listeners: [{ address: `${listen.host}:${listen.port}`, protocol: listen.tls === undefined ? 'http' : 'https' }],
    admin: { address: `${admin.host}:${admin.port}` },
    store: weft.store,
  };
}

/**
 * First SIGTERM/SIGINT: report not-ready, drain (weft.stop is bounded by
 * limits.drain_timeout_ms), exit 0. A second signal while draining: exit 1 at once.
 */
function stopOnSignals(weft: Weft, admin: AdminServer, readiness: Readiness, logger: Logger): void {
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      logger.warn({ signal }, 'second signal while draining: exiting now');
      // Worker threads close their sockets first (see WorkerPool.halt); bounded, as a second signal asks for speed.
      const halted = weft.halt?.() ?? Promise.resolve();
      void Promise.race([halted, new Promise((resolve) => setTimeout(resolve, 1000))]).then(() => process.exit(1));
      return;
    }
    draining = true;
    readiness.notReady('draining');
    logger.info({ signal }, 'draining');
    weft.stop().then(
      () => {
        admin.close();
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** startWeft throws StartupError {problems} for a bad chain; anything else is one problem. */
function startupProblems(error: unknown): string[] {
  const problems = (error as { problems?: unknown } | null)?.problems;
  if (Array.isArray(problems) && problems.every((problem) => typeof problem === 'string')) return problems;
  return [error instanceof Error ? error.message : String(error)];
}

function printProblems(problems: readonly string[]): void {
  process.stderr.write(problems.map((problem) => `${problem}\n`).join(''));
}

function version(): string {
  // dist/host/cli.js -> the package root's package.json
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// Explicit exits: a half-started proxy must not keep the process alive after a failure.
// (stdout/stderr writes to files and pipes are synchronous, and pino flushes on exit.)
main(process.argv.slice(2)).then(
  (outcome) => {
    // 'running': the proxy serves until a signal.
    if (outcome !== 'running') process.exit(outcome);
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`weft: ${error.message}\n\n${USAGE}`);
      process.exit(USAGE_ERROR);
    }
    process.stderr.write(`weft: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
