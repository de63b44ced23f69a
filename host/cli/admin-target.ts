// Which admin API a client command talks to, and with which token. In order: --admin / --token,
// then WEFT_ADMIN_URL / WEFT_ADMIN_TOKEN, then the manifest (-c FILE, $WEFT_CONFIG, or
// ./weft.yaml when there is one): its admin address, and the token `weft run` generated in its
// state folder (admin.token_file) when the manifest names none. So on the machine that runs the
// proxy, `weft chain get` needs no flags.

import { existsSync } from 'node:fs';
import { loadManifest } from '../config/load.js';
import { readAdminTokenSync } from '../admin/token-file.js';
import type { AdminTarget } from './admin-client.js';

const DEFAULT_URL = 'http://127.0.0.1:9901';
const DEFAULT_MANIFEST = 'weft.yaml';

export interface TargetOptions {
  admin?: string | undefined;
  token?: string | undefined;
  config?: string | undefined;
}

/** The target; throws when a manifest named explicitly (-c, $WEFT_CONFIG) does not load. */
export async function resolveAdminTarget(options: TargetOptions, env: NodeJS.ProcessEnv): Promise<AdminTarget> {
  const url = options.admin ?? env.WEFT_ADMIN_URL;
  const token = options.token ?? env.WEFT_ADMIN_TOKEN;
  if (url !== undefined && token !== undefined) return { url, token };
  const named = options.config ?? env.WEFT_CONFIG;
  const file = named ?? (existsSync(DEFAULT_MANIFEST) ? DEFAULT_MANIFEST : undefined);
  if (file === undefined) return { url: url ?? DEFAULT_URL, token };
  const loaded = await loadManifest(file, env);
  if (!loaded.ok) {
    if (named !== undefined) throw new Error(`cannot read the admin address and token from ${file}: ${loaded.errors.join('; ')}`);
    return { url: url ?? DEFAULT_URL, token };
  }
  const admin = loaded.manifest.admin;
  const host = admin.host.includes(':') ? `[${admin.host}]` : admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host;
  return { url: url ?? `http://${host}:${admin.port}`, token: token ?? admin.token ?? readAdminTokenSync(admin.token_file) };
}

export const TARGET_USAGE = `  --admin URL    admin API (default $WEFT_ADMIN_URL, else the manifest's admin address, else ${DEFAULT_URL})
  --token T      admin token (default $WEFT_ADMIN_TOKEN, else the manifest's admin.token or the token
                 file weft run made in its state folder)
  -c FILE        the manifest to read them from (default $WEFT_CONFIG, else ./${DEFAULT_MANIFEST} if present)
`;
