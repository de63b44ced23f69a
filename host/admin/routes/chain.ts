// The running chain.

import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';

export function chainRoutes(deps: Pick<AdminDeps, 'chainInfo'>): AdminRoute[] {
  return [{ method: 'GET', path: '/chain', access: 'read', handle: () => ({ json: deps.chainInfo() }) }];
}
