// The chain spec: what serves (GET), replacing it (PUT, conditional with If-Match), rolling
// back, and the history of changes.

import type { AdminDeps } from '../deps.js';
import { AdminError, type AdminRequest, type AdminRoute } from '../route.js';
import { redactSecrets } from '../redact.js';
import { changedBy, control, jsonBody } from './control.js';

/** Chain specs are small; a generous bound still keeps a runaway body out. */
const MAX_SPEC_BYTES = 1024 * 1024;

export function chainRoutes(deps: Pick<AdminDeps, 'chains'>): AdminRoute[] {
  const { chains } = deps;
  return [
    {
      method: 'GET',
      path: '/chain',
      access: 'read',
      handle: (request) => {
        const { revision, spec } = chains.current();
        return { headers: { etag: `"${revision}"` }, json: forCaller(request, { revision, ...spec }) };
      },
    },
    {
      method: 'PUT',
      path: '/chain',
      access: 'write',
      maxBodyBytes: MAX_SPEC_BYTES,
      handle: async (request) => {
        const spec = await jsonBody(request, undefined);
        if (spec === undefined) throw new AdminError(400, 'send the chain spec as JSON: {"filters": [...], "chains"?: {...}, "routes"?: [...]}');
        const result = await control(() => chains.apply(spec, { ifMatch: ifMatch(request), by: changedBy(request) }));
        return { headers: { etag: `"${result.revision}"` }, json: result };
      },
    },
    {
      method: 'POST',
      path: '/chain/rollback',
      access: 'write',
      maxBodyBytes: MAX_SPEC_BYTES,
      handle: async (request) => {
        const body = await jsonBody(request, {});
        const to = (body as { revision?: unknown } | null)?.revision;
        if (to !== undefined && !(Number.isSafeInteger(to) && (to as number) > 0)) throw new AdminError(400, 'revision must be a positive integer');
        const result = await control(() => chains.rollback({ ...(to === undefined ? {} : { to: to as number }), ifMatch: ifMatch(request), by: changedBy(request) }));
        return { headers: { etag: `"${result.revision}"` }, json: result };
      },
    },
    {
      method: 'GET',
      path: '/chain/history',
      access: 'read',
      handle: async () => {
        const history = await control(() => chains.history());
        return { json: { history: history.map(({ spec: _spec, ...entry }) => entry) } };
      },
    },
    {
      method: 'GET',
      path: '/chain/history/:revision',
      access: 'read',
      handle: async (request) => {
        const revision = Number(request.params.revision);
        const entry = (await control(() => chains.history())).find((item) => item.revision === revision);
        if (entry === undefined) throw new AdminError(404, `revision ${request.params.revision} is not in the history`);
        return { json: forCaller(request, entry) };
      },
    },
  ];
}

/** A spec as the caller may see it: redacted for a read-only token (redact.ts). */
function forCaller<T extends object>(request: AdminRequest, spec: T): T {
  return request.role === 'read' ? redactSecrets(spec) : spec;
}

/** `If-Match: 12`, `"12"` or `W/"12"`; `*` (or none) is no condition. */
function ifMatch(request: AdminRequest): number | undefined {
  const value = request.headers['if-match']?.trim();
  if (value === undefined || value === '' || value === '*') return undefined;
  const match = /^(?:W\/)?"?([0-9]+)"?$/.exec(value);
  if (match === null) throw new AdminError(400, `If-Match must be a chain revision (as GET /chain's ETag gives it), not ${value}`);
  return Number(match[1]);
}
