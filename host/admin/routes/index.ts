// Every admin route, in one list. A feature adds its routes here.

import type { AdminAuth } from '../auth.js';
import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';
import { chainRoutes } from './chain.js';
import { filterRoutes } from './filters.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';
import { serverRoutes } from './server.js';
import { serviceRoutes } from './services.js';
import { statsRoutes } from './stats.js';
import { uiRoutes } from './ui.js';

export function adminRoutes(deps: AdminDeps, auth: AdminAuth): AdminRoute[] {
  const services = deps.services === undefined ? [] : serviceRoutes(deps.services);
  return [
    ...healthRoutes(deps),
    ...serverRoutes(deps, auth),
    ...metricsRoutes(deps),
    ...statsRoutes(deps),
    ...chainRoutes(deps),
    ...filterRoutes(deps),
    ...services,
    ...uiRoutes(deps),
  ];
}
