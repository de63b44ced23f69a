// The blocking channel worker threads reach the main thread's shared data through
// (host/workers/shared-state-channel.ts): under a stream of calls from two workers at once,
// every call gets its own answer and compare-and-swap stays atomic across workers.

import { strict as assert } from 'node:assert';
import { MessageChannel, Worker } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { InMemorySharedData, InMemorySharedQueues } from '../host/chain/shared-state.js';
import { serveSharedState } from '../host/workers/shared-state-channel.js';

const callsPerWorker = 20_000;

describe('the shared-state channel between worker threads and the main thread', () => {
  it('answers every call of two busy workers, and their CAS increments all count', async () => {
    const data = new InMemorySharedData();
    const queues = new InMemorySharedQueues();
    const channels = [new MessageChannel(), new MessageChannel()];
    const workers = channels.map((channel) => {
      const signal = new SharedArrayBuffer(4);
      serveSharedState(channel.port1, signal, data, queues, () => {});
      return new Worker(new URL('./helpers/shared-state-caller.js', import.meta.url), {
        workerData: { link: { port: channel.port2, signal }, calls: callsPerWorker },
        transferList: [channel.port2],
      });
    });
    try {
      const reports = await Promise.all(
        workers.map((worker) => new Promise<{ failed: number; lostRaces: number }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        })),
      );
      assert.deepEqual(reports.map((report) => report.failed), [0, 0], 'calls that were woken without their answer');
      const counter = data.get('test', 'counter');
      assert.ok(counter !== undefined);
      assert.equal(Buffer.from(counter.value).readUInt32LE(0), 2 * callsPerWorker);
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
      for (const channel of channels) channel.port1.close();
    }
  });
});
