// Services: every registry service with its instances (address, version, weight, health,
// heartbeat age, TTL), the endpoints the breaker has ejected, and deregistering an instance.

import { call, get } from './api.js';
import { confirmButton, formatDuration, h, replace } from './dom.js';

const REFRESH_MS = 2000;

export function createServices({ live, canWrite, toast }) {
  const list = h('div', { class: 'services' });
  const ejected = h('div', { class: 'card' });
  const element = h('section', { class: 'view services' }, list, ejected);

  const secondsSince = (iso) => (Date.now() - Date.parse(iso)) / 1000;

  function renderService(view) {
    return h(
      'div',
      { class: 'card', 'data-service': view.service },
      h('h2', {}, view.service, ' ', h('span', { class: 'muted small' }, `${view.healthy} of ${view.instances.length} healthy · clusters: ${view.clusters.length === 0 ? 'none' : view.clusters.join(', ')}`)),
      view.instances.length === 0
        ? h('p', { class: 'muted' }, 'no instances registered')
        : h(
            'table',
            { class: 'grid' },
            h('thead', {}, h('tr', {}, ['id', 'address', 'version', 'weight', 'health', 'last heartbeat', 'TTL', 'unhealthy in', 'metadata', ''].map((title) => h('th', {}, title)))),
            h(
              'tbody',
              {},
              view.instances.map((instance) => {
                const expiresIn = -secondsSince(instance.expires_at);
                return h(
                  'tr',
                  { 'data-instance': instance.id },
                  h('td', {}, h('code', {}, instance.id)),
                  h('td', {}, `${instance.address}:${instance.port}`),
                  h('td', {}, instance.version ?? '–'),
                  h('td', { class: 'num' }, String(instance.weight)),
                  h('td', {}, h('span', { class: `health ${instance.health}` }, instance.health)),
                  h('td', {}, `${formatDuration(secondsSince(instance.last_heartbeat))} ago`),
                  h('td', {}, `${instance.ttl_s} s`),
                  h('td', {}, expiresIn > 0 ? formatDuration(expiresIn) : `removed in ${formatDuration(-secondsSince(instance.removal_at))}`),
                  h('td', {}, Object.entries(instance.metadata).map(([key, value]) => h('span', { class: 'tag' }, `${key}=${value}`))),
                  h('td', {}, canWrite && confirmButton('Deregister', 'Confirm deregister', () => deregister(view.service, instance.id))),
                );
              }),
            ),
          ),
    );
  }

  function renderEjected() {
    const rows = (live.stats?.clusters ?? []).flatMap((cluster) => cluster.ejected.map((ejection) => ({ cluster: cluster.name, ...ejection })));
    replace(
      ejected,
      h('h2', {}, 'Ejected endpoints ', h('span', { class: 'muted small' }, 'the breaker sends them nothing until the time is up')),
      rows.length === 0
        ? h('p', { class: 'muted' }, 'none')
        : h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'cluster'), h('th', {}, 'endpoint'), h('th', {}, 'until'), h('th', {}, 'time left'))), h('tbody', {}, rows.map((row) => h('tr', {}, h('td', {}, row.cluster), h('td', {}, row.endpoint), h('td', {}, new Date(row.until).toLocaleTimeString()), h('td', {}, formatDuration(row.remaining_s)))))),
    );
  }

  async function refresh() {
    let services;
    try {
      ({ services } = await get('/services'));
    } catch (error) {
      // No registry on this proxy: GET /services is not a route.
      if (error.status === 404) return replace(list, h('div', { class: 'card' }, h('p', { class: 'muted' }, 'this proxy has no service registry')));
      throw error;
    }
    replace(list, services.length === 0 ? h('div', { class: 'card' }, h('p', { class: 'muted' }, 'no services: register instances with POST /services/{service}/instances')) : services.map(renderService));
    renderEjected();
  }

  async function deregister(service, id) {
    try {
      await call('DELETE', `/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`);
      toast(`${service}: instance ${id} deregistered`);
    } catch (error) {
      toast(`not deregistered: ${error.message}`, true);
    }
    await refresh().catch((error) => toast(error.message, true));
  }

  let timer;
  return {
    element,
    async show() {
      await refresh();
      timer = setInterval(() => refresh().catch(() => undefined), REFRESH_MS);
    },
    hide() {
      clearInterval(timer);
    },
  };
}
