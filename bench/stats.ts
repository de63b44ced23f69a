// Medians over rounds, and the ratios the issue asks for, computed inside each round.

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** The measurements of one configuration in one scenario of one round. */
export interface RunRecord {
  round: number;
  config: string;
  scenario: string;
  ok: boolean;
  error?: string;
  connections: number;
  requests: number;
  durationS: number;
  reqPerSec: number;
  /** Proxy process tree, utime+stime over the run, divided by requests served. */
  cpuPerReqUs: number | null;
  userPerReqUs: number | null;
  sysPerReqUs: number | null;
  /** Proxy CPU time over wall time: 1.0 means the proxy's core was saturated. */
  proxyCoreBusy: number | null;
  upstreamCpuPerReqUs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Proxy process tree's resident memory right after the run. */
  rssMiB: number | null;
  socketErrors: number;
  non2xx: number;
  /** Machine idle fraction just before the run, how long we waited for it, and whether it was quiet. */
  idleBefore: number;
  quietWaitMs: number;
  quiet: boolean;
}

export type Metric = 'cpuPerReqUs' | 'userPerReqUs' | 'p99Ms' | 'reqPerSec';

export interface RatioDefinition {
  id: string;
  label: string;
  numerator: string;
  denominator: string;
  metric: Metric;
  /** ratio: numerator ÷ denominator; difference: numerator − denominator (in the metric's unit). */
  kind: 'ratio' | 'difference';
  target?: string;
  /** The one scenario it is computed in (default: every scenario run). */
  scenario?: string;
  /** The denominator's scenario, when it is another one (the same request over h2c and over HTTP/1.1). */
  denominatorScenario?: string;
}

export const ratioDefinitions: RatioDefinition[] = [
  { id: 'weft-empty/bare', label: 'Weft empty chain ÷ bare forwarder, CPU/req', numerator: 'weft-empty', denominator: 'bare-forwarder', metric: 'cpuPerReqUs', kind: 'ratio', target: '≤ 0.80' },
  { id: 'noop1-added', label: 'CPU added by 1 no-op filter (µs/req)', numerator: 'weft-noop1', denominator: 'weft-empty', metric: 'cpuPerReqUs', kind: 'difference', target: '≤ 1 µs' },
  { id: 'noop5-added', label: 'CPU added by 5 no-op filters (µs/req)', numerator: 'weft-noop5', denominator: 'weft-empty', metric: 'cpuPerReqUs', kind: 'difference' },
  { id: 'noop5/empty', label: 'Weft 5 no-op filters ÷ empty chain, CPU/req', numerator: 'weft-noop5', denominator: 'weft-empty', metric: 'cpuPerReqUs', kind: 'ratio', target: '≤ 1.10' },
  { id: 'node-engine/auto', label: 'Weft empty chain, node:http engine ÷ auto engine, CPU/req', numerator: 'weft-empty-node', denominator: 'weft-empty', metric: 'cpuPerReqUs', kind: 'ratio' },
  { id: 'workers-2/1', label: 'Weft empty chain, workers: 2 ÷ one thread, CPU/req (both on the one proxy core)', numerator: 'weft-workers-2', denominator: 'weft-empty', metric: 'cpuPerReqUs', kind: 'ratio', target: '≤ 1.10' },
  { id: 'quickstart-workers-2/1', label: 'Weft quickstart chain, workers: 2 ÷ one thread, CPU/req (both on the one proxy core)', numerator: 'weft-quickstart-workers-2', denominator: 'weft-quickstart', metric: 'cpuPerReqUs', kind: 'ratio', target: '≤ 1.10' },
  { id: 'weft-empty/nginx', label: 'Weft empty chain ÷ nginx, CPU/req', numerator: 'weft-empty', denominator: 'nginx', metric: 'cpuPerReqUs', kind: 'ratio' },
  { id: 'weft-empty/fastify', label: 'Weft empty chain ÷ fastify-http-proxy, CPU/req', numerator: 'weft-empty', denominator: 'fastify-http-proxy', metric: 'cpuPerReqUs', kind: 'ratio' },
  { id: 'weft-empty/nginx-p99', label: 'Weft empty chain ÷ nginx, p99', numerator: 'weft-empty', denominator: 'nginx', metric: 'p99Ms', kind: 'ratio', target: '≤ 3' },
  { id: 'weft-quickstart/fastify', label: 'Weft quickstart chain ÷ fastify-http-proxy, CPU/req', numerator: 'weft-quickstart', denominator: 'fastify-http-proxy', metric: 'cpuPerReqUs', kind: 'ratio', target: '≤ 0.9 (stretch 0.6)' },
  { id: 'weft-quickstart/nginx', label: 'Weft quickstart chain ÷ nginx, CPU/req', numerator: 'weft-quickstart', denominator: 'nginx', metric: 'cpuPerReqUs', kind: 'ratio', target: '≤ 2 (moonshot)' },
  { id: 'weft-empty-h2c/nginx-h2c', label: 'Weft empty chain ÷ nginx, both serving h2c, CPU/req', numerator: 'weft-empty-h2c', denominator: 'nginx-h2c', metric: 'cpuPerReqUs', kind: 'ratio', scenario: 'get-h2' },
  { id: 'weft-quickstart-h2c/nginx-h2c', label: 'Weft quickstart chain ÷ nginx, both serving h2c, CPU/req', numerator: 'weft-quickstart-h2c', denominator: 'nginx-h2c', metric: 'cpuPerReqUs', kind: 'ratio', scenario: 'get-h2' },
  { id: 'weft-empty-h2c/h1', label: 'Weft empty chain, h2c clients (get-h2) ÷ HTTP/1.1 clients (get), CPU/req', numerator: 'weft-empty-h2c', denominator: 'weft-empty', metric: 'cpuPerReqUs', kind: 'ratio', scenario: 'get-h2', denominatorScenario: 'get' },
  { id: 'weft-quickstart-h2c/h1', label: 'Weft quickstart chain, h2c clients (get-h2) ÷ HTTP/1.1 clients (get), CPU/req', numerator: 'weft-quickstart-h2c', denominator: 'weft-quickstart', metric: 'cpuPerReqUs', kind: 'ratio', scenario: 'get-h2', denominatorScenario: 'get' },
  { id: 'weft-quickstart/nginx-p99', label: 'Weft quickstart chain ÷ nginx, p99', numerator: 'weft-quickstart', denominator: 'nginx', metric: 'p99Ms', kind: 'ratio', target: '≤ 3' },
];

/** The scenario the targets are stated for. */
export const targetScenario = 'get';

export interface RatioResult {
  id: string;
  label: string;
  kind: RatioDefinition['kind'];
  scenario: string;
  target: string | null;
  perRound: { round: number; value: number }[];
  spread: Spread | null;
}

/**
 * Each ratio whose two configurations were run, per scenario, from the rounds in which both
 * sides ran cleanly (a side that failed leaves the ratio without data, which the report shows).
 */
export function computeRatios(runs: RunRecord[], scenarioIds: string[], configIds: string[]): RatioResult[] {
  const results: RatioResult[] = [];
  const runnable = ratioDefinitions.filter((d) => configIds.includes(d.numerator) && configIds.includes(d.denominator));
  for (const scenario of scenarioIds) {
    for (const def of runnable) {
      const denominatorScenario = def.denominatorScenario ?? scenario;
      if ((def.scenario !== undefined && def.scenario !== scenario) || !scenarioIds.includes(denominatorScenario)) continue;
      // Neither side ran here (an HTTP/1.1 configuration in an h2c scenario): nothing to say.
      if (!runs.some((r) => (r.scenario === scenario && r.config === def.numerator) || (r.scenario === denominatorScenario && r.config === def.denominator))) continue;
      const perRound: { round: number; value: number }[] = [];
      for (const num of runs) {
        if (num.scenario !== scenario || num.config !== def.numerator || !num.ok) continue;
        const den = runs.find((r) => r.scenario === denominatorScenario && r.config === def.denominator && r.round === num.round && r.ok);
        const a = num[def.metric];
        const b = den?.[def.metric];
        if (a === null || b === null || b === undefined) continue;
        perRound.push({ round: num.round, value: def.kind === 'ratio' ? a / b : a - b });
      }
      results.push({
        id: def.id,
        label: def.label,
        kind: def.kind,
        scenario,
        // The issue states its targets for the loaded GET; other scenarios are context.
        target: scenario === targetScenario ? def.target ?? null : null,
        perRound,
        spread: spread(perRound.map((p) => p.value)),
      });
    }
  }
  return results;
}
