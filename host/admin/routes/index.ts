// Every admin route, in one list. A feature adds its routes here.

import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';
import { chainRoutes } from './chain.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';

export function adminRoutes(deps: AdminDeps): AdminRoute[] {
  return [...healthRoutes(deps), ...metricsRoutes(deps), ...chainRoutes(deps)];
}
