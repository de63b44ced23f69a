// The live figures: GET /stats and GET /metrics every two seconds while the page is signed in.
// /stats gives the windows (last minute: rate, success, p50/p99); the request counters of
// /metrics give the rate between two polls, which is what the sparklines draw (a minute's
// average would hide a burst).

import { get } from './api.js';
import { parseMetrics, sumBy } from './prom.js';

export const POLL_MS = 2000;
/** Five minutes of points. */
const HISTORY_POINTS = 150;

export class Live {
  stats = undefined;
  samples = [];
  /** Cluster name -> req/s per poll, oldest first. */
  rates = new Map();
  error = undefined;
  #timer = undefined;
  #listeners = new Set();
  #previous = undefined;

  start() {
    if (this.#timer !== undefined) return;
    const tick = async () => {
      await this.poll();
      this.#timer = setTimeout(tick, POLL_MS);
    };
    this.#timer = setTimeout(tick, 0);
  }

  stop() {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  onUpdate(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** req/s history of a service: the sum of its clusters' histories. */
  serviceRates(clusters) {
    const series = clusters.map((name) => this.rates.get(name) ?? []);
    const length = Math.max(0, ...series.map((values) => values.length));
    return Array.from({ length }, (_, index) => series.reduce((sum, values) => sum + (values[index - (length - values.length)] ?? 0), 0));
  }

  async poll() {
    try {
      const [stats, metrics] = await Promise.all([get('/stats'), get('/metrics')]);
      this.stats = stats;
      this.samples = parseMetrics(metrics);
      this.#recordRates(sumBy(this.samples, 'weft_requests_total', 'cluster'));
      this.error = undefined;
    } catch (error) {
      this.error = error;
    }
    for (const listener of this.#listeners) listener(this);
  }

  #recordRates(totals) {
    const now = performance.now();
    const previous = this.#previous;
    this.#previous = { at: now, totals };
    if (previous === undefined) return;
    const seconds = (now - previous.at) / 1000;
    const names = new Set([...Object.keys(totals), ...(this.stats?.clusters ?? []).map((cluster) => cluster.name)]);
    for (const name of names) {
      const values = this.rates.get(name) ?? [];
      values.push(Math.max(0, ((totals[name] ?? 0) - (previous.totals[name] ?? 0)) / seconds));
      if (values.length > HISTORY_POINTS) values.shift();
      this.rates.set(name, values);
    }
  }
}
