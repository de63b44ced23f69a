// Shared data as the two stores keep it: InMemorySharedData (one thread) and SharedDataTable
// (host/workers/shared-data-table.ts, the table every worker thread maps). The same cases run on
// both so they cannot drift apart: values, cas, per-vm_id byte quotas, values that grow and
// shrink. Then the table alone: a full table, and two busy workers incrementing one key with
// compare-and-swap. And the channel the shared queues still take to the main thread
// (host/workers/shared-state-channel.ts): under a stream of calls from two workers, every call
// gets its own answer.

import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import type { SharedData } from '../host/abi/host-api.js';
import { InMemorySharedData, InMemorySharedQueues } from '../host/chain/shared-state.js';
import { createSharedDataBuffer, SharedDataTable } from '../host/workers/shared-data-table.js';
import { serveSharedState } from '../host/workers/shared-state-channel.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

const stores: Array<[string, () => SharedData]> = [
  ['InMemorySharedData', () => new InMemorySharedData()],
  ['SharedDataTable', () => new SharedDataTable(createSharedDataBuffer(1 << 20))],
];

for (const [name, make] of stores) {
  describe(`shared data in ${name}`, () => {
    it('keeps values per vm_id and key, with a cas per key that moves on every write', () => {
      const data = make();
      assert.equal(data.get('a', 'k'), undefined);
      assert.equal(data.set('a', 'k', bytes('one'), 0, Infinity), WasmResult.Ok);
      assert.equal(data.set('b', 'k', bytes('other vm'), 0, Infinity), WasmResult.Ok);
      assert.equal(data.set('a', 'ключ ✓', bytes('ünï'), 0, Infinity), WasmResult.Ok);
      assert.equal(data.set('a', 'empty', new Uint8Array(0), 0, Infinity), WasmResult.Ok);
      assert.deepEqual([text(data.get('a', 'k')?.value), data.get('a', 'k')?.cas], ['one', 1]);
      assert.equal(text(data.get('b', 'k')?.value), 'other vm');
      assert.equal(text(data.get('a', 'ключ ✓')?.value), 'ünï');
      assert.equal(data.get('a', 'empty')?.value.length, 0);
      const cas = data.get('a', 'k')!.cas;
      assert.equal(data.set('a', 'k', bytes('two'), cas, Infinity), WasmResult.Ok);
      assert.equal(data.set('a', 'k', bytes('three'), cas, Infinity), WasmResult.CasMismatch);
      assert.equal(data.set('a', 'missing', bytes('x'), 7, Infinity), WasmResult.CasMismatch);
      assert.deepEqual([text(data.get('a', 'k')?.value), data.get('a', 'k')?.cas], ['two', 2]);
    });

    it('counts a namespace\'s UTF-8 key and value bytes against its quota, and refuses past it', () => {
      const data = make();
      assert.equal(data.bytesUsed('q'), 0);
      assert.equal(data.set('q', 'é', bytes('12345'), 0, 10), WasmResult.Ok); // 2 + 5
      assert.equal(data.bytesUsed('q'), 7);
      assert.equal(data.set('q', 'k2', bytes('12'), 0, 11), WasmResult.Ok); // + 2 + 2: exactly the quota
      assert.equal(data.bytesUsed('q'), 11);
      assert.equal(data.set('q', 'k3', bytes('x'), 0, 12), WasmResult.InternalFailure);
      assert.equal(data.get('q', 'k3'), undefined, 'nothing written');
      assert.equal(data.set('q', 'é', bytes('1'), 0, 12), WasmResult.Ok); // the value shrinks: 11 - 4
      assert.equal(data.bytesUsed('q'), 7);
      assert.equal(data.bytesUsed('other'), 0);
    });

    it('keeps the latest of many values that grow and shrink', () => {
      const data = make();
      for (let i = 0; i < 2000; i++) {
        assert.equal(data.set('g', `key-${i % 7}`, bytes('x'.repeat((i * 37) % 3000)), 0, Infinity), WasmResult.Ok);
      }
      for (let k = 0; k < 7; k++) {
        const last = 1999 - ((1999 - k) % 7);
        assert.equal(data.get('g', `key-${k}`)?.value.length, (last * 37) % 3000);
      }
    });
  });
}

describe('the shared-data table', () => {
  it('reuses the blocks of values it replaced: many updates of a few keys fit in a small table', () => {
    const table = new SharedDataTable(createSharedDataBuffer(256 * 1024));
    for (let i = 0; i < 20_000; i++) assert.equal(table.set('v', `k${i % 3}`, new Uint8Array(100 + (i % 900)), 0, Infinity), WasmResult.Ok, `write ${i}`);
  });

  it('refuses a write that does not fit, says so once, and takes writes that fit afterwards', () => {
    const full: number[] = [];
    const table = new SharedDataTable(createSharedDataBuffer(128 * 1024), (size) => full.push(size));
    assert.equal(table.set('v', 'big', new Uint8Array(200_000), 0, Infinity), WasmResult.InternalFailure);
    assert.equal(table.set('v', 'big', new Uint8Array(300_000), 0, Infinity), WasmResult.InternalFailure);
    assert.deepEqual(full, [128 * 1024]);
    assert.equal(table.get('v', 'big'), undefined);
    assert.equal(table.set('v', 'small', bytes('fits'), 0, Infinity), WasmResult.Ok);
    assert.equal(text(table.get('v', 'small')?.value), 'fits');
  });
});

const callsPerWorker = 20_000;

async function runCallers(workerData: (index: number) => Record<string, unknown>, transfer: (index: number) => Array<import('node:worker_threads').TransferListItem>) {
  const workers = [0, 1].map((i) => new Worker(new URL('./helpers/shared-state-caller.js', import.meta.url), { workerData: workerData(i), transferList: transfer(i) }));
  try {
    return await Promise.all(
      workers.map((worker) => new Promise<{ failed: number; lostRaces: number }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      })),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

describe('shared state across worker threads', () => {
  it('the table: two busy workers\' CAS increments of one key all count, while the main thread reads', async () => {
    const buffer = createSharedDataBuffer(1 << 20);
    const table = new SharedDataTable(buffer);
    // The key exists before the race: a set with cas 0 is unconditional (the ABI's "no CAS"), so
    // two workers that both found it missing would both write 1, and one increment would be lost.
    assert.equal(table.set('test', 'counter', Buffer.alloc(4), 0, 1 << 20), WasmResult.Ok);
    let reads = 0;
    const reading = setInterval(() => {
      if (table.get('test', 'counter') !== undefined) reads++;
    }, 1);
    try {
      const reports = await runCallers((i) => ({ mode: 'table', table: buffer, calls: callsPerWorker, name: `w${i}` }), () => []);
      assert.deepEqual(reports.map((report) => report.failed), [0, 0]);
    } finally {
      clearInterval(reading);
    }
    assert.equal(Buffer.from(table.get('test', 'counter')!.value).readUInt32LE(0), 2 * callsPerWorker);
    assert.ok(reads > 0);
  });

  it('the queues\' channel: every call of two busy workers gets its own answer', async () => {
    const queues = new InMemorySharedQueues();
    const channels = [new MessageChannel(), new MessageChannel()];
    const signals = channels.map((channel) => {
      const signal = new SharedArrayBuffer(4);
      serveSharedState(channel.port1, signal, queues, () => {});
      return signal;
    });
    try {
      const reports = await runCallers(
        (i) => ({ mode: 'queues', link: { port: channels[i]!.port2, signal: signals[i] }, calls: callsPerWorker / 4, name: `w${i}` }),
        (i) => [channels[i]!.port2],
      );
      assert.deepEqual(reports.map((report) => report.failed), [0, 0], 'calls answered with another call\'s answer, or not at all');
    } finally {
      for (const channel of channels) channel.port1.close();
    }
  });
});
