// The admin token a proxy generates when its manifest names none: 256 random bits, kept in the
// state folder (admin.token_file) readable by this user only, created on the first start and
// reused afterwards, so the admin API is never open by default. The `weft` CLI reads the same
// file (cli/admin-target.ts). Its content is never logged; its path is.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writePrivateFile } from '../store/private-file.js';

export interface AdminTokenFile {
  token: string;
  created: boolean;
  /** Set when the file is readable by others (group or world); the operator is told. */
  exposed: boolean;
}

/** The token in `file`, created (0600, its folder 0700 when new) when there is none. */
export async function loadOrCreateAdminToken(file: string): Promise<AdminTokenFile> {
  const existing = await readToken(file);
  if (existing !== undefined) return { token: existing, created: false, exposed: ((await stat(file)).mode & 0o077) !== 0 };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writePrivateFile(file, `${token}\n`);
  return { token, created: true, exposed: false };
}

async function readToken(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`admin: cannot read the admin token file ${file} (${(error as Error).message})`);
  }
  const token = text.trim();
  if (token === '') throw new Error(`admin: the admin token file ${file} is empty; delete it to have a new token made`);
  return token;
}

/** For the CLI: the token in `file`, or undefined when it cannot be read. */
export function readAdminTokenSync(file: string): string | undefined {
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}
