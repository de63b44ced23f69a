// Files only this user may read (the store's snapshot, the generated admin token), replaced
// atomically: written to a temporary file created 0600, fsynced, renamed over the old one, and
// the folder fsynced so the rename itself survives a crash. A crash leaves either the old file or
// the new one, never half of one, and never a moment where the content is readable by others.

import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

const PRIVATE_MODE = 0o600;

export async function writePrivateFile(file: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    const handle = await open(temporary, 'w', PRIVATE_MODE);
    try {
      // The mode given to open() is masked by the umask and ignored for a file that existed.
      await handle.chmod(PRIVATE_MODE);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncFolder(path.dirname(file));
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
