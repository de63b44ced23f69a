// The embedded store: the shared store contract (store-suite.ts) on the memory store with its
// snapshot file, then what is particular to the file: readable, atomic, refused when damaged.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MemoryStore } from '../host/store/memory-store.js';
import { decodeJson, encodeJson } from '../host/store/store.js';
import { storeSuite } from './store-suite.js';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'weft-store-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let count = 0;
function freshFile(): string {
  return path.join(root, `case-${count++}`, 'state.json');
}

storeSuite('file snapshot', async () => {
  const file = freshFile();
  const subject = {
    store: await MemoryStore.withSnapshot(file),
    async reopen() {
      await subject.store.close();
      return MemoryStore.withSnapshot(file);
    },
    cleanup: () => rm(path.dirname(file), { recursive: true, force: true }),
  };
  return subject;
});

describe('the snapshot file', () => {
  test('is JSON an operator can read: text values as text, bytes as base64', async () => {
    const file = freshFile();
    const store = await MemoryStore.withSnapshot(file);
    await store.put('chain/current', encodeJson({ filters: [{ name: 'auth', version: 2 }] }));
    await store.put('modules/abc', new Uint8Array([0, 0x61, 0x73, 0x6d, 0xff]));
    await store.close();
    const document = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(document.format, 'weft-store');
    assert.equal(document.revision, 2);
    assert.deepEqual(document.entries, [
      { key: 'chain/current', revision: 1, text: '{"filters":[{"name":"auth","version":2}]}' },
      { key: 'modules/abc', revision: 2, base64: 'AGFzbf8=' },
    ]);
  });

  test('is replaced atomically: no temporary file is left behind', async () => {
    const file = freshFile();
    const store = await MemoryStore.withSnapshot(file);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`k/${i}`, encodeJson(i))));
    await store.close();
    assert.deepEqual(await readdir(path.dirname(file)), ['state.json']);
    const reopened = await MemoryStore.withSnapshot(file);
    assert.equal((await reopened.list('k/')).length, 20);
    assert.equal(decodeJson<number>((await reopened.get('k/7'))!.value), 7);
    await reopened.close();
  });

  test('a commit that cannot be written changes nothing and says why', async () => {
    const file = freshFile();
    const store = await MemoryStore.withSnapshot(file);
    const first = await store.put('a/key', encodeJson('before'));
    assert.ok(first.ok);
    // A folder where the temporary file must go makes the write fail.
    const blocker = `${file}.${process.pid}.tmp`;
    await mkdir(blocker);
    await assert.rejects(store.put('a/key', encodeJson('after')), (error: Error) => {
      assert.equal(error.name, 'StoreError');
      assert.match(error.message, /cannot write .*state\.json/);
      return true;
    });
    assert.equal(decodeJson((await store.get('a/key'))!.value), 'before');
    await rm(blocker, { recursive: true });
    const retry = await store.put('a/key', encodeJson('after'));
    assert.ok(retry.ok);
    assert.equal(retry.revision, first.revision + 1, 'the failed commit used no revision');
    await store.close();
  });

  test('a damaged file is refused with its path and a way out', async () => {
    const file = freshFile();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '{"format": "weft-store", "version": 1, "revision": 3, "entries": [{"key": "x"}]}');
    await assert.rejects(MemoryStore.withSnapshot(file), (error: Error) => {
      assert.match(error.message, /state\.json is not a Weft store snapshot \(bad entry .*move it away to start empty/);
      return true;
    });
    await writeFile(file, 'not json');
    await assert.rejects(MemoryStore.withSnapshot(file), /is not a Weft store snapshot \(not JSON/);
  });

  test('a folder that cannot be made is an error at open', async () => {
    const blocker = path.join(root, `plain-file-${count++}`);
    await writeFile(blocker, 'x');
    await assert.rejects(MemoryStore.withSnapshot(path.join(blocker, 'state.json')), /cannot create the folder/);
  });
});
