// Watching certificate files for changes. fs.watchFile polls (it survives files being replaced
// by rename, as certificate tooling does), and changes are settled for a moment before the
// callback runs: a certificate and its key are rarely written at the same instant, and the
// half-written pair in between is not a change worth acting on.

import { unwatchFile, watchFile } from 'node:fs';

const POLL_INTERVAL_MS = 1000;
const SETTLE_MS = 250;

/** Calls `onChange` once the files stopped changing; returns a function that stops watching. */
export function watchFiles(files: readonly string[], onChange: () => void): () => void {
  let settling: NodeJS.Timeout | undefined;
  const changed = () => {
    if (settling !== undefined) clearTimeout(settling);
    settling = setTimeout(() => {
      settling = undefined;
      onChange();
    }, SETTLE_MS);
    settling.unref();
  };
  for (const file of files) watchFile(file, { interval: POLL_INTERVAL_MS, persistent: false }, changed);
  return () => {
    if (settling !== undefined) clearTimeout(settling);
    for (const file of files) unwatchFile(file, changed);
  };
}
