// The contract every Store implementation keeps (host/store/store.ts), as a suite any store can
// run: store.test.ts runs it on the file-snapshot memory store; the etcd store (issue 8) runs the
// same suite against a real etcd, with a fresh key prefix per test.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store, StoreEvent } from '../host/store/store.js';

export interface StoreUnderTest {
  store: Store;
  /** Closes `store` and opens the same state again, as a restart would. */
  reopen(): Promise<Store>;
  /** Removes whatever the store left behind (files, keys). */
  cleanup(): Promise<void>;
}

const text = (value: string) => new TextEncoder().encode(value);
const read = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

/** Events from a watch, with a way to wait for the next ones. */
class EventLog {
  readonly events: StoreEvent[] = [];
  readonly batches: number[] = [];
  private waiter: (() => void) | undefined;

  readonly listener = (events: readonly StoreEvent[]) => {
    this.events.push(...events);
    this.batches.push(events.length);
    this.waiter?.();
  };

  async waitFor(count: number, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      if (Date.now() > deadline) assert.fail(`expected ${count} events, got ${this.events.length}: ${JSON.stringify(this.events.map(brief))}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
  }
}

function brief(event: StoreEvent) {
  return { type: event.type, key: event.key, value: read(event.value), revision: event.revision };
}

export function storeSuite(kind: string, open: () => Promise<StoreUnderTest>): void {
  /** Runs `body` on a fresh store and always cleans up. */
  const withStore = async (body: (subject: StoreUnderTest) => Promise<void>) => {
    const subject = await open();
    try {
      await body(subject);
    } finally {
      await subject.store.close().catch(() => undefined);
      await subject.cleanup();
    }
  };

  describe(`store contract: ${kind}`, () => {
    test('a missing key is undefined; a put key reads back with its revision', () =>
      withStore(async ({ store }) => {
        assert.equal(await store.get('a/b'), undefined);
        const put = await store.put('a/b', text('one'));
        assert.ok(put.ok);
        assert.ok(put.revision > 0);
        const entry = await store.get('a/b');
        assert.equal(read(entry?.value), 'one');
        assert.equal(entry?.revision, put.revision);
        assert.equal(entry?.key, 'a/b');
      }));

    test('every commit advances the revision; the writes of one commit share it', () =>
      withStore(async ({ store }) => {
        const first = await store.put('k/1', text('x'));
        const second = await store.commit([], [
          { type: 'put', key: 'k/2', value: text('y') },
          { type: 'put', key: 'k/3', value: text('z') },
        ]);
        assert.ok(first.ok && second.ok);
        assert.ok(second.revision > first.revision);
        assert.equal((await store.get('k/2'))?.revision, second.revision);
        assert.equal((await store.get('k/3'))?.revision, second.revision);
        assert.equal((await store.get('k/1'))?.revision, first.revision, 'an untouched key keeps its revision');
      }));

    test('list returns the keys under a prefix, sorted, and nothing beside it', () =>
      withStore(async ({ store }) => {
        for (const key of ['f/b/2', 'f/a', 'f/b/1', 'fa/x', 'g/1']) assert.ok((await store.put(key, text(key))).ok);
        assert.deepEqual((await store.list('f/')).map((e) => e.key), ['f/a', 'f/b/1', 'f/b/2']);
        assert.deepEqual((await store.list('f/b/')).map((e) => [e.key, read(e.value)]), [['f/b/1', 'f/b/1'], ['f/b/2', 'f/b/2']]);
        assert.deepEqual(await store.list('nothing/'), []);
      }));

    test('put with ifRevision: applies at the expected revision, conflicts otherwise and changes nothing', () =>
      withStore(async ({ store }) => {
        const absent = await store.put('c/key', text('v1'), { ifRevision: 0 });
        assert.ok(absent.ok, 'revision 0 = create when absent');
        const again = await store.put('c/key', text('v1b'), { ifRevision: 0 });
        assert.deepEqual(again, { ok: false, conflicts: ['c/key'] });
        const update = await store.put('c/key', text('v2'), { ifRevision: absent.revision });
        assert.ok(update.ok);
        const stale = await store.put('c/key', text('v3'), { ifRevision: absent.revision });
        assert.deepEqual(stale, { ok: false, conflicts: ['c/key'] });
        const entry = await store.get('c/key');
        assert.equal(read(entry?.value), 'v2');
        assert.equal(entry?.revision, update.revision);
      }));

    test('delete removes a key; with a stale revision it conflicts', () =>
      withStore(async ({ store }) => {
        const put = await store.put('d/key', text('v'));
        assert.ok(put.ok);
        assert.deepEqual(await store.delete('d/key', { ifRevision: put.revision + 1000 }), { ok: false, conflicts: ['d/key'] });
        assert.ok(await store.get('d/key'));
        const removed = await store.delete('d/key', { ifRevision: put.revision });
        assert.ok(removed.ok);
        assert.equal(await store.get('d/key'), undefined);
        assert.deepEqual(await store.list('d/'), []);
        assert.ok((await store.delete('d/never')).ok, 'deleting an absent key is fine');
      }));

    test('a commit whose condition fails applies none of its operations', () =>
      withStore(async ({ store }) => {
        const base = await store.put('t/guard', text('g'));
        assert.ok(base.ok);
        const result = await store.commit(
          [{ key: 't/guard', revision: base.revision }, { key: 't/absent', revision: 5 }],
          [
            { type: 'put', key: 't/new', value: text('n') },
            { type: 'delete', key: 't/guard' },
          ],
        );
        assert.deepEqual(result, { ok: false, conflicts: ['t/absent'] });
        assert.equal(await store.get('t/new'), undefined);
        assert.equal(read((await store.get('t/guard'))?.value), 'g');
      }));

    test('of two racing compare-and-sets on one revision exactly one wins', () =>
      withStore(async ({ store }) => {
        const base = await store.put('race/key', text('0'));
        assert.ok(base.ok);
        const results = await Promise.all(
          ['a', 'b', 'c', 'd'].map((who) => store.put('race/key', text(who), { ifRevision: base.revision })),
        );
        const winners = results.filter((result) => result.ok);
        assert.equal(winners.length, 1, JSON.stringify(results));
        const winner = ['a', 'b', 'c', 'd'][results.findIndex((result) => result.ok)];
        assert.equal(read((await store.get('race/key'))?.value), winner);
      }));

    test('values are bytes: every byte value and a 1 MiB value round-trip', () =>
      withStore(async ({ store }) => {
        const bytes = new Uint8Array(256).map((_, i) => i);
        const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 0xff);
        assert.ok((await store.put('bin/all', bytes)).ok);
        assert.ok((await store.put('bin/big', big)).ok);
        assert.deepEqual((await store.get('bin/all'))?.value, bytes);
        assert.deepEqual((await store.get('bin/big'))?.value, big);
      }));

    test('a value changed by the caller after put does not change the store', () =>
      withStore(async ({ store }) => {
        const value = text('original');
        const pending = store.put('copy/key', value);
        value.fill(0x21);
        assert.ok((await pending).ok);
        assert.equal(read((await store.get('copy/key'))?.value), 'original');
      }));

    test('watch reports later changes under its prefix, in order, one batch per commit', () =>
      withStore(async ({ store }) => {
        assert.ok((await store.put('w/before', text('old'))).ok);
        const log = new EventLog();
        const watch = store.watch('w/', log.listener);
        const one = await store.put('w/a', text('1'));
        await store.put('other/x', text('ignored'));
        const two = await store.commit([], [
          { type: 'put', key: 'w/b', value: text('2') },
          { type: 'delete', key: 'w/before' },
          { type: 'put', key: 'other/y', value: text('ignored') },
        ]);
        const three = await store.delete('w/a');
        assert.ok(one.ok && two.ok && three.ok);
        await log.waitFor(4);
        assert.deepEqual(log.events.map(brief), [
          { type: 'put', key: 'w/a', value: '1', revision: one.revision },
          { type: 'put', key: 'w/b', value: '2', revision: two.revision },
          { type: 'delete', key: 'w/before', value: undefined, revision: two.revision },
          { type: 'delete', key: 'w/a', value: undefined, revision: three.revision },
        ]);
        assert.deepEqual(log.batches, [1, 2, 1]);
        watch.close();
        await store.put('w/after', text('late'));
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(log.events.length, 4, 'no events after close');
      }));

    test('reopening keeps keys and revisions, and revisions keep counting up', () =>
      withStore(async (subject) => {
        const put = await subject.store.put('p/key', text('kept'));
        const bytes = new Uint8Array([0, 255, 1, 254]);
        const binary = await subject.store.put('p/bin', bytes);
        assert.ok(put.ok && binary.ok);
        subject.store = await subject.reopen();
        const entry = await subject.store.get('p/key');
        assert.equal(read(entry?.value), 'kept');
        assert.equal(entry?.revision, put.revision);
        assert.deepEqual((await subject.store.get('p/bin'))?.value, bytes);
        const next = await subject.store.put('p/next', text('n'));
        assert.ok(next.ok);
        assert.ok(next.revision > binary.revision, `revision ${next.revision} after restart must pass ${binary.revision}`);
      }));

    test('a closed store refuses calls', () =>
      withStore(async ({ store }) => {
        await store.close();
        await assert.rejects(store.put('x/y', text('z')), /closed/);
        await assert.rejects(store.get('x/y'), /closed/);
      }));
  });
}
