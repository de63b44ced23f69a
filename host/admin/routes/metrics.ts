// Prometheus scrape endpoint.

import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';

export function metricsRoutes(deps: Pick<AdminDeps, 'metrics'>): AdminRoute[] {
  return [
    {
      method: 'GET',
      path: '/metrics',
      access: 'read',
      handle: async () => ({ text: await deps.metrics.text(), contentType: deps.metrics.contentType }),
    },
  ];
}
