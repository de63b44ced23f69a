// Which admin API a client command calls, and with which token, found the way `weft run` finds
// them: from the manifest (`-c FILE`, else ./weft.yaml when there is one), its admin address
// and its token: `admin.token`, else the token `weft run` made in the state folder
// (host/admin/token-file.ts). `--admin` / `--token` and WEFT_ADMIN_URL / WEFT_ADMIN_TOKEN come
// first. The manifest's token goes only to the manifest's own admin address, never to another
// URL given by --admin.

import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { readTokenFile } from '../admin/token-file.js';
import { loadManifest } from '../config/load.js';
import type { AdminSpec } from '../config/schema.js';
import type { AdminTarget } from './admin-client.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9901';
const DEFAULT_MANIFEST = 'weft.yaml';

export const ADMIN_TARGET_OPTIONS = {
  admin: { type: 'string' },
  token: { type: 'string' },
  config: { type: 'string', short: 'c' },
} as const;

export const ADMIN_TARGET_USAGE = `  -c FILE        the proxy's manifest (default ./weft.yaml if there is one): its admin address,
                 and its admin.token or the token weft run made in its state folder
  --admin URL    admin API (default $WEFT_ADMIN_URL, else the manifest's, else ${DEFAULT_ADMIN_URL})
  --token T      admin token (default $WEFT_ADMIN_TOKEN, else the manifest's)
`;

export interface AdminTargetValues {
  admin?: string | boolean | undefined;
  token?: string | boolean | undefined;
  config?: string | boolean | undefined;
}

export async function resolveAdminTarget(values: AdminTargetValues, env: NodeJS.ProcessEnv): Promise<AdminTarget> {
  const givenUrl = text(values.admin) ?? env.WEFT_ADMIN_URL;
  const givenToken = text(values.token) ?? env.WEFT_ADMIN_TOKEN;
  const file = text(values.config) ?? (existsSync(DEFAULT_MANIFEST) ? DEFAULT_MANIFEST : undefined);
  if (file === undefined) return { url: givenUrl ?? DEFAULT_ADMIN_URL, token: givenToken };

  const loaded = await loadManifest(file, env);
  if (!loaded.ok) throw new Error(`cannot read the manifest ${file} for the admin address and token:\n  ${loaded.errors.join('\n  ')}`);
  const admin = loaded.manifest.admin;
  const ownUrl = adminUrl(admin);
  const url = givenUrl ?? ownUrl;
  if (givenToken !== undefined || !sameOrigin(url, ownUrl)) return { url, token: givenToken };
  return { url, token: manifestToken(admin) };
}

/** The token a proxy started on this manifest accepts as "admin", if it has one. */
function manifestToken(admin: AdminSpec): string | undefined {
  if (admin.token !== undefined) return admin.token;
  if (admin.auth === 'none' || (admin.tokens ?? []).length > 0) return undefined;
  return readTokenFile(admin.token_file);
}

function adminUrl({ host, port }: AdminSpec): string {
  // A wildcard address is reached on loopback from this machine.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${isIP(reachable) === 6 ? `[${reachable}]` : reachable}:${port}`;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function text(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
