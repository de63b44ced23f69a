// A worker thread for test/shared-state.test.ts, calling the shared state as a filter's host calls
// do, as fast as it can:
//   table   `calls` compare-and-swap increments of one key in the SharedDataTable it maps
//   queues  `calls` enqueue-then-dequeue rounds on a queue of its own, through the blocking
//           channel to the main thread; every dequeue must answer the item just enqueued
// It reports the calls that failed and, for the table, the CAS attempts that lost a race.

import { parentPort, workerData } from 'node:worker_threads';
import { WasmResult } from '../../host/abi/enums.js';
import { SharedDataTable } from '../../host/workers/shared-data-table.js';
import { remoteSharedQueues, type SharedStateLink } from '../../host/workers/shared-state-channel.js';

const { mode, link, table, calls, name } = workerData as { mode: 'table' | 'queues'; link: SharedStateLink; table: SharedArrayBuffer; calls: number; name: string };
let failed = 0;
let lostRaces = 0;
if (mode === 'table') {
  const data = new SharedDataTable(table);
  for (let done = 0; done < calls; ) {
    const entry = data.get('test', 'counter');
    const value = entry === undefined ? 0 : Buffer.from(entry.value).readUInt32LE(0);
    const next = Buffer.alloc(4);
    next.writeUInt32LE(value + 1);
    const result = data.set('test', 'counter', next, entry?.cas ?? 0, 1 << 20);
    if (result === WasmResult.CasMismatch) lostRaces++;
    else {
      if (result !== WasmResult.Ok) failed++;
      done++;
    }
  }
} else {
  const queues = remoteSharedQueues(link);
  const queue = queues.register(name, 'q', () => {}, 1000);
  for (let i = 0; i < calls; i++) {
    try {
      const item = Buffer.from(`${name}-${i}`);
      const result = queues.enqueue(queue, item);
      const back = queues.dequeue(queue);
      if (result !== WasmResult.Ok || back == null || !item.equals(back)) failed++;
    } catch {
      failed++;
    }
  }
}
parentPort!.postMessage({ failed, lostRaces });
