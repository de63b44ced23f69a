// `weft stats`: GET /stats of a running proxy, printed as a table (or as the JSON with --json).
// Options and exit codes as for the other client commands: --admin URL, --token T, -c FILE
// (admin-target.ts); 0 done, 1 the call failed, 2 a usage error.

import { parseArgs } from 'node:util';
import type { ClusterStatsReport, Ejection, StatsReport, WindowStats } from '../telemetry/stats.js';
import { callAdmin } from './admin-client.js';
import { resolveAdminTarget, TARGET_USAGE } from './admin-target.js';
import { table } from './output.js';

export const STATS_USAGE = `Traffic of a running proxy (through its admin API):
  stats [--json]       per cluster and service, over the last minute and hour: requests per
                       second, success and failure rates, p50/p90/p99 latency, ejected endpoints

${TARGET_USAGE}`;

/** Runs `weft stats ...` (`argv` after the word `stats`); the exit code. */
export async function runStatsCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { admin: { type: 'string' }, token: { type: 'string' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    process.stderr.write(`weft: ${(error as Error).message.replace(/\. .*$/s, '')}\n\n${STATS_USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(STATS_USAGE);
    return 0;
  }
  try {
    const target = await resolveAdminTarget(parsed.values, env);
    const { body } = await callAdmin<StatsReport>(target, { method: 'GET', path: '/stats' });
    process.stdout.write(parsed.values.json ? `${JSON.stringify(body, null, 2)}\n` : formatStats(body));
    return 0;
  } catch (error) {
    process.stderr.write(`weft: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

const HEADER = ['WINDOW', 'REQUESTS', 'REQ/S', 'SUCCESS', 'FAILURE', 'P50', 'P90', 'P99'];

/** The report as two tables (clusters, then services when there are any) and the ejections. */
function formatStats(report: StatsReport): string {
  let out = `${section('CLUSTER', report.clusters)}`;
  if (report.services.length > 0) out += `\n${section('SERVICE', report.services)}`;
  const ejections = report.clusters.flatMap((cluster) => cluster.ejected.map((ejection) => ejectionLine(cluster.name, ejection)));
  out += ejections.length === 0 ? '\nno ejected endpoints\n' : `\nejected endpoints:\n${ejections.join('')}`;
  return out;
}

function section(title: string, items: readonly ClusterStatsReport[]): string {
  const rows = items.flatMap((item) => [row(item.name, '1m', item.last_minute), row('', '1h', item.last_hour)]);
  return table([title, ...HEADER], rows);
}

function row(name: string, window: string, stats: WindowStats): string[] {
  const latency = stats.latency_ms;
  return [
    name,
    window,
    String(stats.requests),
    stats.requests_per_second.toFixed(2),
    percent(stats.success_rate),
    percent(stats.failure_rate),
    latency === null ? '-' : milliseconds(latency.p50),
    latency === null ? '-' : milliseconds(latency.p90),
    latency === null ? '-' : milliseconds(latency.p99),
  ];
}

function ejectionLine(cluster: string, ejection: Ejection): string {
  return `  ${cluster}  ${ejection.endpoint}  for ${ejection.remaining_s} s more (until ${ejection.until})\n`;
}

function percent(rate: number | null): string {
  return rate === null ? '-' : `${(rate * 100).toFixed(1)}%`;
}

function milliseconds(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(ms < 1 ? 2 : 1)} ms`;
}
