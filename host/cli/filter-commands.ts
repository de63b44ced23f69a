// `weft filter push | ls | sign | keygen | rm`.

import { readFile, writeFile } from 'node:fs/promises';
import type { FilterVersion } from '../registry/filter-registry.js';
import { generateSigningKey, signModule } from '../registry/signature.js';
import { callAdmin } from './admin-client.js';
import { ControlUsageError, requiredOption, type CommandContext, type ControlCommand } from './command.js';
import { bytes, table } from './output.js';

type ListedVersion = FilterVersion & { used_by: string[] };

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(`cannot read ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function versionRows(versions: readonly ListedVersion[]): string[][] {
  return versions.map((v) => [
    v.name,
    String(v.version),
    v.sha256.slice(0, 12),
    bytes(v.size),
    v.uploaded_at.replace(/\.\d+Z$/, 'Z'),
    v.uploaded_by,
    v.used_by.join(',') || '-',
  ]);
}

const HEADER = ['NAME', 'VERSION', 'SHA256', 'SIZE', 'UPLOADED', 'BY', 'USED BY'];

export const filterCommands: Record<string, ControlCommand> = {
  push: {
    args: ['FILE'],
    options: { name: { type: 'string' }, sign: { type: 'string' }, 'root-id': { type: 'string' } },
    async run(context: CommandContext) {
      const name = requiredOption(context, 'name', 'filter push');
      const module = await readInput(context.args[0]!, 'module');
      const headers: Record<string, string> = { 'content-type': 'application/wasm' };
      const keyFile = context.options.sign;
      if (typeof keyFile === 'string') headers['x-weft-signature'] = signModule(module, name, (await readInput(keyFile, 'key')).toString('utf8'));
      const rootId = context.options['root-id'];
      const query = typeof rootId === 'string' ? `?root_id=${encodeURIComponent(rootId)}` : '';
      const { status, body } = await callAdmin<{ name: string; version: number; sha256: string }>(context.target, {
        method: 'POST',
        path: `/filters/${encodeURIComponent(name)}${query}`,
        body: module,
        headers,
      });
      context.out(
        status === 201
          ? `pushed ${body.name} version ${body.version} (sha256 ${body.sha256})\n`
          : `${body.name} version ${body.version} already has these bytes (sha256 ${body.sha256})\n`,
      );
    },
  },

  ls: {
    args: ['NAME'],
    optionalArgs: 1,
    options: {},
    async run(context: CommandContext) {
      const name = context.args[0];
      if (name !== undefined) {
        const { body } = await callAdmin<{ versions: ListedVersion[] }>(context.target, { method: 'GET', path: `/filters/${encodeURIComponent(name)}` });
        context.out(table(HEADER, versionRows(body.versions)));
        return;
      }
      const { body } = await callAdmin<{ filters: Array<{ versions: ListedVersion[] }> }>(context.target, { method: 'GET', path: '/filters' });
      if (body.filters.length === 0) {
        context.out('no filters in the registry\n');
        return;
      }
      context.out(table(HEADER, versionRows(body.filters.flatMap((f) => f.versions))));
    },
  },

  rm: {
    args: ['NAME', 'VERSION'],
    options: {},
    async run(context: CommandContext) {
      const [name, version] = context.args as [string, string];
      await callAdmin(context.target, { method: 'DELETE', path: `/filters/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}` });
      context.out(`deleted ${name} version ${version}\n`);
    },
  },

  sign: {
    args: ['FILE'],
    options: { key: { type: 'string' }, name: { type: 'string' }, out: { type: 'string' } },
    async run(context: CommandContext) {
      const keyFile = requiredOption(context, 'key', 'filter sign');
      const name = requiredOption(context, 'name', 'filter sign');
      const module = await readInput(context.args[0]!, 'module');
      const signature = signModule(module, name, (await readInput(keyFile, 'key')).toString('utf8'));
      const out = context.options.out;
      if (typeof out === 'string') {
        await writeFile(out, `${signature}\n`);
        context.out(`wrote the signature of ${context.args[0]} to ${out}\n`);
      } else {
        context.out(`${signature}\n`);
      }
    },
  },

  keygen: {
    args: [],
    options: { out: { type: 'string' } },
    async run(context: CommandContext) {
      const out = requiredOption(context, 'out', 'filter keygen');
      const { privateKeyPem, publicKey } = generateSigningKey();
      try {
        // wx: never overwrite a key someone may already rely on.
        await writeFile(out, privateKeyPem, { mode: 0o600, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ControlUsageError(`${out} exists; choose another --out`);
        throw error;
      }
      context.out(`wrote the private key to ${out}\npublic key (for registry.trusted_keys): ${publicKey}\n`);
    },
  },
};
