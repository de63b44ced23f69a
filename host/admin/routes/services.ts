// The service registry: instances register, heartbeat and deregister; services are listed with
// each instance's health and last heartbeat.

import { parseRegistration, serviceName } from '../../discovery/instance.js';
import type { Lookup, ServiceRegistry } from '../../discovery/service-registry.js';
import { StoreError } from '../../store/store.js';
import { AdminError, type AdminRequest, type AdminRoute } from '../route.js';
import { changedBy, jsonBody } from './control.js';

/** A registration is a handful of fields; metadata is the only part that can grow. */
const MAX_REGISTRATION_BYTES = 64 * 1024;

export function serviceRoutes(services: ServiceRegistry): AdminRoute[] {
  return [
    {
      method: 'POST',
      path: '/services/:service/instances',
      access: 'register',
      maxBodyBytes: MAX_REGISTRATION_BYTES,
      handle: async (request) => {
        const service = checkedService(request);
        const body = await jsonBody(request, undefined);
        if (body === undefined) throw new AdminError(400, 'send the instance as JSON: {"address", "port", "version"?, "weight"?, "metadata"?, "ttl_s"?}');
        const parsed = parseRegistration(body, services.defaultTtlS);
        if (!parsed.ok) throw new AdminError(400, parsed.problems.join('; '));
        const refusal = await services.registrationProblem(service, parsed.registration);
        if (refusal !== undefined) throw new AdminError(refusal.status, refusal.reason);
        const { id, created } = await storeCall(() => services.register(service, parsed.registration, changedBy(request)));
        return { status: created ? 201 : 200, json: { id } };
      },
    },
    {
      method: 'PUT',
      path: '/services/:service/instances/:id/heartbeat',
      routine: true,
      access: 'register',
      handle: async (request) => {
        const instance = found(await storeCall(() => services.heartbeat(request.params.service!, request.params.id!)));
        return { json: { id: instance.id, health: instance.health, last_heartbeat: instance.last_heartbeat, expires_at: instance.expires_at } };
      },
    },
    {
      method: 'DELETE',
      path: '/services/:service/instances/:id',
      access: 'register',
      handle: async (request) => {
        found(await storeCall(() => services.deregister(request.params.service!, request.params.id!, changedBy(request))));
        return { status: 204, text: '', contentType: 'text/plain; charset=utf-8' };
      },
    },
    {
      method: 'GET',
      path: '/services',
      access: 'read',
      handle: () => ({ json: { services: services.services() } }),
    },
    {
      method: 'GET',
      path: '/services/:service',
      access: 'read',
      handle: (request) => {
        const name = request.params.service!;
        const view = services.service(name);
        if (view === undefined) throw new AdminError(404, `no service named "${name}"`);
        return { json: view };
      },
    },
  ];
}

function checkedService(request: AdminRequest): string {
  const parsed = serviceName.safeParse(request.params.service);
  if (!parsed.success) throw new AdminError(400, `service: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

function found<T>(lookup: Lookup<T>): T {
  if (!lookup.found) throw new AdminError(404, lookup.reason);
  return lookup.value;
}

/** A store that cannot be written answers 503 with its reason (the registry's view is unchanged). */
async function storeCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof StoreError) throw new AdminError(503, error.message);
    throw error;
  }
}
