// Values larger than one etcd request. etcd refuses a request over its --max-request-bytes
// (1.5 MiB by default) while a filter module may be larger (registry.max_module_bytes allows
// 16 MiB), so a large value is stored in chunks beside the keys, and its key holds a reference:
//
//   <prefix>/<key>                  "\0weft-chunks\0" + {"id", "size", "sha256", "chunks"}
//   <prefix>.chunks/<id>/<n>        the n-th part of the value (at most 1 MiB; n zero-padded)
//
// The store stays one key per value for its callers: get, list and watch return the whole
// value, revisions are the key's, and a commit's compare-and-set covers the reference.
//
// Chunks are written before the commit that puts their reference and deleted after a commit
// that overwrote or deleted it (its prev_kv says which), so chunks exist at every revision
// at which their reference does: readers read them at the revision they read the reference at.
// Each value written gets an id of its own, so no two references share chunks and deleting
// them never needs to ask who else uses them. Chunks nobody references (a proxy that died
// between writing chunks and committing; a reference deleted with etcdctl) are never read; list
// them with `etcdctl get --prefix --keys-only <prefix>.chunks/`.

import { createHash, randomUUID } from 'node:crypto';
import type { Etcd3, IKeyValue } from 'etcd3';
import { StoreError } from './store.js';

/** Values up to this size are stored in their key. */
export const INLINE_MAX_BYTES = 256 * 1024;
/** Inline values of one commit stay under this, well inside etcd's default 1.5 MiB request. */
const COMMIT_INLINE_BUDGET = 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

const MAGIC = Buffer.from('\0weft-chunks\0');

interface Reference {
  id: string;
  size: number;
  sha256: string;
  chunks: number;
}

/** A put of a commit as it goes to etcd, and the chunks to write before it. */
export interface PlannedValue {
  stored: Buffer;
  /** Set when the value goes in chunks. */
  chunkId?: string;
  chunks: Buffer[];
}

export class ChunkedValues {
  private readonly chunksPrefix: string;

  constructor(
    private readonly client: Etcd3,
    /** The store's prefix without its trailing slash (`/weft`). */
    prefix: string,
  ) {
    this.chunksPrefix = `${prefix}.chunks/`;
  }

  /**
   * How each value of a commit is stored: inline, unless it is large, or the commit's inline
   * values would make a request etcd refuses (then the largest go in chunks), or it begins like
   * a reference (so that anything beginning so is one).
   */
  plan(values: readonly Uint8Array[]): PlannedValue[] {
    const chunked = new Set<number>();
    let inline = 0;
    values.forEach((value, index) => {
      if (value.length > INLINE_MAX_BYTES || looksLikeReference(value)) chunked.add(index);
      else inline += value.length;
    });
    const bySize = values.map((_, index) => index).filter((index) => !chunked.has(index)).sort((a, b) => values[b]!.length - values[a]!.length);
    for (const index of bySize) {
      if (inline <= COMMIT_INLINE_BUDGET) break;
      chunked.add(index);
      inline -= values[index]!.length;
    }
    return values.map((value, index) => (chunked.has(index) ? this.split(value) : { stored: Buffer.from(value), chunks: [] }));
  }

  /** Writes the chunks of planned values (before the commit that references them). */
  async write(planned: readonly PlannedValue[]): Promise<void> {
    for (const value of planned) {
      for (const [index, chunk] of value.chunks.entries()) await this.client.kv.put({ key: Buffer.from(this.chunkKey(value.chunkId!, index)), value: chunk });
    }
  }

  /** Deletes the chunks of these ids (a commit that did not apply, or references that are gone). Best effort. */
  async discard(ids: Iterable<string>): Promise<void> {
    for (const id of ids) {
      const key = Buffer.from(`${this.chunksPrefix}${id}/`);
      await this.client.kv.deleteRange({ key, range_end: prefixEnd(key) }).catch(() => undefined);
    }
  }

  /** The chunk id a stored value refers to (undefined for an inline value). */
  referenceId(stored: Buffer): string | undefined {
    return looksLikeReference(stored) ? parseReference(stored).id : undefined;
  }

  /** The value a key holds: `kv.value`, or the chunks it refers to as they were at `revision`. */
  async resolve(kv: IKeyValue, revision: string): Promise<Uint8Array> {
    if (!looksLikeReference(kv.value)) return new Uint8Array(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength);
    const reference = parseReference(kv.value);
    const key = Buffer.from(`${this.chunksPrefix}${reference.id}/`);
    const response = await this.client.kv.range({ key, range_end: prefixEnd(key), revision });
    const value = Buffer.concat(response.kvs.map((chunk) => chunk.value));
    if (response.kvs.length !== reference.chunks || value.length !== reference.size || sha256(value) !== reference.sha256) {
      throw new StoreError(`${kv.key.toString()}: its chunks (${this.chunksPrefix}${reference.id}/) are missing or damaged`);
    }
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }

  private split(value: Uint8Array): PlannedValue {
    const bytes = Buffer.from(value);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < bytes.length || chunks.length === 0; offset += CHUNK_BYTES) chunks.push(bytes.subarray(offset, offset + CHUNK_BYTES));
    const reference: Reference = { id: randomUUID(), size: bytes.length, sha256: sha256(bytes), chunks: chunks.length };
    return { stored: Buffer.concat([MAGIC, Buffer.from(JSON.stringify(reference))]), chunkId: reference.id, chunks };
  }

  private chunkKey(id: string, index: number): string {
    // Zero-padded so that etcd's key order is the chunks' order.
    return `${this.chunksPrefix}${id}/${String(index).padStart(6, '0')}`;
  }
}

function looksLikeReference(value: Uint8Array): boolean {
  return value.length >= MAGIC.length && MAGIC.equals(value.subarray(0, MAGIC.length));
}

function parseReference(stored: Buffer): Reference {
  try {
    return JSON.parse(stored.subarray(MAGIC.length).toString('utf8')) as Reference;
  } catch {
    throw new StoreError('a chunk reference in etcd is not readable (written by something other than Weft?)');
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The end of etcd's range for every key that starts with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i] += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
