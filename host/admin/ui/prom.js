// Reading GET /metrics (Prometheus text format) for the figures /stats does not have: the
// request counters behind the live rates, and the filters' phase latencies, traps and
// cool-downs. Pure functions (no DOM), so Node's test runner can check them too.

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample: `{name, labels, value}`. Comments and malformed lines are skipped. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const labels = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(LABEL)) labels[key] = raw.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of `name`'s samples per value of `label`: `{web: 120, api: 3}`. */
export function sumBy(samples, name, label) {
  const sums = {};
  for (const sample of samples) {
    if (sample.name !== name) continue;
    const key = sample.labels[label] ?? '';
    sums[key] = (sums[key] ?? 0) + sample.value;
  }
  return sums;
}

const PHASE_METRIC = 'weft_filter_phase_duration_seconds';

/**
 * Per filter, per phase: calls, mean and p99 (in ms) since the proxy started, from the phase
 * histogram. The p99 is the upper bound of the bucket the 99th percentile falls in.
 * `{auth: {request_headers: {calls, mean_ms, p99_ms}}}`
 */
export function filterPhases(samples) {
  const cells = {};
  const cell = (labels) => {
    const byPhase = (cells[labels.filter] ??= {});
    return (byPhase[labels.phase] ??= { calls: 0, sum: 0, buckets: [] });
  };
  for (const sample of samples) {
    if (!sample.name.startsWith(PHASE_METRIC) || sample.labels.filter === undefined) continue;
    const suffix = sample.name.slice(PHASE_METRIC.length);
    if (suffix === '_count') cell(sample.labels).calls = sample.value;
    else if (suffix === '_sum') cell(sample.labels).sum = sample.value;
    else if (suffix === '_bucket') cell(sample.labels).buckets.push([Number(sample.labels.le), sample.value]);
  }
  const out = {};
  for (const [filter, phases] of Object.entries(cells)) {
    out[filter] = {};
    for (const [phase, { calls, sum, buckets }] of Object.entries(phases)) {
      if (calls === 0) continue;
      buckets.sort((a, b) => a[0] - b[0]);
      const bound = buckets.find(([, cumulative]) => cumulative >= calls * 0.99)?.[0];
      out[filter][phase] = { calls, mean_ms: (sum / calls) * 1000, p99_ms: bound === undefined || bound === Infinity ? null : bound * 1000 };
    }
  }
  return out;
}
