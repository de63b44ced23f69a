// The admin token `weft run` makes for itself when the manifest names none, so the admin API
// never takes anonymous writes unless the manifest says `admin.auth: none`.
//
// The token is 256 random bits (hex) in `admin.token` in the state folder, mode 0600, created
// with O_EXCL so two proxies started at once agree on one token; later starts reuse it. The
// `weft` CLI reads the same file (host/cli/admin-target.ts). Logs say where it is, never what.

import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, writeSync, fsyncSync } from 'node:fs';
import path from 'node:path';
import type { AdminSpec } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';

/** The token in `file`, created first when there is none; `created` says which. */
export function ensureTokenFile(file: string): { token: string; created: boolean } {
  const existing = readTokenFile(file);
  if (existing !== undefined) return { token: existing, created: false };
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('hex');
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    // Another proxy on the same state folder made it first: use that one.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { token: readTokenFile(file)!, created: false };
    throw error;
  }
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const folder = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(folder);
  } finally {
    closeSync(folder);
  }
  return { token, created: true };
}

/** The token in `file`; undefined when the file does not exist. An empty file is an error. */
export function readTokenFile(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`admin: cannot read the token file ${file} (${(error as Error).message})`);
  }
  const token = text.trim();
  if (token === '') throw new Error(`admin: the token file ${file} is empty; delete it and a new token is made at the next start`);
  return token;
}

/**
 * The admin spec `weft run` serves: the manifest's own tokens as they are; none and no opt-out,
 * the state folder's token; `auth: none`, open, with a warning.
 */
export function withAdminToken(spec: AdminSpec, logger: Logger): AdminSpec {
  if (spec.auth === 'none') {
    logger.warn({ host: spec.host, port: spec.port }, 'admin API without auth (admin.auth: none): anything that can reach it can change what the proxy runs');
    return spec;
  }
  if (spec.token !== undefined || (spec.tokens ?? []).length > 0) return spec;
  const { token, created } = ensureTokenFile(spec.token_file);
  logger.info({ token_file: spec.token_file }, created ? 'admin token created (send it as Authorization: Bearer)' : 'admin token read from the state folder');
  return { ...spec, token };
}
