// Per-cluster traffic figures for operators: rates, success, latency percentiles, ejections.

import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';

export function statsRoutes(deps: Pick<AdminDeps, 'stats'>): AdminRoute[] {
  return [
    {
      method: 'GET',
      path: '/stats',
      access: 'read',
      handle: async () => ({ json: await deps.stats.settledReport() }),
    },
  ];
}
