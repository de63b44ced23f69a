// The filter registry: upload modules, list them and their versions, delete unused versions.

import type { AdminDeps } from '../deps.js';
import { AdminError, type AdminRoute } from '../route.js';
import { changedBy, control } from './control.js';


export function filterRoutes(deps: Pick<AdminDeps, 'registry' | 'chains' | 'logger'>): AdminRoute[] {
  const { registry, chains, logger } = deps;

  /** A version record with the chains of the serving spec that use it. */
  const withUse = <T extends { name: string; version: number }>(record: T) => ({ ...record, used_by: chains.usedBy(record.name, record.version) });

  return [
    {
      method: 'POST',
      path: '/filters/:name',
      access: 'write',
      maxBodyBytes: registry.maxModuleBytes,
      bodyType: 'application/wasm',
      handle: async (request) => {
        const body = await request.body();
        const by = changedBy(request);
        const { created, version } = await control(() =>
          registry.upload(request.params.name!, body, { signature: request.headers['x-weft-signature'], rootId: request.query.root_id, by }),
        );
        if (created) logger.info({ filter: version.name, version: version.version, sha256: version.sha256, by }, 'filter uploaded');
        return { status: created ? 201 : 200, json: { name: version.name, version: version.version, sha256: version.sha256 } };
      },
    },
    {
      method: 'GET',
      path: '/filters',
      access: 'read',
      handle: async () => {
        const filters = await control(() => registry.list());
        return { json: { filters: filters.map(({ name, versions }) => ({ name, versions: versions.map(withUse) })) } };
      },
    },
    {
      method: 'GET',
      path: '/filters/:name',
      access: 'read',
      handle: async (request) => {
        const name = request.params.name!;
        const versions = await control(() => registry.versions(name));
        if (versions.length === 0) throw new AdminError(404, `no filter named ${name}`);
        return { json: { name, versions: versions.map(withUse) } };
      },
    },
    {
      method: 'DELETE',
      path: '/filters/:name/versions/:version',
      access: 'write',
      handle: async (request) => {
        const { name, version } = request.params as { name: string; version: string };
        if (!/^[1-9][0-9]*$/.test(version)) throw new AdminError(400, `"${version}" is not a version number`);
        await control(() => chains.deleteFilterVersion(name, Number(version), changedBy(request)));
        return { json: { deleted: { name, version: Number(version) } } };
      },
    },
  ];
}
