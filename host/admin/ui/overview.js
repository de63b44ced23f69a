// Overview: what runs (version, uptime, listeners, workers, store, chain revision) and the
// traffic per cluster and per service, with a live req/s sparkline each.

import { get } from './api.js';
import { formatDuration, formatMs, formatRate, formatShare, h, replace } from './dom.js';
import { sumBy } from './prom.js';
import { sparkline } from './sparkline.js';

/** A minute of polls: the line's scale until there is more history (up to five minutes). */
const SPARKLINE_MIN_POINTS = 30;

export function createOverview({ live, go }) {
  const facts = h('dl', { class: 'facts' });
  const traffic = h('tbody');
  const status = h('p', { class: 'muted' });
  const element = h(
    'section',
    { class: 'view overview' },
    h('div', { class: 'card' }, h('h2', {}, 'Proxy'), facts),
    h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Traffic'),
      h('p', { class: 'muted' }, 'Last minute from /stats; the line is req/s between polls (every 2 s, the last 5 minutes).'),
      h('table', { class: 'grid traffic' },
        h('thead', {}, h('tr', {}, ['name', 'kind', 'req/s (1 min)', 'req/s now', 'success', 'p50', 'p99', 'ejected', 'live'].map((title) => h('th', {}, title)))),
        traffic,
      ),
      status,
    ),
  );

  let server;
  let chain;
  let ready;

  /** Filters in a trap cool-down now (their on_error mode answers without calling them). */
  const coolingDown = () => {
    const count = sumBy(live.samples, 'weft_filters_cooling_down', '')[''];
    return count === undefined ? '…' : count === 0 ? 'no filter' : h('span', { class: 'warn' }, `${count} filter${count === 1 ? '' : 's'} (see Chain)`);
  };

  const fact = (label, ...value) => [h('dt', {}, label), h('dd', {}, ...value)];

  function renderFacts() {
    if (server === undefined || chain === undefined) return;
    replace(
      facts,
      fact('Chain revision', h('a', { href: '#chain', class: 'revision', 'data-testid': 'revision', onclick: () => go('chain') }, String(chain.revision))),
      fact('Filters', chain.filters.length === 0 ? 'none' : chain.filters.map((filter) => `${filter.name} v${filter.version}`).join(' → ')),
      fact('Cooling down', coolingDown()),
      fact('Ready', ready === undefined ? '…' : ready.ready ? (ready.degraded ? `degraded: ${ready.reason}` : 'yes') : `no (${ready.reason})`),
      fact('Uptime', formatDuration(server.uptime_s + (Date.now() - server.fetchedAt) / 1000)),
      fact('Version', server.version),
      fact('Workers', String(server.workers)),
      fact('Listeners', server.listeners.map((listener) => h('div', {}, `${listener.protocol}://${listener.address}`))),
      fact('Admin', server.admin.address),
      fact('Store', server.store),
    );
  }

  function renderTraffic() {
    const stats = live.stats;
    if (stats === undefined) return;
    const row = (item, kind, rates) =>
      h(
        'tr',
        { 'data-name': item.name },
        h('td', {}, item.name),
        h('td', { class: 'muted' }, kind === 'service' ? `service (${item.clusters.join(', ')})` : 'cluster'),
        h('td', { class: 'num' }, formatRate(item.last_minute.requests_per_second)),
        h('td', { class: 'num' }, formatRate(rates.at(-1) ?? null)),
        h('td', { class: 'num' }, formatShare(item.last_minute.success_rate)),
        h('td', { class: 'num' }, formatMs(item.last_minute.latency_ms?.p50)),
        h('td', { class: 'num' }, formatMs(item.last_minute.latency_ms?.p99)),
        h('td', { class: 'num' }, item.ejected.length === 0 ? '0' : item.ejected.map((e) => `${e.endpoint} (${Math.ceil(e.remaining_s)} s)`).join(', ')),
        h('td', {}, sparkline(rates, { minPoints: SPARKLINE_MIN_POINTS, label: `${item.name} requests per second` })),
      );
    replace(
      traffic,
      stats.clusters.map((cluster) => row(cluster, 'cluster', live.rates.get(cluster.name) ?? [])),
      stats.services.map((service) => row(service, 'service', live.serviceRates(service.clusters))),
    );
    if (stats.clusters.length + stats.services.length === 0) traffic.append(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'no clusters')));
    replace(status, live.error === undefined ? `updated ${new Date().toLocaleTimeString()}` : `not updated: ${live.error.message}`);
  }

  async function refreshFacts() {
    const [info, current, readiness] = await Promise.all([get('/server'), get('/chain'), get('/ready').catch((error) => ({ ready: false, reason: error.message }))]);
    server = { ...info, fetchedAt: Date.now() };
    chain = current;
    ready = readiness;
    renderFacts();
  }

  let unsubscribe;
  let ticks = 0;
  return {
    element,
    async show() {
      await refreshFacts();
      renderTraffic();
      unsubscribe = live.onUpdate(() => {
        renderTraffic();
        // The facts change rarely (a chain change, readiness): every few polls is enough.
        if (++ticks % 3 === 0) refreshFacts().catch(() => undefined);
        else renderFacts();
      });
    },
    hide() {
      unsubscribe?.();
    },
  };
}
