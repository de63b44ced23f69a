// Files only this user may read (the store's snapshot, the generated admin token), replaced
// atomically: written to a temporary file created 0600, fsynced, renamed over the old one, and
// the folder fsynced so the rename itself survives a crash. A crash leaves either the old file or
// the new one, never half of one, and never a moment where the content is readable by others.
// createPrivateFile does the same but never replaces: the first of several writers wins.

import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

const PRIVATE_MODE = 0o600;

export async function writePrivateFile(file: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeSynced(temporary, 'w', data);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncFolder(path.dirname(file));
}

/**
 * Creates `file` with `data` unless it exists; false when it did (someone else's content stays).
 * The whole file appears at once: written under a temporary name, then hard-linked into place,
 * which fails when the name is taken (a rename would replace it).
 */
export async function createPrivateFile(file: string, data: string | Uint8Array): Promise<boolean> {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let created = false;
  try {
    await writeSynced(temporary, 'wx', data);
    try {
      await link(temporary, file);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } finally {
    await rm(temporary, { force: true }).catch(() => undefined);
  }
  await syncFolder(path.dirname(file));
  return created;
}

/** `data` in a private file, on disk before this returns. */
async function writeSynced(file: string, flags: 'w' | 'wx', data: string | Uint8Array): Promise<void> {
  const handle = await open(file, flags, PRIVATE_MODE);
  try {
    // The mode given to open() is masked by the umask and ignored for a file that existed.
    await handle.chmod(PRIVATE_MODE);
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync of a folder: makes a rename into it durable. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
