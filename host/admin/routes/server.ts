// What this proxy is (version, uptime, listeners, workers, store) and who the caller is: what
// the admin page's overview and sign-in show, and what a script can ask before it acts.

import type { AdminAuth } from '../auth.js';
import type { AdminDeps } from '../deps.js';
import type { AdminRoute } from '../route.js';

export interface ServerInfo {
  version: string;
  /** ms since the epoch. */
  startedAtMs: number;
  /** Event loops serving requests (one: the proxy does not start worker threads). */
  workers: number;
  listeners: Array<{ address: string; protocol: 'http' | 'https' }>;
  admin: { address: string };
  /** Where the state is kept (the store's description). */
  store: string;
}

export function serverRoutes(deps: Pick<AdminDeps, 'server'>, auth: AdminAuth): AdminRoute[] {
  const { server } = deps;
  return [
    {
      method: 'GET',
      path: '/server',
      access: 'read',
      handle: () => ({
        json: {
          version: server.version,
          started_at: new Date(server.startedAtMs).toISOString(),
          uptime_s: Math.round((Date.now() - server.startedAtMs) / 1000),
          workers: server.workers,
          listeners: server.listeners,
          admin: server.admin,
          store: server.store,
        },
      }),
    },
    {
      method: 'GET',
      path: '/whoami',
      access: 'read',
      // The route itself needs `read`, so the caller's token is good; whether it may also
      // write is the same check the write routes make.
      handle: (request) => ({
        json: {
          token: request.caller ?? null,
          role: auth.check(request.headers['authorization'], 'write').ok ? 'write' : 'read',
          auth_required: auth.required,
        },
      }),
    },
  ];
}
