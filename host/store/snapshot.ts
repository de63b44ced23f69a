// The memory store's file: the whole state as one JSON document, replaced atomically and readable
// by this user only (private-file.ts), so a crash leaves either the old or the new state, never
// half of one.
//
// Values that are UTF-8 text (chain specs, version records) are kept as text so an operator can
// read the file; other values (wasm modules) as base64. The store's revision is saved too, so
// revisions keep counting up after a restart.

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writePrivateFile } from './private-file.js';
import { StoreError, type StoreEntry } from './store.js';

const FORMAT = 'weft-store';
const VERSION = 1;

interface SnapshotDocument {
  format: typeof FORMAT;
  version: typeof VERSION;
  revision: number;
  entries: Array<{ key: string; revision: number; text?: string; base64?: string }>;
}

export interface SnapshotState {
  revision: number;
  entries: Map<string, StoreEntry>;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export class SnapshotFile {
  private constructor(readonly file: string) {}

  /** Reads the snapshot (an absent file is an empty state); creates the folder for later writes. */
  static async open(file: string): Promise<{ snapshot: SnapshotFile; state: SnapshotState }> {
    try {
      await mkdir(path.dirname(file), { recursive: true });
    } catch (error) {
      throw new StoreError(`store: cannot create the folder of ${file} (${(error as Error).message})`, { cause: error });
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { snapshot: new SnapshotFile(file), state: { revision: 0, entries: new Map() } };
      throw new StoreError(`store: cannot read ${file} (${(error as Error).message})`, { cause: error });
    }
    return { snapshot: new SnapshotFile(file), state: parseSnapshot(file, text) };
  }

  async write(state: SnapshotState): Promise<void> {
    const document: SnapshotDocument = { format: FORMAT, version: VERSION, revision: state.revision, entries: [] };
    for (const entry of state.entries.values()) {
      const text = utf8Text(entry.value);
      document.entries.push(
        text === undefined
          ? { key: entry.key, revision: entry.revision, base64: Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength).toString('base64') }
          : { key: entry.key, revision: entry.revision, text },
      );
    }
    try {
      await writePrivateFile(this.file, JSON.stringify(document));
    } catch (error) {
      throw new StoreError(`store: cannot write ${this.file} (${(error as Error).message})`, { cause: error });
    }
  }
}

function utf8Text(value: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(value);
  } catch {
    return undefined;
  }
}

function parseSnapshot(file: string, text: string): SnapshotState {
  const fail = (reason: string): never => {
    throw new StoreError(`store: ${file} is not a Weft store snapshot (${reason}); move it away to start empty`);
  };
  let document: SnapshotDocument;
  try {
    document = JSON.parse(text) as SnapshotDocument;
  } catch (error) {
    return fail(`not JSON: ${(error as Error).message}`);
  }
  if (document === null || typeof document !== 'object' || document.format !== FORMAT) return fail('no "format": "weft-store"');
  if (document.version !== VERSION) return fail(`format version ${String(document.version)}, this Weft reads ${VERSION}`);
  if (!Number.isSafeInteger(document.revision) || document.revision < 0) return fail('bad revision');
  if (!Array.isArray(document.entries)) return fail('no entries list');
  const entries = new Map<string, StoreEntry>();
  for (const item of document.entries) {
    const ok =
      item !== null &&
      typeof item === 'object' &&
      typeof item.key === 'string' &&
      Number.isSafeInteger(item.revision) &&
      item.revision > 0 &&
      item.revision <= document.revision &&
      (typeof item.text === 'string') !== (typeof item.base64 === 'string');
    if (!ok) return fail(`bad entry ${JSON.stringify(item).slice(0, 80)}`);
    const value = item.text !== undefined ? encoder.encode(item.text) : new Uint8Array(Buffer.from(item.base64!, 'base64'));
    entries.set(item.key, { key: item.key, value, revision: item.revision });
  }
  return { revision: document.revision, entries };
}
