// Liveness and readiness, for load balancers and orchestrators.

import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';

export function healthRoutes(deps: Pick<AdminDeps, 'readiness'>): AdminRoute[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      access: 'public',
      handle: () => ({ text: 'ok', contentType: 'text/plain; charset=utf-8' }),
    },
    {
      method: 'GET',
      path: '/ready',
      access: 'read',
      handle: () => {
        const status = deps.readiness.current();
        if (!status.ready) return { status: 503, json: { ready: false, reason: status.reason } };
        return { json: status.degraded === undefined ? { ready: true } : { ready: true, degraded: true, reason: status.degraded } };
      },
    },
  ];
}
