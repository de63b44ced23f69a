// What the manifest says about the chain, as one digest: its filters (each module by the
// SHA-256 of its bytes, not its path, so a rebuilt module is a change), chains and routes. The
// store keeps the digest of the manifest that last seeded or applied the chain; a restart with
// a manifest whose digest differs applies it as a new revision (chain-control.ts).

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FilterSpec } from '../config/schema.js';
import type { ManifestChains } from './chain-control.js';

export async function manifestDigest(manifest: ManifestChains): Promise<string> {
  const described = async (filters: readonly FilterSpec[]) =>
    Promise.all(filters.map(async (filter) => ({ ...filter, module: await moduleDigest(filter.module) })));
  const chains: Record<string, unknown> = {};
  for (const name of Object.keys(manifest.chains).sort()) chains[name] = await described(manifest.chains[name]!);
  const document = { filters: await described(manifest.filters), chains, routes: manifest.routes };
  return createHash('sha256').update(JSON.stringify(document)).digest('hex');
}

/** The module's SHA-256, or its path when it cannot be read (applying the manifest then says why). */
async function moduleDigest(file: string): Promise<string> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch {
    return `unreadable ${file}`;
  }
}
