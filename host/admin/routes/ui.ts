// The admin page: the files `npm run build` makes of host/admin/ui/ (scripts/build-ui.js bundles
// its ES modules and stylesheet with esbuild into dist/ui/), served at `/` and `/ui/...` on the
// admin listener. The page is a client of the admin API and nothing more: it
// carries no data, so its files are public; everything it shows comes from API calls made with
// the token the user gives it.
//
// The files are read once, when the admin server starts, and only those names are served (no
// path from the request ever reaches the file system). Every reply carries a strict
// Content-Security-Policy: scripts and styles only from this origin (no inline script or
// style), fetches only to this origin, no framing.

import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdminDeps } from '../deps.js';
import { AdminError, type AdminReply, type AdminRoute } from '../route.js';

/** dist/host/admin/routes/ui.js -> dist/ui/, where scripts/build-ui.js puts the built page. */
export const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Small files, read from the installed package: always revalidate, so an upgrade shows at once.
  'cache-control': 'no-cache',
};

/** The page's files by name, or why there are none. */
function loadFiles(dir: string): { files: Map<string, AdminReply>; missing?: string } {
  const files = new Map<string, AdminReply>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    return { files, missing: `the admin page is not built (run npm run build; ${(error as Error).message})` };
  }
  for (const name of names) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType === undefined) continue;
    files.set(name, { headers: { ...UI_HEADERS }, text: readFileSync(`${dir}${name}`, 'utf8'), contentType });
  }
  return { files };
}

export function uiRoutes(deps: Pick<AdminDeps, 'logger'>, dir = UI_DIR): AdminRoute[] {
  const { files, missing } = loadFiles(dir);
  if (missing !== undefined) deps.logger.warn({ dir }, missing);
  const file = (name: string): AdminReply => {
    const reply = files.get(name);
    if (reply === undefined) throw new AdminError(404, missing ?? `the admin page has no file ${name}`);
    return reply;
  };
  const page = { method: 'GET', access: 'public', handle: () => file('index.html') } as const;
  return [
    { ...page, path: '/' },
    { ...page, path: '/ui/' },
    { method: 'GET', path: '/ui/:file', access: 'public', handle: (request) => file(request.params.file!) },
  ];
}
